//! The error type: one variant per pymemcache exception class, plus the
//! conditions a C library has to name on its own (timeouts, I/O, limits).

use std::fmt;
use std::sync::Arc;

/// The server an error came from, shown after the message when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTag(pub Option<Arc<str>>);

impl fmt::Display for ServerTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => write!(f, " (server {s})"),
            None => Ok(()),
        }
    }
}

/// Every failure a client can report. The server's own text is kept verbatim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered `ERROR` (pymemcache's `MemcacheUnknownCommandError`).
    #[error("unknown command: {text}{server}")]
    UnknownCommand {
        /// The server's reply line.
        text: String,
        /// Where it came from.
        server: ServerTag,
    },
    /// The server answered `CLIENT_ERROR ...` (`MemcacheClientError`).
    #[error("client error: {text}{server}")]
    ClientError {
        /// The server's text after `CLIENT_ERROR `.
        text: String,
        /// Where it came from.
        server: ServerTag,
    },
    /// The server answered `SERVER_ERROR ...` (`MemcacheServerError`).
    #[error("server error: {text}{server}")]
    ServerError {
        /// The server's text after `SERVER_ERROR `.
        text: String,
        /// Where it came from.
        server: ServerTag,
    },
    /// A reply that could not be parsed (`MemcacheUnknownError`).
    #[error("unknown error: unparsable reply {text:?}{server}")]
    UnknownError {
        /// The start of the offending reply.
        text: String,
        /// Where it came from.
        server: ServerTag,
    },
    /// The server closed the connection before the reply was complete
    /// (`MemcacheUnexpectedCloseError`).
    #[error("unexpected close: the server closed the connection{server}")]
    UnexpectedClose {
        /// Where it came from.
        server: ServerTag,
    },
    /// A key, value or argument that may not be sent; nothing was written
    /// (`MemcacheIllegalInputError`).
    #[error("illegal input: {0}")]
    IllegalInput(String),
    /// A connect, read or write did not finish within its timeout.
    #[error("timeout: {text}{server}")]
    Timeout {
        /// What timed out.
        text: String,
        /// Where it happened.
        server: ServerTag,
    },
    /// Any other socket error (connection refused, reset, name resolution).
    #[error("I/O error: {source}{server}")]
    Io {
        /// The operating system's error.
        source: std::io::Error,
        /// Where it happened.
        server: ServerTag,
    },
    /// A reply announced a value longer than the client's `max_value_len`,
    /// or a value to store is longer than it.
    #[error("value too large: {len} bytes exceeds the limit of {max} bytes{server}")]
    TooLarge {
        /// The announced or given length.
        len: u64,
        /// The configured limit.
        max: u64,
        /// Where it came from (for replies).
        server: ServerTag,
    },
    /// Every pooled connection was in use for the whole pool timeout.
    #[error("pool exhausted: all {max} connections stayed in use for {waited:?}")]
    PoolExhausted {
        /// The pool's maximum size.
        max: usize,
        /// How long the caller waited.
        waited: std::time::Duration,
    },
    /// A value read as text is not UTF-8 (or not stored as text).
    #[error("not text: {0}")]
    NotText(String),
    /// A value read as an integer is not one (or does not fit).
    #[error("not an integer: {0}")]
    NotInteger(String),
    /// A pickle that is not plain data (class instances, globals, external
    /// references): refused, never executed or half-read.
    #[error("unsupported pickle: {0}")]
    UnsupportedPickle(String),
    /// Stored bytes that cannot be decoded: a corrupt zlib stream, a
    /// truncated pickle, bad JSON.
    #[error("corrupt value: {0}")]
    Corrupt(String),
    /// A serialize or deserialize callback given by a C program failed.
    #[error("serde callback failed with status {status}: {text}")]
    SerdeCallback {
        /// The status the callback returned.
        status: i32,
        /// What was being done.
        text: String,
    },
    /// A hash client has no live server to send the command to.
    #[error("no servers available: every server is dead or none was added")]
    NoServers,
    /// The client was configured with contradictory or invalid options.
    #[error("configuration error: {0}")]
    Config(String),
    /// TLS failed: the handshake (an expired certificate, an unknown CA, a
    /// name mismatch, a server that does not speak TLS, a refused client
    /// certificate), unreadable certificate or key files, or a broken TLS
    /// stream.
    #[error("TLS error: {text}{server}")]
    Tls {
        /// What failed.
        text: String,
        /// Where it happened.
        server: ServerTag,
    },
    /// memcached's ASCII authentication (`-Y`) failed: a wrong user name or
    /// password, or a server that wants credentials none were given for.
    #[error("authentication error: {text}{server}")]
    Auth {
        /// What the server said.
        text: String,
        /// Where it happened.
        server: ServerTag,
    },
}

