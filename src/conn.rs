//! One connection to one server: TCP or UNIX socket, with timeouts, and a
//! read buffer that lines and value blocks are parsed from without per-byte
//! system calls or rescans. Over TCP it may be secured with TLS (rustls,
//! `ConnectOptions::tls`) and logged in with memcached's ASCII
//! authentication (`ConnectOptions::auth`); both happen when it is opened.

use crate::addr::ServerAddr;
use crate::error::{Error, Result};
use crate::tls::{AuthCredentials, TlsConfig};
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How sockets are opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Limit on establishing a TCP connection; `None` blocks.
    pub connect_timeout: Option<Duration>,
    /// Limit on each read and write; `None` blocks.
    pub timeout: Option<Duration>,
    /// Set TCP_NODELAY.
    pub no_delay: bool,
    /// Set SO_KEEPALIVE.
    pub keepalive: bool,
    /// Secure TCP connections with TLS (`None`: plaintext). UNIX sockets
    /// stay plaintext: memcached serves TLS on its TCP listeners only.
    pub tls: Option<TlsConfig>,
    /// Log in with memcached's ASCII authentication on every new connection.
    pub auth: Option<AuthCredentials>,
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn open(addr: &ServerAddr, opts: &ConnectOptions) -> io::Result<Stream> {
        match addr {
            ServerAddr::Unix(path) => {
                let s = UnixStream::connect(path)?;
                #[cfg(target_vendor = "apple")]
                set_nosigpipe(s.as_raw_fd())?;
                s.set_read_timeout(opts.timeout)?;
                s.set_write_timeout(opts.timeout)?;
                Ok(Stream::Unix(s))
            }
            ServerAddr::Tcp { host, port } => {
                let s = connect_tcp(host, *port, opts.connect_timeout)?;
                #[cfg(target_vendor = "apple")]
                set_nosigpipe(s.as_raw_fd())?;
                s.set_read_timeout(opts.timeout)?;
                s.set_write_timeout(opts.timeout)?;
                s.set_nodelay(opts.no_delay)?;
                if opts.keepalive {
                    set_keepalive(&s)?;
                }
                Ok(Stream::Tcp(s))
            }
        }
    }
}

fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let mut last = None;
    for sa in (host, port).to_socket_addrs()? {
        let res = match timeout {
            Some(t) => TcpStream::connect_timeout(&sa, t),
            None => TcpStream::connect(sa),
        };
        match res.and_then(refuse_self_connection) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host has no address")))
}

/// A socket connected to itself is refused: with nothing listening on a
/// port of the kernel's ephemeral range, a connect can be given that very
/// port as its own and TCP's simultaneous open joins the socket to itself.
/// The client would read its own requests back, and the socket would hold
/// the port when the server restarts.
fn refuse_self_connection(s: TcpStream) -> io::Result<TcpStream> {
    let local = s.local_addr()?;
    if local == s.peer_addr()? {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("connected to itself at {local}: nothing listens there (refused)"),
        ));
    }
    Ok(s)
}

fn set_keepalive(s: &TcpStream) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// Flags for every send: a library must not raise SIGPIPE when the server
/// has gone away, since C host programs keep its default action (exit).
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
/// Apple systems lack MSG_NOSIGNAL; SO_NOSIGPIPE is set on the socket instead.
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: libc::c_int = 0;

#[cfg(target_vendor = "apple")]
fn set_nosigpipe(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_NOSIGPIPE,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `sendmsg` with `SEND_FLAGS`: like `write_vectored`, without SIGPIPE.
fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    send_vectored_flags(fd, bufs, 0)
}

