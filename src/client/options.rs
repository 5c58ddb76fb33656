//! Options shared by every client kind, with pymemcache's defaults.

use super::BackoffOptions;
use crate::conn::ConnectOptions;
use crate::error::Result;
use crate::key::KeyRules;
use crate::tls::{AuthCredentials, TlsConfig};
use std::time::Duration;

/// The default cap on a value's length, sent or received (64 MiB).
pub const DEFAULT_MAX_VALUE_LEN: usize = 64 * 1024 * 1024;

/// How a client connects and behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Limit on establishing a connection; `None` blocks (pymemcache's default).
    pub connect_timeout: Option<Duration>,
    /// Limit on each read and write; `None` blocks.
    pub timeout: Option<Duration>,
    /// Limit on a whole call: waiting for the connection (another caller's
    /// lock, or a pool), connecting, writing and reading together. `None`
    /// (the default, pymemcache's behaviour): only `connect_timeout` and
    /// `timeout` apply, each to one step.
    pub deadline: Option<Duration>,
    /// Set TCP_NODELAY on TCP connections.
    pub no_delay: bool,
    /// Set SO_KEEPALIVE on TCP connections.
    pub keepalive: bool,
    /// Turn errors of get, gets, gat, gats and their many-key forms into misses.
    pub ignore_exc: bool,
    /// Prepended to every key.
    pub key_prefix: Vec<u8>,
    /// Noreply default of set, add, replace, append, prepend, delete, touch
    /// and flush_all (true, as in pymemcache).
    pub default_noreply: bool,
    /// Accept non-ASCII text keys (`KeyRules::check_text`); bytes keys are
    /// checked by pymemcache's bytes rules whatever this says.
    pub allow_unicode_keys: bool,
    /// The longest value sent or accepted in a reply; a longer one is an
    /// error, never a giant allocation.
    pub max_value_len: usize,
    /// After a failed connect, further connects to that server within a
    /// short window (10 ms doubling to 1 s by default) fail at once with the
    /// same error; `None`: every call tries to connect (pymemcache). Single
    /// and pooled clients; a hash client has its own retry policy.
    pub reconnect_backoff: Option<BackoffOptions>,
    /// Secure TCP connections with TLS (pymemcache's `tls_context`);
    /// `None`: plaintext. Built once with `TlsConfig::new`. The handshake
    /// is part of connecting: `connect_timeout` covers it.
    pub tls: Option<TlsConfig>,
    /// Log in to memcached's ASCII authentication (`memcached -Y`) on every
    /// new connection; `None`: no login.
    pub auth: Option<AuthCredentials>,
    /// Keep per-server metrics (`Memcache::metrics_snapshot`); default on.
    /// Off: nothing is counted and snapshots are empty.
    pub metrics: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: None,
            timeout: None,
            deadline: None,
            no_delay: false,
            keepalive: false,
            ignore_exc: false,
            key_prefix: Vec::new(),
            default_noreply: true,
            allow_unicode_keys: false,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            reconnect_backoff: Some(BackoffOptions::default()),
            tls: None,
            auth: None,
            metrics: true,
        }
    }
}

impl ClientOptions {
    /// The socket part of the options.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            no_delay: self.no_delay,
            keepalive: self.keepalive,
            tls: self.tls.clone(),
            auth: self.auth.clone(),
        }
    }

    /// The key rules these options describe (fails on a bad prefix).
    pub fn key_rules(&self) -> Result<KeyRules> {
        KeyRules::new(&self.key_prefix, self.allow_unicode_keys)
    }
}