/// The kind of an error, without its details: what `RetryingClient` is
/// told to retry or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `Error::UnknownCommand`
    UnknownCommand,
    /// `Error::ClientError`
    ClientError,
    /// `Error::ServerError`
    ServerError,
    /// `Error::UnknownError`
    UnknownError,
    /// `Error::UnexpectedClose`
    UnexpectedClose,
    /// `Error::IllegalInput`
    IllegalInput,
    /// `Error::Timeout`
    Timeout,
    /// `Error::Io`
    Io,
    /// `Error::TooLarge`
    TooLarge,
    /// `Error::PoolExhausted`
    PoolExhausted,
    /// `Error::NoServers`
    NoServers,
    /// `Error::NotText`
    NotText,
    /// `Error::NotInteger`
    NotInteger,
    /// `Error::UnsupportedPickle`
    UnsupportedPickle,
    /// `Error::Corrupt`
    Corrupt,
    /// `Error::SerdeCallback`
    SerdeCallback,
    /// `Error::Config`
    Config,
    /// `Error::Tls`
    Tls,
    /// `Error::Auth`
    Auth,
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Attach the server address to an error that came from talking to it.
    pub fn at(mut self, server: &Arc<str>) -> Self {
        let tag = ServerTag(Some(server.clone()));
        match &mut self {
            Error::UnknownCommand { server, .. }
            | Error::ClientError { server, .. }
            | Error::ServerError { server, .. }
            | Error::UnknownError { server, .. }
            | Error::UnexpectedClose { server }
            | Error::Timeout { server, .. }
            | Error::Io { server, .. }
            | Error::Tls { server, .. }
            | Error::Auth { server, .. }
            | Error::TooLarge { server, .. } => *server = tag,
            Error::IllegalInput(_)
            | Error::Config(_)
            | Error::PoolExhausted { .. }
            | Error::NoServers
            | Error::NotText(_)
            | Error::NotInteger(_)
            | Error::UnsupportedPickle(_)
            | Error::Corrupt(_)
            | Error::SerdeCallback { .. } => {}
        }
        self
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownCommand { .. } => ErrorKind::UnknownCommand,
            Error::ClientError { .. } => ErrorKind::ClientError,
            Error::ServerError { .. } => ErrorKind::ServerError,
            Error::UnknownError { .. } => ErrorKind::UnknownError,
            Error::UnexpectedClose { .. } => ErrorKind::UnexpectedClose,
            Error::IllegalInput(_) => ErrorKind::IllegalInput,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Io { .. } => ErrorKind::Io,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::PoolExhausted { .. } => ErrorKind::PoolExhausted,
            Error::NoServers => ErrorKind::NoServers,
            Error::NotText(_) => ErrorKind::NotText,
            Error::NotInteger(_) => ErrorKind::NotInteger,
            Error::UnsupportedPickle(_) => ErrorKind::UnsupportedPickle,
            Error::Corrupt(_) => ErrorKind::Corrupt,
            Error::SerdeCallback { .. } => ErrorKind::SerdeCallback,
            Error::Config(_) => ErrorKind::Config,
            Error::Tls { .. } => ErrorKind::Tls,
            Error::Auth { .. } => ErrorKind::Auth,
        }
    }

    /// Classify an I/O error: timeouts get their own variant.
    pub fn from_io(err: std::io::Error, what: &str) -> Self {
        match err.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Error::Timeout {
                text: format!("{what} timed out"),
                server: ServerTag::default(),
            },
            std::io::ErrorKind::UnexpectedEof => Error::UnexpectedClose {
                server: ServerTag::default(),
            },
            _ => Error::Io {
                source: err,
                server: ServerTag::default(),
            },
        }
    }

    /// True for errors in what the caller asked (illegal input, bad
    /// configuration): `ignore_exc` never hides these.
    pub fn is_caller_error(&self) -> bool {
        matches!(self, Error::IllegalInput(_) | Error::Config(_))
    }

    /// True for failures of the connection itself (refused, reset, timeout,
    /// closed), as opposed to replies the server sent or bad input.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            Error::UnexpectedClose { .. } | Error::Timeout { .. } | Error::Io { .. }
        )
    }

    /// Build the error a reply line stands for (`ERROR`, `CLIENT_ERROR`,
    /// `SERVER_ERROR`, or anything unexpected).
    pub fn from_reply_line(line: &[u8]) -> Self {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let server = ServerTag::default();
        if line == b"CLIENT_ERROR unauthenticated" {
            // memcached -Y refuses every command of a connection that has
            // not logged in.
            Error::Auth {
                text: "the server requires authentication (memcached -Y): \
                       give a username and password, or the right ones"
                    .into(),
                server,
            }
        } else if let Some(rest) = line.strip_prefix(b"CLIENT_ERROR") {
            Error::ClientError {
                text: text(rest.trim_ascii_start()),
                server,
            }
        } else if let Some(rest) = line.strip_prefix(b"SERVER_ERROR") {
            Error::ServerError {
                text: text(rest.trim_ascii_start()),
                server,
            }
        } else if line.starts_with(b"ERROR") {
            Error::UnknownCommand {
                text: text(line),
                server,
            }
        } else {
            let cut = &line[..line.len().min(64)];
            Error::UnknownError {
                text: text(cut),
                server,
            }
        }
    }
}
