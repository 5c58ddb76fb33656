//! One server's connection of the async client: a non-blocking socket, a
//! write buffer of requests not yet sent, a read buffer, and the FIFO of
//! operations whose replies are due, matched in order.

use super::parse::{self, Parsed, Reply};
use super::{Outcome, WANT_READ, WANT_WRITE};
use crate::addr::ServerAddr;
use crate::error::{Error, ServerTag};
use crate::metrics::{CallStart, ServerMetrics, ServerSnapshot};
use socket2::{Domain, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::ToSocketAddrs;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes the read buffer keeps free for one `recv`.
const READ_CHUNK: usize = 64 * 1024;

/// What reply an operation waits for.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// `get`: the key as sent (prefix included), to check the reply's.
    Get(Vec<u8>),
    /// A storage command.
    Store,
    /// `delete`.
    Delete,
    /// The meta commands of a batch sent to this server, up to `MN`.
    Batch {
        /// The batch's id in the client.
        id: u64,
        /// The positions in the batch of the commands sent here.
        sent: Vec<usize>,
    },
}

/// An operation in flight on a connection.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The caller's token.
    pub token: u64,
    /// The reply it waits for.
    pub expect: Expect,
    /// When it times out.
    pub deadline: Option<Instant>,
    /// False for a placeholder: the operation timed out or was cancelled;
    /// its reply is read and dropped, keeping later replies matched.
    pub live: bool,
    /// Its deadline passed (as a placeholder, it marks the server as hung).
    pub expired: bool,
    /// When it was submitted, on the metrics' clock (default with metrics
    /// off).
    pub started: CallStart,
    /// The index of its server in the client (for the metrics).
    pub server: usize,
}

/// What a reply (or a failure) settled for one operation.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A single operation's outcome.
    Op(Outcome),
    /// A batch's replies on this server, up to and including `MN`.
    BatchReplies(Vec<u8>),
}

/// One operation settled by `Conn`: the client turns it into a completion.
#[derive(Debug)]
pub(crate) struct Finished {
    /// The operation.
    pub slot: Slot,
    /// Its outcome or error.
    pub result: Result<Answer, Error>,
}

enum State {
    /// No socket: the next operation connects.
    Closed,
    /// A non-blocking connect in progress to `addrs[at]`.
    Connecting {
        sock: Socket,
        deadline: Option<Instant>,
        addrs: Vec<SockAddr>,
        at: usize,
    },
    /// Connected.
    Open(Socket),
}

/// How connections are made.
#[derive(Debug, Clone)]
pub(crate) struct ConnOptions {
    pub connect_timeout: Option<Duration>,
    pub no_delay: bool,
    pub keepalive: bool,
    pub max_value_len: usize,
}

/// One server's connection.
pub(crate) struct Conn {
    /// The server's address as given, for error messages.
    pub name: Arc<str>,
    addr: ServerAddr,
    opts: ConnOptions,
    state: State,
    /// Requests to write, from `wpos` on.
    pub wbuf: Vec<u8>,
    wpos: usize,
    /// Bytes read, unparsed from `rstart` to `rend`.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Operations whose replies are due, oldest first.
    pub slots: VecDeque<Slot>,
    /// The server's metrics (`None`: metrics off).
    pub metrics: Option<Arc<ServerMetrics>>,
    /// Whether the connection had operations in flight since the last
    /// metrics reset (the peak of connections in use).
    busy_seen: AtomicBool,
}

impl Conn {
    /// A closed connection to `addr`.
    pub fn new(addr: ServerAddr, opts: ConnOptions, metrics: Option<Arc<ServerMetrics>>) -> Conn {
        Conn {
            name: addr.to_string().into(),
            addr,
            opts,
            state: State::Closed,
            wbuf: Vec::new(),
            wpos: 0,
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            slots: VecDeque::new(),
            metrics,
            busy_seen: AtomicBool::new(false),
        }
    }

    /// The server's metrics now, with the connection in use (1) while it
    /// has operations in flight; `None` with metrics off.
    pub fn metrics_snapshot(&self) -> Option<ServerSnapshot> {
        let m = self.metrics.as_ref()?;
        let mut s = m.snapshot(&self.name);
        s.in_use = u64::from(!self.slots.is_empty());
        s.peak_in_use = u64::from(self.busy_seen.load(Relaxed)).max(s.in_use);
        Some(s)
    }

