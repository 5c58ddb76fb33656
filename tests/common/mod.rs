//! Test harness: real memcached processes (Debian's package) started on a
//! free loopback port or a UNIX socket in a temporary directory, stopped
//! when dropped.
#![allow(dead_code)]

pub mod pki;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Where a test memcached listens.
#[derive(Clone, Debug)]
pub enum Listen {
    Tcp(u16),
    Unix(PathBuf),
}

/// A memcached process owned by a test.
pub struct Memcached {
    child: Option<Child>,
    pub listen: Listen,
    extra: Vec<String>,
    dir: PathBuf,
    /// For servers that do not answer plaintext (TLS, -Y): the client
    /// options the readiness check connects with.
    probe: Option<pymemcache::ClientOptions>,
}

fn memcached_bin() -> String {
    std::env::var("MEMCACHED_BIN").unwrap_or_else(|_| "memcached".into())
}

/// A port nothing listens on now, never handed out before in this process
/// (tests start servers in parallel threads).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = l.local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Memcached {
    /// A server on a free TCP port on 127.0.0.1.
    pub fn tcp(extra: &[&str]) -> Memcached {
        Self::start(Listen::Tcp(free_port()), extra)
    }

    /// A server on a UNIX socket in a fresh temporary directory.
    pub fn unix(extra: &[&str]) -> Memcached {
        let dir = temp_dir();
        Self::start(Listen::Unix(dir.join("memcached.sock")), extra)
    }

    /// A server on a free TCP port on 127.0.0.1 that answers only clients
    /// with `probe`'s options (TLS, authentication): its readiness is
    /// checked with them.
    pub fn tcp_with(extra: &[String], probe: pymemcache::ClientOptions) -> Memcached {
        let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
        Self::start_probed(Listen::Tcp(free_port()), &extra, Some(probe))
    }

    fn start(listen: Listen, extra: &[&str]) -> Memcached {
        Self::start_probed(listen, extra, None)
    }

    fn start_probed(
        listen: Listen,
        extra: &[&str],
        probe: Option<pymemcache::ClientOptions>,
    ) -> Memcached {
        let dir = match &listen {
            Listen::Unix(p) => p.parent().unwrap().to_path_buf(),
            Listen::Tcp(_) => temp_dir(),
        };
        let mut m = Memcached {
            child: None,
            listen,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            dir,
            probe,
        };
        m.launch(true);
        m
    }

    /// The address a client is given: "127.0.0.1:port" or the socket path.
    pub fn addr(&self) -> String {
        match &self.listen {
            Listen::Tcp(p) => format!("127.0.0.1:{p}"),
            Listen::Unix(p) => p.display().to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Start again (after `kill`), on the same address.
    pub fn restart(&mut self) {
        self.launch(false);
    }

    /// Start the process and wait until it, and no other server, answers
    /// on the address. A TCP port taken meanwhile by someone else is
    /// replaced by a new one when `may_move`, else tried again.
    fn launch(&mut self, may_move: bool) {
        assert!(self.child.is_none(), "already running");
        for _ in 0..20 {
            self.spawn();
            if self.wait_ready() {
                return;
            }
            self.kill();
            match &mut self.listen {
                Listen::Tcp(p) if may_move => *p = free_port(),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        panic!("memcached could not be started on {}", self.addr());
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(memcached_bin());
        match &self.listen {
            Listen::Tcp(p) => cmd.args(["-l", "127.0.0.1", "-p", &p.to_string(), "-U", "0"]),
            Listen::Unix(p) => {
                let _ = std::fs::remove_file(p);
                cmd.args(["-s", p.to_str().unwrap(), "-a", "0700"])
            }
        };
        if is_root() {
            cmd.args(["-u", "root"]);
        }
        cmd.args(["-t", "2", "-c", "256"]);
        cmd.args(&self.extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .expect("start memcached (apt-get install memcached)");
        self.child = Some(child);
    }

    /// True once the server answering on the address reports our pid;
    /// false if our process exited (its port was taken) or another answers.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = self.pid();
        loop {
            if let Some(answer) = self.answering_pid() {
                return answer == pid;
            }
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                return false;
            }
            assert!(Instant::now() < deadline, "memcached did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The pid the server on the address reports, if one answers.
    fn answering_pid(&self) -> Option<u32> {
        if let Some(opts) = &self.probe {
            let opts = pymemcache::ClientOptions {
                timeout: Some(Duration::from_secs(2)),
                connect_timeout: Some(Duration::from_secs(2)),
                reconnect_backoff: None,
                ..opts.clone()
            };
            let c = pymemcache::Client::new(&self.addr(), &opts).ok()?;
            let stats = pymemcache::Memcache::stats(&c, &[]).ok()?;
            return stats
                .iter()
                .flat_map(|s| &s.stats)
                .find(|s| s.name == "pid")
                .and_then(|s| s.raw.parse().ok());
        }
        fn ask(mut s: impl Read + Write) -> Option<u32> {
            s.write_all(b"stats\r\n").ok()?;
            let mut reply = Vec::new();
            let mut buf = [0u8; 4096];
            while !reply.ends_with(b"END\r\n") {
                let n = s.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                reply.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&reply);
            text.lines()
                .find_map(|l| l.strip_prefix("STAT pid "))
                .and_then(|p| p.trim().parse().ok())
        }
        let timeout = Some(Duration::from_secs(2));
        match &self.listen {
            Listen::Tcp(p) => {
                let s = TcpStream::connect(("127.0.0.1", *p)).ok()?;
                s.set_read_timeout(timeout).ok()?;
                ask(s)
            }
            Listen::Unix(p) => {
                let s = UnixStream::connect(p).ok()?;
                s.set_read_timeout(timeout).ok()?;
                ask(s)
            }
        }
    }

    /// Kill the process (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait for the process to exit by itself (after `shutdown`).
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if c.try_wait().unwrap().is_some() {
                    self.child = None;
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Freeze the process (SIGSTOP): it accepts nothing and answers nothing.
    /// Returns once the kernel reports it stopped (a signal is delivered
    /// when the kernel gets to it; until then a busy machine may let the
    /// server answer one more request).
    pub fn pause(&self) {
        signal(self.pid(), libc::SIGSTOP);
        self.wait_state(true);
    }

    /// Thaw a paused process (SIGCONT), and wait until it runs again.
    pub fn resume(&self) {
        signal(self.pid(), libc::SIGCONT);
        self.wait_state(false);
    }

    /// Wait (up to 10 s) until the process is stopped, or no longer stopped.
    fn wait_state(&self, stopped: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_stopped(self.pid()) != stopped {
            assert!(Instant::now() < deadline, "memcached stopped: {stopped}?");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// True while the process is stopped by a signal: state T in
/// /proc/<pid>/stat (the field after the parenthesised command name).
fn process_stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .is_some_and(|state| state == 'T')
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: sending a signal to a child process we own.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

impl Drop for Memcached {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_ref() {
            signal(c.id(), libc::SIGCONT);
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir() -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("pmc-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A scripted peer (for a deliberately misbehaving server): listens on a
/// free loopback port and answers every line it reads, on every
/// connection, with `reply`. Returns its address.
pub fn scripted_peer(reply: &'static [u8]) -> String {
    line_peer(move |_| reply)
}

/// A scripted peer answering every command line it reads, on every
/// connection, with `reply(line)`. Returns its address.
pub fn line_peer(reply: impl Fn(&str) -> &'static [u8] + Copy + Send + 'static) -> String {
    use std::io::{BufRead, BufReader};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                for line in BufReader::new(s).lines() {
                    let Ok(line) = line else { return };
                    if w.write_all(reply(&line)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
