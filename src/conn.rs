//! One connection to one server: TCP or UNIX socket, with timeouts, and a
//! read buffer that lines and value blocks are parsed from without per-byte
//! system calls or rescans. Over TCP it may be secured with TLS (rustls,
//! `ConnectOptions::tls`) and logged in with memcached's ASCII
//! authentication (`ConnectOptions::auth`); both happen when it is opened.

use crate::addr::ServerAddr;
use crate::error::{Error, Result};
use crate::metrics::ServerMetrics;
use crate::tls::{AuthCredentials, TlsConfig};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use std::io::{self, IoSlice, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
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
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
/// Apple systems lack MSG_NOSIGNAL; SO_NOSIGPIPE is set on the socket instead.
#[cfg(target_vendor = "apple")]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

#[cfg(target_vendor = "apple")]
pub(crate) fn set_nosigpipe(fd: RawFd) -> io::Result<()> {
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
    send_one_flags(fd, buf, 0)
}

/// `send_one` with `extra` flags (MSG_DONTWAIT).
fn send_one_flags(fd: RawFd, buf: &[u8], extra: libc::c_int) -> io::Result<usize> {
    // SAFETY: fd is an open socket and buf is live for len bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), SEND_FLAGS | extra) };
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
    /// Where bytes sent and received are counted (`None`: not counted).
    metrics: Option<Arc<ServerMetrics>>,
}

/// The byte stream of a connection: the socket, and the TLS session that
/// encrypts it when there is one.
struct Io {
    stream: Stream,
    tls: Option<Box<TlsIo>>,
    /// When the current call must be over: every read and write first waits
    /// (poll) no longer than what is left. `None`: only the socket timeouts.
    deadline: Option<Instant>,
    /// The limit on each read and write (`ConnectOptions::timeout`), which
    /// the wait for the deadline keeps as well.
    op_timeout: Option<Duration>,
    /// True once the server has sent a byte: a plaintext connection closed
    /// or reset before that is likely a TLS-only server.
    answered: bool,
}

/// A TLS session with its buffers: rustls's unbuffered client, which
/// decrypts records in place in `incoming` and encrypts requests straight
/// into `outgoing`, so no buffer of rustls's own is zeroed, filled and
/// copied out (its buffered API copies each record twice more).
struct TlsIo {
    session: rustls::client::UnbufferedClientConnection,
    /// Ciphertext read from the socket and not yet processed: whole records
    /// are decrypted where they lie, a partial one waits at the front.
    incoming: Vec<u8>,
    /// Decrypted bytes that did not fit the reader's buffer, from
    /// `plain_at` on; handed out before anything decrypted later.
    plain: Vec<u8>,
    plain_at: usize,
    /// Records to send are `outgoing[..out_len]`; the buffer stays
    /// initialised (zeroed when it grows, never per request).
    outgoing: Vec<u8>,
    out_len: usize,
    /// A small request of several buffers made one, for one record.
    scratch: Vec<u8>,
    /// The server ended the session (close_notify).
    peer_closed: bool,
}

/// Where a TLS session stands after its received records are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsStep {
    /// Handshake done: application data may be sent, more may be read.
    Ready,
    /// The handshake waits for the server's next records.
    Blocked,
    /// The server closed the session.
    Closed,
}

/// The most plaintext encrypted before the records are sent: bounds
/// `TlsIo::outgoing` for requests holding large values.
const TLS_WRITE_PIECE: usize = 64 * 1024;
/// A request of several buffers up to this size is made one buffer and
/// so goes out as one record (rustls makes a record of each `encrypt`).
const TLS_COALESCE: usize = 16 * 1024;

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

