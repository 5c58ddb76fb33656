//! Exit statuses, by class. A command that meets several outcomes (keys on
//! several servers, several keys) exits with the highest.

use pymemcache::error::ServerTag;
use pymemcache::Error;

/// The exit status classes, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Everything done.
    Ok = 0,
    /// A miss, not stored, not found, or a CAS conflict: the server answered
    /// and the answer was "no".
    Miss = 1,
    /// Bad usage: arguments, the server list, an illegal key or value
    /// (refused before anything was sent). clap's own usage errors exit 2 too.
    Usage = 2,
    /// The connection failed: refused, reset, closed, timed out, name
    /// resolution.
    Network = 3,
    /// The server answered with an error (ERROR, CLIENT_ERROR, SERVER_ERROR,
    /// a value too large) or with a reply that could not be parsed.
    Server = 4,
    /// A local file could not be read, or stdout could not be written.
    Local = 5,
}

impl Status {
    /// The class of a library error.
    pub fn of(e: &Error) -> Status {
        match e {
            Error::IllegalInput(_) | Error::Config(_) => Status::Usage,
            Error::TooLarge {
                server: ServerTag(None),
                ..
            } => Status::Usage,
            Error::Timeout { .. }
            | Error::Io { .. }
            | Error::UnexpectedClose { .. }
            | Error::NoServers
            | Error::Tls { .. }
            | Error::Auth { .. }
            | Error::PoolExhausted { .. } => Status::Network,
            Error::UnknownCommand { .. }
            | Error::ClientError { .. }
            | Error::ServerError { .. }
            | Error::UnknownError { .. }
            | Error::TooLarge { .. }
            | Error::NotText(_)
            | Error::NotInteger(_)
            | Error::UnsupportedPickle(_)
            | Error::Corrupt(_)
            | Error::SerdeCallback { .. } => Status::Server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn classes() {
        let io = Error::from_io(std::io::ErrorKind::ConnectionRefused.into(), "connect");
        assert_eq!(Status::of(&io), Status::Network);
        let timeout = Error::from_io(std::io::ErrorKind::TimedOut.into(), "read");
        assert_eq!(Status::of(&timeout), Status::Network);
        assert_eq!(
            Status::of(&Error::from_reply_line(b"CLIENT_ERROR bad")),
            Status::Server
        );
        assert_eq!(
            Status::of(&Error::IllegalInput("key".into())),
            Status::Usage
        );
        let too_large = |server| Error::TooLarge {
            len: 2,
            max: 1,
            server,
        };
        assert_eq!(Status::of(&too_large(ServerTag(None))), Status::Usage);
        let tag = ServerTag(Some(Arc::from("a:1")));
        assert_eq!(Status::of(&too_large(tag)), Status::Server);
        assert!(Status::Ok < Status::Miss && Status::Server < Status::Local);
    }
}