    /// Zero the server's metrics; the peak restarts from now.
    pub fn metrics_reset(&self) {
        if let Some(m) = &self.metrics {
            m.reset();
            self.busy_seen.store(!self.slots.is_empty(), Relaxed);
        }
    }

    /// Count a connection opened.
    fn opened(&self) {
        if let Some(m) = &self.metrics {
            m.record_connect();
        }
    }

    fn tag(&self, e: Error) -> Error {
        e.at(&self.name)
    }

    /// The socket's descriptor, if there is one.
    pub fn fd(&self) -> Option<RawFd> {
        match &self.state {
            State::Closed => None,
            State::Connecting { sock, .. } | State::Open(sock) => Some(sock.as_raw_fd()),
        }
    }

    /// What to wait for on `fd()`.
    pub fn interest(&self) -> i32 {
        match &self.state {
            State::Closed => 0,
            State::Connecting { .. } => WANT_WRITE,
            // Always readable interest: a server that closes an idle
            // connection is noticed at once.
            State::Open(_) if self.wpos < self.wbuf.len() => WANT_READ | WANT_WRITE,
            State::Open(_) => WANT_READ,
        }
    }

    /// The earliest deadline of a live operation or of the connect.
    pub fn next_deadline(&self) -> Option<Instant> {
        let connect = match &self.state {
            State::Connecting { deadline, .. } => *deadline,
            _ => None,
        };
        self.slots
            .iter()
            .filter(|s| s.live)
            .filter_map(|s| s.deadline)
            .chain(connect)
            .min()
    }

    /// Queue an operation whose request the caller has just appended to
    /// `wbuf`; connect if closed (a connect that fails at once fails it).
    pub fn push(&mut self, slot: Slot, now: Instant, out: &mut Vec<Finished>) {
        self.slots.push_back(slot);
        if self.metrics.is_some() {
            self.busy_seen.store(true, Relaxed);
        }
        if let State::Closed = self.state {
            if let Err(e) = self.start_connect(now) {
                let e = self.tag(Error::from_io(e, "connect"));
                self.fail_all(e, out);
            }
        }
    }

