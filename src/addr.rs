//! Server addresses: "host:port", "[v6]:port" or a UNIX socket path.

use crate::error::{Error, Result};
use std::fmt;
use std::path::PathBuf;

/// Where a memcached server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerAddr {
    /// TCP: a host name or IP literal (IPv6 without brackets) and a port.
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A UNIX domain socket path.
    Unix(PathBuf),
}

impl ServerAddr {
    /// Parse "host:port", "[::1]:port", "::1:port" or a path (anything
    /// starting with '/' or '.', or without a port).
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = |why: &str| Error::Config(format!("server address {spec:?}: {why}"));
        if spec.is_empty() {
            return Err(bad("empty"));
        }
        if spec.starts_with('/') || spec.starts_with('.') {
            return Ok(ServerAddr::Unix(PathBuf::from(spec)));
        }
        let (host, port) = if let Some(rest) = spec.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':port' after ']'"))?;
            (host, port)
        } else {
            spec.rsplit_once(':')
                .ok_or_else(|| bad("expected host:port or a socket path"))?
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("bad host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
        Ok(ServerAddr::Tcp {
            host: host.to_string(),
            port,
        })
    }

    /// The node name pymemcache's HashClient uses: "host:port" with an IPv6
    /// host unbracketed, or the socket path.
    pub fn node_name(&self) -> String {
        match self {
            ServerAddr::Tcp { host, port } => format!("{host}:{port}"),
            ServerAddr::Unix(p) => p.display().to_string(),
        }
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            ServerAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            ServerAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let tcp = |h: &str, p| ServerAddr::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(
            ServerAddr::parse("127.0.0.1:11211").unwrap(),
            tcp("127.0.0.1", 11211)
        );
        assert_eq!(ServerAddr::parse("[::1]:11212").unwrap(), tcp("::1", 11212));
        assert_eq!(ServerAddr::parse("::1:11213").unwrap(), tcp("::1", 11213));
        assert_eq!(
            ServerAddr::parse("cache-2.example:1").unwrap(),
            tcp("cache-2.example", 1)
        );
        assert_eq!(
            ServerAddr::parse("/run/mc.sock").unwrap(),
            ServerAddr::Unix("/run/mc.sock".into())
        );
        assert_eq!(
            ServerAddr::parse("[::1]:11212").unwrap().node_name(),
            "::1:11212"
        );
        assert_eq!(
            ServerAddr::parse("[::1]:11212").unwrap().to_string(),
            "[::1]:11212"
        );
        for bad in [
            "",
            "host",
            "host:",
            "host:99999",
            "[::1]11211",
            ":11211",
            "a b:1",
        ] {
            assert!(ServerAddr::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