/// `send_vectored` with `extra` flags (MSG_DONTWAIT).
fn send_vectored_flags(fd: RawFd, bufs: &[IoSlice<'_>], extra: libc::c_int) -> io::Result<usize> {
    // SAFETY: msghdr is plain data, all zeroes is an empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec; sendmsg only reads them.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    // At most IOV_MAX buffers per call; the caller writes the rest after.
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: fd is an open socket and msg describes live buffers.
    let n = unsafe { libc::sendmsg(fd, &msg, SEND_FLAGS | extra) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recv` of 1 to `want` bytes into the spare capacity of `out`, which
/// grows by what came: nothing is zeroed first, and the kernel copies
/// straight into the buffer that keeps the bytes. Interrupted calls are
/// retried; the server closing is `UnexpectedClose`.
fn recv_into(fd: RawFd, out: &mut Vec<u8>, want: usize) -> Result<usize> {
    let spare = out.spare_capacity_mut();
    let want = want.min(spare.len());
    loop {
        // SAFETY: fd is an open socket; the kernel writes at most `want`
        // bytes into spare capacity that `out` owns.
        let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), want, 0) };
        match n {
            0 => {
                return Err(Error::UnexpectedClose {
                    server: Default::default(),
                })
            }
            n if n > 0 => {
                // SAFETY: the kernel initialised the first n (<= want) bytes.
                unsafe { out.set_len(out.len() + n as usize) };
                return Ok(n as usize);
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Error::from_io(e, "read"));
                }
            }
        }
    }
}

/// `send` with `SEND_FLAGS`: one buffer, without the msghdr and iovec a
/// `sendmsg` makes the kernel copy in.
fn send_one(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: fd is an open socket and buf is live for len bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), SEND_FLAGS) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_one(self.fd(), buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send_vectored(self.fd(), bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The longest reply line accepted (a VALUE header or STAT line is far shorter).
pub const MAX_LINE: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// An open connection with its read buffer.
pub struct Conn {
    io: Io,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// The byte stream of a connection: the socket, and the TLS session that
/// encrypts it when there is one.
struct Io {
    stream: Stream,
    tls: Option<Box<rustls::ClientConnection>>,
    /// When the current call must be over: every read and write first waits
    /// (poll) no longer than what is left. `None`: only the socket timeouts.
    deadline: Option<Instant>,
    /// The limit on each read and write (`ConnectOptions::timeout`), which
    /// the wait for the deadline keeps as well.
    op_timeout: Option<Duration>,
    /// True once the server has sent a byte: a plaintext connection closed
    /// or reset before that is likely a TLS-only server.
    answered: bool,
    /// TLS: bytes read from the socket and not yet given to rustls, from
    /// `staged_at` on.
    staged: Vec<u8>,
    staged_at: usize,
}

/// The most encrypted bytes one read from the socket takes.
const TLS_READ: usize = 64 * 1024;

/// The error of a plaintext connection the server reset before sending
/// anything: what a TLS-only memcached (-Z) does with plaintext (it closes
/// with the request unread). A clean close stays `UnexpectedClose`, which
/// `shutdown` expects.
#[cold]
fn reset_before_answering(e: Error) -> Error {
    match &e {
        Error::Io { source, .. } if source.kind() == io::ErrorKind::ConnectionReset => Error::Io {
            source: io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the server reset the connection before answering anything: \
                 is it a TLS-only server (memcached -Z)? then set the TLS options",
            ),
            server: Default::default(),
        },
        _ => e,
    }
}

/// The timeout error of a call whose deadline has passed.
#[cold]
fn deadline_passed(what: &str) -> Error {
    Error::Timeout {
        text: format!("the call's deadline passed before the {what} finished"),
        server: Default::default(),
    }
}

/// Wait until `fd` is ready for `events`, or fail when `deadline` passes
/// or, first, `op_timeout` (the limit of this one read or write).
fn wait_ready(
    fd: RawFd,
    events: libc::c_short,
    deadline: Instant,
    op_timeout: Option<Duration>,
    what: &str,
) -> Result<()> {
    let op_end = op_timeout.map(|t| Instant::now() + t);
    loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(deadline_passed(what));
        }
        let left = match op_end {
            Some(end) if end <= now => {
                return Err(Error::from_io(io::ErrorKind::TimedOut.into(), what));
            }
            Some(end) => left.min(end - now),
            None => left,
        };
        // Rounded up: a wait of 0 ms would spin.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut p, 1, ms) } {
            0 => continue,               // checked against the deadline at the top
            n if n > 0 => return Ok(()), // ready, or an error the next call reports
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Error::from_io(e, what));
                }
            }
        }
    }
}

/// The socket as rustls reads and writes it: `recv` and `send` with
/// `SEND_FLAGS` (no SIGPIPE) and `flags` (MSG_DONTWAIT under a deadline).
struct RawSocket {
    fd: RawFd,
    flags: libc::c_int,
}

impl Read for RawSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: fd is an open socket and buf is live for its length.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Write for RawSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_vectored_flags(self.fd, &[IoSlice::new(buf)], self.flags)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send_vectored_flags(self.fd, bufs, self.flags)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A rustls failure as the crate's error, named for a person.
#[cold]
fn tls_failure(e: &rustls::Error) -> Error {
    Error::Tls {
        text: crate::tls::describe(e),
        server: Default::default(),
    }
}

impl Io {
    fn fd(&self) -> RawFd {
        self.stream.fd()
    }

    fn wait_readable(&self) -> Result<()> {
        match self.deadline {
            Some(d) => wait_ready(self.fd(), libc::POLLIN, d, self.op_timeout, "read"),
            None => Ok(()),
        }
    }

    fn wait_writable(&self) -> Result<()> {
        match self.deadline {
            Some(d) => wait_ready(self.fd(), libc::POLLOUT, d, self.op_timeout, "write"),
            None => Ok(()),
        }
    }

    /// Read 1 to `want` bytes into the spare capacity of `out` (see
    /// `recv_into`); the server closing is `UnexpectedClose`.
    fn recv(&mut self, out: &mut Vec<u8>, want: usize) -> Result<usize> {
        if self.tls.is_some() {
            return self.tls_recv(out, want);
        }
        self.wait_readable()?;
        match recv_into(self.fd(), out, want) {
            Ok(n) => {
                self.answered = true;
                Ok(n)
            }
            Err(e) if !self.answered => Err(reset_before_answering(e)),
            Err(e) => Err(e),
        }
    }

    /// Write all of `data`.
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        if self.deadline.is_some() || self.tls.is_some() {
            return self.write_all_vectored(&[data]);
        }
        self.stream
            .write_all(data)
            .map_err(|e| Error::from_io(e, "write"))
    }

    /// Write several buffers as one stream of bytes, with as few system
    /// calls as the kernel allows.
    fn write_all_vectored(&mut self, parts: &[&[u8]]) -> Result<()> {
        let mut idx = 0;
        let mut off = 0;
        while idx < parts.len() {
            let slices: Vec<IoSlice<'_>> = std::iter::once(IoSlice::new(&parts[idx][off..]))
                .chain(parts[idx + 1..].iter().map(|p| IoSlice::new(p)))
                .collect();
            let sent = if self.tls.is_some() {
                return self.tls_write_all(&parts[idx..], off);
            } else {
                self.wait_writable()?;
                match self.deadline {
                    // Without waiting: poll said there is room, and a blocking
                    // send of more than that room would outlive the deadline.
                    Some(_) => send_vectored_flags(self.fd(), &slices, libc::MSG_DONTWAIT),
                    None => self.stream.write_vectored(&slices),
                }
            };
            let mut n = match sent {
                Ok(0) => {
                    return Err(Error::from_io(
                        io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes"),
                        "write",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.deadline.is_some() => {
                    continue; // the next poll waits, or reports the deadline
                }
                Err(e) => return Err(Error::from_io(e, "write")),
            };
            while idx < parts.len() && n >= parts[idx].len() - off {
                n -= parts[idx].len() - off;
                idx += 1;
                off = 0;
            }
            off += n;
        }
        Ok(())
    }

    /// `write_all_vectored` over TLS, from byte `off` of `parts[0]`.
    ///
    /// Requests holding several commands (pipelined batches) are cut into
    /// TLS records at every line end, so that a record never runs past the
    /// end of a command: memcached before 1.6.39 stops reading when the
    /// payload of a `set` ends inside a record and the next command waits
    /// in OpenSSL's buffer (fixed upstream in "tls: fix potential hang when
    /// pipelining sets"). A single command goes out as one record.
    fn tls_write_all(&mut self, parts: &[&[u8]], off: usize) -> Result<()> {
        // More than two line ends: more than one command (a storage
        // command has two). Counted with the word-at-a-time search.
        let mut lines = 0;
        'count: for (i, p) in parts.iter().enumerate() {
            let mut rest = if i == 0 { &p[off..] } else { p };
            while let Some(at) = crate::protocol::scan::find_byte(rest, b'\n') {
                lines += 1;
                if lines > 2 {
                    break 'count;
                }
                rest = &rest[at + 1..];
            }
        }
        let split = lines > 2;
        for (i, p) in parts.iter().enumerate() {
            let mut rest = if i == 0 { &p[off..] } else { p };
            while !rest.is_empty() {
                let seg = match crate::protocol::scan::find_byte(rest, b'\n') {
                    Some(at) if split => at + 1,
                    _ => rest.len(),
                };
                let tls = self.tls.as_mut().expect("TLS session");
                let n = tls
                    .writer()
                    .write(&rest[..seg])
                    .map_err(|e| Error::from_io(e, "write"))?;
                rest = &rest[n..];
                // rustls's output buffer (64 KiB) is full: send it.
                if n < seg {
                    self.tls_flush()?;
                }
            }
        }
        self.tls_flush()
    }

    /// Send every TLS record rustls has ready.
    fn tls_flush(&mut self) -> Result<()> {
        let flags = if self.deadline.is_some() {
            libc::MSG_DONTWAIT
        } else {
            0
        };
        while self.tls.as_ref().is_some_and(|t| t.wants_write()) {
            self.wait_writable()?;
            let mut sock = RawSocket {
                fd: self.fd(),
                flags,
            };
            let tls = self.tls.as_mut().expect("TLS session");
            match tls.write_tls(&mut sock) {
                Ok(0) => {
                    return Err(Error::from_io(
                        io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes"),
                        "write",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.deadline.is_some() => {}
                Err(e) => return Err(Error::from_io(e, "write")),
            }
        }
        Ok(())
    }

    /// Read what the socket has into rustls and decrypt it. The server
    /// closing is `UnexpectedClose`; a TLS failure (a bad record, an alert
    /// such as a refused client certificate) is `Error::Tls`.
    fn tls_read_records(&mut self) -> Result<()> {
        if self.staged_at == self.staged.len() {
            // One system call takes whatever the socket holds (rustls's own
            // reads take 4 KiB at a time); rustls is fed from it below.
            self.staged.clear();
            self.staged_at = 0;
            self.wait_readable()?;
            recv_into(self.fd(), &mut self.staged, TLS_READ)?;
        }
        let Io {
            tls,
            staged,
            staged_at,
            stream,
            ..
        } = self;
        let tls = tls.as_mut().expect("TLS session");
        let mut src = &staged[*staged_at..];
        let n = tls
            .read_tls(&mut src)
            .map_err(|e| Error::from_io(e, "read"))?;
        *staged_at += n;
        if let Err(e) = tls.process_new_packets() {
            // Tell the server why (the alert rustls queued), if it listens.
            let mut sock = RawSocket {
                fd: stream.fd(),
                flags: libc::MSG_DONTWAIT,
            };
            let _ = tls.write_tls(&mut sock);
            return Err(tls_failure(&e));
        }
        Ok(())
    }

    /// `recv` over TLS: decrypted bytes already held by rustls first, else
    /// records read from the socket until some come.
    fn tls_recv(&mut self, out: &mut Vec<u8>, want: usize) -> Result<usize> {
        loop {
            let tls = self.tls.as_mut().expect("TLS session");
            let mut reader = tls.reader();
            match reader.fill_buf() {
                // The server ended the session (close_notify).
                Ok([]) => {
                    return Err(Error::UnexpectedClose {
                        server: Default::default(),
                    })
                }
                Ok(chunk) => {
                    let spare = out.spare_capacity_mut();
                    let n = chunk.len().min(want).min(spare.len());
                    // SAFETY: n bytes fit the spare capacity, and the
                    // regions are distinct (rustls's buffer and `out`).
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            chunk.as_ptr(),
                            spare.as_mut_ptr().cast::<u8>(),
                            n,
                        );
                        out.set_len(out.len() + n);
                    }
                    reader.consume(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::from_io(e, "read")),
            }
            if tls.wants_write() {
                self.tls_flush()?;
            }
            self.tls_read_records()?;
        }
    }

    /// Run the TLS handshake to its end.
    fn tls_handshake(&mut self) -> Result<()> {
        while self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
            if self.tls.as_ref().is_some_and(|t| t.wants_write()) {
                self.tls_flush()?;
                continue;
            }
            self.tls_read_records().map_err(|e| match e {
                Error::UnexpectedClose { .. } => Error::Tls {
                    text: "the server closed the connection during the TLS handshake \
                           (does it speak TLS? does it want a client certificate?)"
                        .into(),
                    server: Default::default(),
                },
                Error::Timeout { text, server } => Error::Timeout {
                    text: format!("TLS handshake: {text}"),
                    server,
                },
                e => e,
            })?;
        }
        self.tls_flush()
    }
}

impl Conn {
    /// Open a connection to `addr`: connect, then the TLS handshake and the
    /// login the options ask for, all within `connect_timeout`.
    pub fn open(addr: &ServerAddr, opts: &ConnectOptions) -> Result<Conn> {
        let setup_deadline = opts.connect_timeout.map(|t| Instant::now() + t);
        let stream = Stream::open(addr, opts).map_err(|e| Error::from_io(e, "connect"))?;
        let mut conn = Conn {
            io: Io {
                stream,
                tls: None,
                deadline: None,
                op_timeout: opts.timeout,
                answered: false,
                staged: Vec::new(),
                staged_at: 0,
            },
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            end: 0,
        };
        if opts.tls.is_none() && opts.auth.is_none() {
            return Ok(conn);
        }
        conn.io.deadline = setup_deadline;
        if let (Some(tls), ServerAddr::Tcp { host, .. }) = (&opts.tls, addr) {
            conn.io.tls = Some(Box::new(tls.session(host)?));
            conn.io.staged = Vec::with_capacity(TLS_READ);
            conn.io.tls_handshake()?;
        }
        if let Some(auth) = &opts.auth {
            conn.login(auth)?;
        }
        conn.io.deadline = None;
        Ok(conn)
    }

    /// memcached's ASCII authentication: a `set` whose value is
    /// "<user> <password>", answered STORED when accepted.
    fn login(&mut self, auth: &AuthCredentials) -> Result<()> {
        let refused = |what: String| Error::Auth {
            text: format!("login as {:?} failed: {what}", auth.username()),
            server: Default::default(),
        };
        self.write_all(&auth.request())?;
        match self.read_line() {
            Ok(b"STORED") => Ok(()),
            Ok(line) => Err(refused(format!(
                "the server answered {:?} (wrong user name or password?)",
                String::from_utf8_lossy(line)
            ))),
            Err(Error::UnexpectedClose { .. }) => {
                Err(refused("the server closed the connection".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// True if the connection is secured with TLS.
    pub fn is_tls(&self) -> bool {
        self.io.tls.is_some()
    }

    /// Bound every following read and write by `deadline` (`None`: only the
    /// socket's own timeouts).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.io.deadline = deadline;
    }

    /// Write all of `data`.
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.io.write_all(data)
    }

    /// Write several buffers as one stream of bytes, with as few system
    /// calls as the kernel allows.
    pub fn write_all_vectored(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.io.write_all_vectored(parts)
    }

    /// Read more bytes into the buffer; EOF is an unexpected close.
    fn fill(&mut self) -> Result<()> {
        self.fill_upto(usize::MAX)
    }

    /// `fill`, reading at most `max` bytes.
    fn fill_upto(&mut self, max: usize) -> Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.buf.clear();
        } else if self.end == self.buf.capacity() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                self.buf.truncate(self.end);
            } else {
                self.buf.reserve(self.buf.capacity());
            }
        }
        self.end += self.io.recv(&mut self.buf, max)?;
        Ok(())
    }

    /// The next reply line without its "\r\n" (a lone "\n" is accepted).
    /// The slice lives until the next read.
    pub fn read_line(&mut self) -> Result<&[u8]> {
        let mut scanned = 0;
        loop {
            let avail = &self.buf[self.start + scanned..self.end];
            if let Some(i) = crate::protocol::scan::find_byte(avail, b'\n') {
                let line_end = self.start + scanned + i;
                let line_start = self.start;
                self.start = line_end + 1;
                let mut l = &self.buf[line_start..line_end];
                if let [rest @ .., b'\r'] = l {
                    l = rest;
                }
                return Ok(l);
            }
            scanned = self.end - self.start;
            if scanned > MAX_LINE {
                let text = String::from_utf8_lossy(&self.buf[self.start..self.start + 64]);
                return Err(Error::UnknownError {
                    text: format!("reply line longer than {MAX_LINE} bytes: {text}"),
                    server: Default::default(),
                });
            }
            self.fill()?;
        }
    }

    /// Read a value block of `len` bytes followed by "\r\n", appending the
    /// bytes to `out`. Large blocks are read straight into `out`.
    pub fn read_block(&mut self, len: usize, out: &mut Vec<u8>) -> Result<()> {
        out.reserve(len);
        let buffered = (self.end - self.start).min(len);
        out.extend_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        let missing = len - buffered;
        if missing > 0 {
            // Straight from the socket into `out`'s spare capacity (see
            // `recv_into`): nothing is zeroed or copied twice.
            let from = out.len();
            while out.len() - from < missing {
                let res = self.io.recv(out, missing - (out.len() - from));
                if let Err(e) = res {
                    out.truncate(from);
                    return Err(e);
                }
            }
        }
        while self.end - self.start < 2 {
            self.fill()?;
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return Err(Error::UnknownError {
                text: "value block not followed by \\r\\n".into(),
                server: Default::default(),
            });
        }
        self.start += 2;
        Ok(())
    }

    /// Read until `token` appears; return everything before it (the token is
    /// consumed). At most `max` bytes are accepted. With `stop_on_error`, a
    /// complete `ERROR`/`CLIENT_ERROR`/`SERVER_ERROR` line at the start ends
    /// the read early and is returned whole (a server refusing the command
    /// never sends the token).
    pub fn read_until(&mut self, token: &[u8], max: usize, stop_on_error: bool) -> Result<Vec<u8>> {
        let mut scanned: usize = 0;
        loop {
            let hay = &self.buf[self.start..self.end];
            if stop_on_error && is_error_reply(hay) {
                if let Some(i) = hay.windows(2).position(|w| w == b"\r\n") {
                    let out = hay[..i].to_vec();
                    self.start += i + 2;
                    return Ok(out);
                }
            }
            let from = scanned.saturating_sub(token.len() - 1);
            if let Some(i) = hay[from..].windows(token.len()).position(|w| w == token) {
                // The limit holds however the reply was split into reads.
                if from + i > max {
                    return Err(Error::TooLarge {
                        len: (from + i) as u64,
                        max: max as u64,
                        server: Default::default(),
                    });
                }
                let at = self.start + from + i;
                let out = self.buf[self.start..at].to_vec();
                self.start = at + token.len();
                return Ok(out);
            }
            scanned = hay.len();
            // A token that starts later leaves more than `max` bytes before it.
            if scanned.saturating_sub(token.len() - 1) > max {
                return Err(Error::TooLarge {
                    len: scanned as u64,
                    max: max as u64,
                    server: Default::default(),
                });
            }
            self.fill()?;
        }
    }

    /// The bytes read from the server and not yet taken.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Wait for the server's next bytes (at most `max`) if none are
    /// buffered. A small `max` suits a reply that may hold one large value:
    /// the rest of it is then read straight into the value's own buffer
    /// instead of being copied out of this one.
    pub fn fill_if_empty(&mut self, max: usize) -> Result<()> {
        if self.start == self.end {
            self.fill_upto(max)?;
        }
        Ok(())
    }

    /// Take the first `n` buffered bytes (`n` at most `buffered().len()`).
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
    }

    /// True if bytes from the server are waiting in the buffer unread.
    pub fn has_buffered(&self) -> bool {
        self.start != self.end
    }
}

fn is_error_reply(data: &[u8]) -> bool {
    data.starts_with(b"ERROR")
        || data.starts_with(b"CLIENT_ERROR")
        || data.starts_with(b"SERVER_ERROR")
}