    fn resolve(&self) -> io::Result<Vec<SockAddr>> {
        match &self.addr {
            ServerAddr::Unix(path) => Ok(vec![SockAddr::unix(path)?]),
            ServerAddr::Tcp { host, port } => {
                let addrs: Vec<SockAddr> = (host.as_str(), *port)
                    .to_socket_addrs()?
                    .map(SockAddr::from)
                    .collect();
                if addrs.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "host has no address",
                    ));
                }
                Ok(addrs)
            }
        }
    }

    fn start_connect(&mut self, now: Instant) -> io::Result<()> {
        let addrs = self.resolve()?;
        let deadline = self.opts.connect_timeout.map(|t| now + t);
        self.connect_to(addrs, 0, deadline)
    }

    /// Start connecting to `addrs[at]`, or the next address that does not
    /// fail at once.
    fn connect_to(
        &mut self,
        addrs: Vec<SockAddr>,
        mut at: usize,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        loop {
            let sa = &addrs[at];
            let res = open_socket(sa, &self.opts).and_then(|sock| match sock.connect(sa) {
                Ok(()) => Ok((sock, true)),
                Err(e)
                    if e.raw_os_error() == Some(libc::EINPROGRESS)
                        || (e.kind() == io::ErrorKind::WouldBlock && !sa.is_unix()) =>
                {
                    Ok((sock, false))
                }
                Err(e) => Err(e),
            });
            match res {
                Ok((sock, true)) => {
                    self.state = State::Open(sock);
                    self.opened();
                    return Ok(());
                }
                Ok((sock, false)) => {
                    self.state = State::Connecting {
                        sock,
                        deadline,
                        addrs,
                        at,
                    };
                    return Ok(());
                }
                Err(e) if at + 1 < addrs.len() => {
                    let _ = e;
                    at += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Check a connect in progress: `Ok(true)` once connected.
    fn finish_connect(&mut self) -> io::Result<bool> {
        let State::Connecting { sock, .. } = &self.state else {
            return Ok(matches!(self.state, State::Open(_)));
        };
        let outcome = match sock.take_error()? {
            Some(e) => Err(e),
            None => match sock.peer_addr() {
                Ok(peer) => match sock.local_addr() {
                    Ok(local) if local == peer => Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        "connected to itself: nothing listens there (refused)",
                    )),
                    _ => Ok(true),
                },
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(false) => Ok(false),
            Ok(true) => {
                let State::Connecting { sock, .. } =
                    std::mem::replace(&mut self.state, State::Closed)
                else {
                    unreachable!("checked above")
                };
                self.state = State::Open(sock);
                self.opened();
                Ok(true)
            }
            Err(e) => {
                let State::Connecting {
                    addrs,
                    at,
                    deadline,
                    ..
                } = std::mem::replace(&mut self.state, State::Closed)
                else {
                    unreachable!("checked above")
                };
                if at + 1 < addrs.len() {
                    self.connect_to(addrs, at + 1, deadline)?;
                    return self.finish_connect();
                }
                Err(e)
            }
        }
    }

    /// Make whatever progress the socket allows without blocking: finish
    /// the connect, write, read (if `readable`) and settle the operations
    /// whose replies are complete.
    pub fn progress(&mut self, readable: bool, out: &mut Vec<Finished>) {
        match self.finish_connect() {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let e = self.tag(Error::from_io(e, "connect"));
                return self.fail_all(e, out);
            }
        }
        if let Err(e) = self.flush() {
            let e = self.tag(Error::from_io(e, "write"));
            return self.fail_all(e, out);
        }
        if readable {
            self.read(out);
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let State::Open(sock) = &self.state else {
            return Ok(());
        };
        while self.wpos < self.wbuf.len() {
            // MSG_NOSIGNAL: a server gone away must not raise SIGPIPE in
            // the host program (as the blocking connection's sends).
            match sock.send_with_flags(&self.wbuf[self.wpos..], crate::conn::SEND_FLAGS) {
                Ok(n) => {
                    self.wpos += n;
                    if let Some(m) = &self.metrics {
                        m.record_sent(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    fn read(&mut self, out: &mut Vec<Finished>) {
        loop {
            let State::Open(sock) = &self.state else {
                return;
            };
            if self.rbuf.len() - self.rend < READ_CHUNK {
                if self.rstart > 0 {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                }
                if self.rbuf.len() - self.rend < READ_CHUNK {
                    let want = (self.rend + READ_CHUNK).max(self.rbuf.len() * 2);
                    self.rbuf.resize(want, 0);
                }
            }
            let space = self.rbuf.len() - self.rend;
            match (&*sock).read(&mut self.rbuf[self.rend..]) {
                Ok(0) => {
                    let e = self.tag(Error::UnexpectedClose {
                        server: ServerTag::default(),
                    });
                    return self.fail_all(e, out);
                }
                Ok(n) => {
                    if let Some(m) = &self.metrics {
                        m.record_received(n);
                    }
                    self.rend += n;
                    if !self.parse(out) {
                        return;
                    }
                    if n < space {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = self.tag(Error::from_io(e, "read"));
                    return self.fail_all(e, out);
                }
            }
        }
    }

    /// Settle every operation whose reply is complete; false when the
    /// stream broke (the connection is then closed).
    fn parse(&mut self, out: &mut Vec<Finished>) -> bool {
        let max = self.opts.max_value_len;
        while let Some(slot) = self.slots.front() {
            let b = &self.rbuf[self.rstart..self.rend];
            let parsed = match &slot.expect {
                Expect::Get(key) => parse::get(b, key, max),
                Expect::Store => parse::store(b),
                Expect::Delete => parse::delete(b),
                Expect::Batch { .. } => parse::batch(b, max),
            };
            match parsed {
                Parsed::Incomplete => break,
                Parsed::Done { used, reply } => {
                    let slot = self.slots.pop_front().expect("a front slot");
                    if slot.live {
                        let result = match reply {
                            Ok(r) => Ok(answer(r, &b[..used])),
                            Err(e) => Err(self.tag(e)),
                        };
                        out.push(Finished { slot, result });
                    }
                    self.rstart += used;
                }
                Parsed::Broken(e) => {
                    let e = self.tag(e);
                    self.fail_all(e, out);
                    return false;
                }
            }
        }
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.slots.is_empty() {
            let e = self.tag(Error::UnknownError {
                text: "bytes from the server that answer no request".into(),
                server: ServerTag::default(),
            });
            self.fail_all(e, out);
            return false;
        }
        true
    }

    /// Time out the operations (and the connect) whose deadlines passed;
    /// close the connection when only placeholders of expired operations
    /// are left (the server hangs).
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Finished>) {
        if let State::Connecting {
            deadline: Some(d), ..
        } = &self.state
        {
            if *d <= now {
                let e = self.tag(Error::Timeout {
                    text: "connect timed out".into(),
                    server: ServerTag::default(),
                });
                return self.fail_all(e, out);
            }
        }
        let mut any = false;
        for slot in self.slots.iter_mut() {
            if slot.deadline.is_some_and(|d| d <= now) && !slot.expired {
                slot.expired = true;
                any = true;
                if slot.live {
                    slot.live = false;
                    out.push(Finished {
                        slot: Slot {
                            token: slot.token,
                            expect: slot.expect.clone(),
                            deadline: slot.deadline,
                            live: true,
                            expired: true,
                            started: slot.started,
                            server: slot.server,
                        },
                        result: Err(Error::Timeout {
                            text: "no reply within the operation's timeout".into(),
                            server: ServerTag(Some(self.name.clone())),
                        }),
                    });
                }
            }
        }
        if any && !self.slots.is_empty() && self.slots.iter().all(|s| !s.live) {
            // Every operation left timed out or was cancelled: a hung
            // server. Its replies would only be dropped; reconnect instead.
            self.reset();
        }
    }

    /// Turn every live operation with `token` into a placeholder.
    pub fn cancel(&mut self, token: u64, cancelled: &mut Vec<Slot>) {
        for slot in self.slots.iter_mut().filter(|s| s.live && s.token == token) {
            slot.live = false;
            cancelled.push(Slot {
                token,
                expect: slot.expect.clone(),
                deadline: slot.deadline,
                live: false,
                expired: slot.expired,
                started: slot.started,
                server: slot.server,
            });
        }
    }

    /// Fail every live operation with `e` and close the connection.
    pub fn fail_all(&mut self, e: Error, out: &mut Vec<Finished>) {
        for slot in std::mem::take(&mut self.slots) {
            if slot.live {
                out.push(Finished {
                    slot,
                    result: Err(e.clone_lossy()),
                });
            }
        }
        self.reset();
    }

    /// Close the socket and drop everything in flight.
    pub fn reset(&mut self) {
        self.state = State::Closed;
        self.slots.clear();
        self.wbuf.clear();
        self.wpos = 0;
        self.rstart = 0;
        self.rend = 0;
    }
}

fn open_socket(sa: &SockAddr, opts: &ConnOptions) -> io::Result<Socket> {
    let domain = if sa.is_unix() {
        Domain::UNIX
    } else {
        Domain::for_address(sa.as_socket().expect("an IP address"))
    };
    let sock = Socket::new(domain, Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    #[cfg(target_vendor = "apple")]
    crate::conn::set_nosigpipe(sock.as_raw_fd())?;
    if !sa.is_unix() {
        sock.set_tcp_nodelay(opts.no_delay)?;
        if opts.keepalive {
            sock.set_keepalive(true)?;
        }
    }
    Ok(sock)
}

/// The outcome of a parsed reply; `b` is the reply's bytes.
fn answer(r: Reply, b: &[u8]) -> Answer {
    Answer::Op(match r {
        Reply::Hit { flags, data, len } => Outcome::Value {
            value: b[data..data + len].to_vec(),
            flags,
        },
        Reply::Miss => Outcome::Miss,
        Reply::Stored => Outcome::Stored,
        Reply::NotStored => Outcome::NotStored,
        Reply::Exists => Outcome::Exists,
        Reply::Deleted => Outcome::Deleted,
        Reply::NotFound => Outcome::NotFound,
        Reply::Batch => return Answer::BatchReplies(b.to_vec()),
    })
}