/// A new connection's setup (TLS handshake, login) runs against a deadline
/// made from `connect_timeout` (cut to the call's deadline when that is
/// sooner): its timeout says so, not "the call's deadline".
#[cold]
fn setup_timeout(e: Error) -> Error {
    match e {
        Error::Timeout { text, server } if text.contains("the call's deadline passed") => {
            Error::Timeout {
                text: text.replace(
                    "the call's deadline passed",
                    "connect_timeout (or the call's deadline, if sooner) passed",
                ),
                server,
            }
        }
        e => e,
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
        if self.tls.is_some() {
            return self.tls_write_all(parts);
        }
        let mut idx = 0;
        let mut off = 0;
        while idx < parts.len() {
            let slices: Vec<IoSlice<'_>> = std::iter::once(IoSlice::new(&parts[idx][off..]))
                .chain(parts[idx + 1..].iter().map(|p| IoSlice::new(p)))
                .collect();
            let sent = {
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

    /// `write_all_vectored` over TLS.
    ///
    /// Requests holding several commands (pipelined batches) are cut into
    /// TLS records at every line end, so that a record never runs past the
    /// end of a command: memcached before 1.6.39 stops reading when the
    /// payload of a `set` ends inside a record and the next command waits
    /// in OpenSSL's buffer (fixed upstream in "tls: fix potential hang when
    /// pipelining sets"). A single command goes out as one record (up to
    /// `TLS_COALESCE` bytes; larger ones a record per buffer and 16 KiB).
    fn tls_write_all(&mut self, parts: &[&[u8]]) -> Result<()> {
        // More than two line ends: more than one command (a storage
        // command has two). Counted with `memchr`.
        let mut lines = 0;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        'count: for p in parts {
            let mut rest = *p;
            while let Some(at) = find_newline(rest) {
                lines += 1;
                if lines > 2 {
                    break 'count;
                }
                rest = &rest[at + 1..];
            }
        }
        let split = lines > 2;
        let fd = self.fd();
        let (deadline, op_timeout) = (self.deadline, self.op_timeout);
        loop {
            let t = self.tls.as_deref_mut().expect("TLS session");
            let TlsIo {
                session,
                incoming,
                plain,
                outgoing,
                out_len,
                scratch,
                peer_closed,
                ..
            } = t;
            let status = session.process_tls_records(&mut incoming[..]);
            let discard = status.discard;
            let mut done = false;
            let mut transmit = false;
            let mut blocked = false;
            let mut discard = Some(discard);
            match status.state {
                Ok(ConnectionState::WriteTraffic(mut w)) => {
                    // What rustls processed goes first: a failure below
                    // must not leave it to be processed again.
                    discard_front(incoming, discard.take().unwrap_or(0));
                    // Several small buffers: one, so one record.
                    let one: [&[u8]; 1];
                    let units: &[&[u8]] = if parts.len() > 1 && total <= TLS_COALESCE {
                        scratch.clear();
                        for p in parts {
                            scratch.extend_from_slice(p);
                        }
                        one = [&scratch[..]];
                        &one
                    } else {
                        parts
                    };
                    for u in units {
                        let mut rest = *u;
                        while !rest.is_empty() {
                            let seg = match split.then(|| find_newline(rest)).flatten() {
                                Some(at) => at + 1,
                                None => rest.len(),
                            }
                            .min(TLS_WRITE_PIECE);
                            tls_encrypt(&mut w, &rest[..seg], outgoing, out_len)?;
                            rest = &rest[seg..];
                            if *out_len >= TLS_WRITE_PIECE {
                                send_all(fd, deadline, op_timeout, &outgoing[..*out_len])?;
                                *out_len = 0;
                            }
                        }
                    }
                    done = true;
                }
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    // Records that came before this request: kept for the
                    // reads that follow, in order.
                    while let Some(rec) = r.next_record() {
                        match rec {
                            Ok(rec) => {
                                plain.extend_from_slice(rec.payload);
                                discard = discard.map(|d| d + rec.discard);
                            }
                            Err(e) => return Err(tls_failure(&e)),
                        }
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => tls_encode(&mut e, outgoing, out_len)?,
                Ok(ConnectionState::TransmitTlsData(tx)) => {
                    tx.done();
                    transmit = true;
                }
                Ok(ConnectionState::PeerClosed) => *peer_closed = true,
                Ok(ConnectionState::Closed) => {
                    return Err(Error::UnexpectedClose {
                        server: Default::default(),
                    })
                }
                Ok(_) => blocked = true,
                Err(e) => {
                    discard_front(incoming, discard.unwrap_or(0));
                    return Err(self.tls_fatal(&e));
                }
            }
            discard_front(incoming, discard.unwrap_or(0));
            if transmit || done {
                send_all(fd, deadline, op_timeout, &outgoing[..*out_len])?;
                *out_len = 0;
            }
            if done {
                return Ok(());
            }
            if blocked {
                self.tls_read_more()?;
            }
        }
    }

    /// After rustls failed: send the alert it queued (best effort, without
    /// waiting) and name the failure.
    ///
    /// One more `process_tls_records` hands out the queued alert before it
    /// would look at any record; only one, since a second would process
    /// the records after the failure (and queue a second fatal alert).
    #[cold]
    fn tls_fatal(&mut self, err: &rustls::Error) -> Error {
        let fd = self.fd();
        if let Some(t) = self.tls.as_deref_mut() {
            let status = t.session.process_tls_records(&mut t.incoming[..]);
            let discard = status.discard;
            if let Ok(ConnectionState::EncodeTlsData(mut e)) = status.state {
                if tls_encode(&mut e, &mut t.outgoing, &mut t.out_len).is_ok() {
                    let _ = send_one_flags(fd, &t.outgoing[..t.out_len], libc::MSG_DONTWAIT);
                }
            }
            discard_front(&mut t.incoming, discard);
            t.out_len = 0;
        }
        tls_failure(err)
    }

    /// Read what the socket has (up to `TLS_READ` bytes) after the
    /// ciphertext not yet processed.
    fn tls_read_more(&mut self) -> Result<()> {
        self.wait_readable()?;
        let fd = self.fd();
        let t = self.tls.as_deref_mut().expect("TLS session");
        if t.incoming.capacity() - t.incoming.len() < TLS_READ / 4 {
            t.incoming.reserve(TLS_READ);
        }
        recv_into(fd, &mut t.incoming, TLS_READ)?;
        Ok(())
    }

    /// Process the records received: run the handshake's exchanges, and
    /// decrypt application data into `sink` (`out` up to `want` bytes, and
    /// no further than its spare capacity) or, past that, into
    /// `TlsIo::plain`. Returns where the session stands and how many bytes
    /// went to `out`; stops as soon as some did.
    fn tls_process(&mut self, out: &mut Vec<u8>, want: usize) -> Result<(TlsStep, usize)> {
        let fd = self.fd();
        let (deadline, op_timeout) = (self.deadline, self.op_timeout);
        let mut got = 0;
        loop {
            let t = self.tls.as_deref_mut().expect("TLS session");
            let TlsIo {
                session,
                incoming,
                plain,
                plain_at,
                outgoing,
                out_len,
                peer_closed,
                ..
            } = t;
            let status = session.process_tls_records(&mut incoming[..]);
            let mut discard = status.discard;
            let mut transmit = false;
            let mut step = None;
            match status.state {
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    while let Some(rec) = r.next_record() {
                        let payload = match rec {
                            Ok(rec) => {
                                // Bytes of `incoming` this record adds to the
                                // status's discard (none while rustls copies).
                                discard += rec.discard;
                                rec.payload
                            }
                            Err(e) => return Err(tls_failure(&e)),
                        };
                        let mut n = 0;
                        if *plain_at == plain.len() {
                            n = payload
                                .len()
                                .min(want - got)
                                .min(out.capacity() - out.len());
                            out.extend_from_slice(&payload[..n]);
                            got += n;
                        }
                        plain.extend_from_slice(&payload[n..]);
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => tls_encode(&mut e, outgoing, out_len)?,
                Ok(ConnectionState::TransmitTlsData(tx)) => {
                    tx.done();
                    transmit = true;
                }
                Ok(ConnectionState::WriteTraffic(_)) => step = Some(TlsStep::Ready),
                Ok(ConnectionState::PeerClosed) => *peer_closed = true,
                Ok(ConnectionState::Closed) => step = Some(TlsStep::Closed),
                Ok(_) => step = Some(TlsStep::Blocked),
                Err(e) => {
                    discard_front(incoming, discard);
                    return Err(self.tls_fatal(&e));
                }
            }
            discard_front(incoming, discard);
            if transmit {
                send_all(fd, deadline, op_timeout, &outgoing[..*out_len])?;
                *out_len = 0;
            }
            if *peer_closed {
                step = Some(TlsStep::Closed);
            }
            if let Some(step) = step {
                return Ok((step, got));
            }
            if got > 0 {
                return Ok((TlsStep::Ready, got));
            }
        }
    }

    /// `recv` over TLS: decrypted bytes kept from before first, else records
    /// read from the socket and decrypted until some come.
    fn tls_recv(&mut self, out: &mut Vec<u8>, want: usize) -> Result<usize> {
        loop {
            let t = self.tls.as_deref_mut().expect("TLS session");
            if t.plain_at < t.plain.len() {
                let avail = &t.plain[t.plain_at..];
                let n = avail.len().min(want).min(out.capacity() - out.len());
                out.extend_from_slice(&avail[..n]);
                t.plain_at += n;
                if t.plain_at == t.plain.len() {
                    t.plain.clear();
                    t.plain_at = 0;
                }
                return Ok(n);
            }
            let (step, got) = self.tls_process(out, want)?;
            if got > 0 {
                return Ok(got);
            }
            let t = self.tls.as_deref().expect("TLS session");
            if t.plain_at < t.plain.len() {
                continue;
            }
            match step {
                TlsStep::Closed => {
                    return Err(Error::UnexpectedClose {
                        server: Default::default(),
                    })
                }
                TlsStep::Ready | TlsStep::Blocked => self.tls_read_more()?,
            }
        }
    }

    /// Run the TLS handshake to its end.
    fn tls_handshake(&mut self) -> Result<()> {
        let mut none = Vec::new();
        loop {
            let step = self.tls_process(&mut none, 0).map(|(s, _)| s);
            let res = match step {
                Ok(TlsStep::Ready) => return Ok(()),
                Ok(TlsStep::Blocked) => self.tls_read_more(),
                Ok(TlsStep::Closed) => Err(Error::UnexpectedClose {
                    server: Default::default(),
                }),
                Err(e) => Err(e),
            };
            res.map_err(|e| match e {
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
    }
}

/// The position of the first `\n` in `hay`: the C library's `memchr`,
/// which compares 32 bytes at a time where the CPU can (a request's keys
/// are scanned whole when it holds one line).
fn find_newline(hay: &[u8]) -> Option<usize> {
    // SAFETY: memchr reads at most hay.len() bytes of a live slice.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), b'\n' as libc::c_int, hay.len()) };
    if p.is_null() {
        None
    } else {
        Some(p as usize - hay.as_ptr() as usize)
    }
}

/// Remove the first `n` bytes of `buf` (what rustls has processed).
fn discard_front(buf: &mut Vec<u8>, n: usize) {
    if n == 0 {
        return;
    }
    if n >= buf.len() {
        buf.clear();
    } else {
        buf.copy_within(n.., 0);
        buf.truncate(buf.len() - n);
    }
}

/// Make room for at least `need` bytes after `out_len` in `outgoing`.
fn tls_room(outgoing: &mut Vec<u8>, out_len: usize, need: usize) {
    if outgoing.len() - out_len < need {
        outgoing.resize(out_len + need.max(4096), 0);
    }
}

/// Encrypt `data` into `outgoing` after `out_len` (records of 16 KiB at
/// most, rustls's fragment size).
fn tls_encrypt(
    w: &mut rustls::unbuffered::WriteTraffic<'_, rustls::client::ClientConnectionData>,
    data: &[u8],
    outgoing: &mut Vec<u8>,
    out_len: &mut usize,
) -> Result<()> {
    // Each record adds a header, a tag and a content type byte.
    tls_room(
        outgoing,
        *out_len,
        data.len() + (data.len() / 16384 + 1) * 64,
    );
    loop {
        match w.encrypt(data, &mut outgoing[*out_len..]) {
            Ok(n) => {
                *out_len += n;
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(e)) => tls_room(outgoing, *out_len, e.required_size),
            Err(e) => {
                return Err(Error::Tls {
                    text: format!("cannot encrypt the request: {e}"),
                    server: Default::default(),
                })
            }
        }
    }
}

/// Encode a handshake record rustls has ready into `outgoing`.
fn tls_encode(
    e: &mut rustls::unbuffered::EncodeTlsData<'_, rustls::client::ClientConnectionData>,
    outgoing: &mut Vec<u8>,
    out_len: &mut usize,
) -> Result<()> {
    tls_room(outgoing, *out_len, 4096);
    loop {
        match e.encode(&mut outgoing[*out_len..]) {
            Ok(n) => {
                *out_len += n;
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(s)) => tls_room(outgoing, *out_len, s.required_size),
            Err(err) => {
                return Err(Error::Tls {
                    text: format!("cannot encode a handshake record: {err}"),
                    server: Default::default(),
                })
            }
        }
    }
}

/// Send all of `data`, each send first waiting for room no longer than
/// `deadline` allows (then without blocking), as `Io::write_all_vectored`.
fn send_all(
    fd: RawFd,
    deadline: Option<Instant>,
    op_timeout: Option<Duration>,
    mut data: &[u8],
) -> Result<()> {
    while !data.is_empty() {
        let flags = match deadline {
            Some(d) => {
                wait_ready(fd, libc::POLLOUT, d, op_timeout, "write")?;
                libc::MSG_DONTWAIT
            }
            None => 0,
        };
        match send_one_flags(fd, data, flags) {
            Ok(0) => {
                return Err(Error::from_io(
                    io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes"),
                    "write",
                ))
            }
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && deadline.is_some() => {}
            Err(e) => return Err(Error::from_io(e, "write")),
        }
    }
    Ok(())
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
            },
            buf: Vec::with_capacity(READ_CHUNK),
            metrics: None,
            start: 0,
            end: 0,
        };
        if opts.tls.is_none() && opts.auth.is_none() {
            return Ok(conn);
        }
        conn.io.deadline = setup_deadline;
        conn.setup(addr, opts).map_err(setup_timeout)?;
        conn.io.deadline = None;
        Ok(conn)
    }

    /// The TLS handshake and the login of a new connection, bounded by the
    /// deadline `open` set from `connect_timeout`.
    fn setup(&mut self, addr: &ServerAddr, opts: &ConnectOptions) -> Result<()> {
        let conn = self;
        if let (Some(tls), ServerAddr::Tcp { host, .. }) = (&opts.tls, addr) {
            conn.io.tls = Some(Box::new(TlsIo {
                session: tls.session(host)?,
                incoming: Vec::with_capacity(TLS_READ),
                plain: Vec::new(),
                plain_at: 0,
                outgoing: Vec::new(),
                out_len: 0,
                scratch: Vec::new(),
                peer_closed: false,
            }));
            conn.io.tls_handshake()?;
        }
        if let Some(auth) = &opts.auth {
            conn.login(auth)?;
        }
        Ok(())
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

    /// Count bytes sent and received into `metrics` from now on.
    pub fn set_metrics(&mut self, metrics: Option<Arc<ServerMetrics>>) {
        self.metrics = metrics;
    }

    /// Write all of `data`.
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.io.write_all(data)?;
        if let Some(m) = &self.metrics {
            m.record_sent(data.len());
        }
        Ok(())
    }

    /// Write several buffers as one stream of bytes, with as few system
    /// calls as the kernel allows.
    pub fn write_all_vectored(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.io.write_all_vectored(parts)?;
        if let Some(m) = &self.metrics {
            m.record_sent(parts.iter().map(|p| p.len()).sum());
        }
        Ok(())
    }

    /// Read 1 to `want` bytes into the spare capacity of `out`, counted.
    #[inline]
    fn recv(&mut self, out: &mut Vec<u8>, want: usize) -> Result<usize> {
        let n = self.io.recv(out, want)?;
        if let Some(m) = &self.metrics {
            m.record_received(n);
        }
        Ok(n)
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
        let n = self.io.recv(&mut self.buf, max)?;
        if let Some(m) = &self.metrics {
            m.record_received(n);
        }
        self.end += n;
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
                let res = self.recv(out, missing - (out.len() - from));
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
