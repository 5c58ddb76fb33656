//! `Client`: pymemcache's single-server client. One connection, guarded by a
//! lock so that a shared `Client` serializes its callers.

use super::via_conn::{ConnGuard, ConnSource};
use super::{ClientOptions, ServerConn};
use crate::addr::ServerAddr;
use crate::error::{Error, Result};
use crate::key::KeyRules;
use crate::metrics::{ServerMetrics, ServerSnapshot};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client for one memcached server.
pub struct Client {
    conn: Mutex<ServerConn>,
    /// `ClientOptions::deadline`: the limit on a whole call.
    deadline: Option<Duration>,
    ignore_exc: bool,
    addr: ServerAddr,
    rules: KeyRules,
    metrics: Option<Arc<ServerMetrics>>,
}

impl Client {
    /// A client for `server` ("host:port", "[v6]:port" or a socket path).
    /// Nothing is connected until the first command.
    pub fn new(server: &str, opts: &ClientOptions) -> Result<Client> {
        Client::with_addr(ServerAddr::parse(server)?, opts)
    }

    /// A client for an already parsed address.
    pub fn with_addr(addr: ServerAddr, opts: &ClientOptions) -> Result<Client> {
        let metrics = opts.metrics.then(|| Arc::new(ServerMetrics::new()));
        Ok(Client {
            conn: Mutex::new(ServerConn::new(addr.clone(), opts)?.with_metrics(metrics.clone())),
            metrics,
            deadline: opts.deadline,
            ignore_exc: opts.ignore_exc,
            addr,
            rules: opts.key_rules()?,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// True while the connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.lock().is_connected()
    }
}

impl ConnSource for Client {
    /// The connection, locked; with a deadline, waiting for another
    /// caller's call ends at the deadline too.
    fn checkout(&self) -> Result<ConnGuard<'_>> {
        let Some(limit) = self.deadline else {
            return Ok(ConnGuard::Locked(self.conn.lock()));
        };
        let until = Instant::now() + limit;
        let mut conn = self
            .conn
            .try_lock_until(until)
            .ok_or_else(|| Error::Timeout {
                text:
                    "the call's deadline passed waiting for the connection (in use by another call)"
                        .into(),
                server: Default::default(),
            })?;
        conn.start_call(Some(until));
        Ok(ConnGuard::Locked(conn))
    }

    fn ignore_exc(&self) -> bool {
        self.ignore_exc
    }

    fn placement(&self) -> (&ServerAddr, &KeyRules) {
        (&self.addr, &self.rules)
    }

    fn close_all(&self) {
        self.conn.lock().close()
    }

    fn metrics(&self) -> Option<&Arc<ServerMetrics>> {
        self.metrics.as_ref()
    }

    /// One connection, in use while locked; any call since the last reset
    /// had it in use.
    fn fill_in_use(&self, s: &mut ServerSnapshot) {
        s.in_use = u64::from(self.conn.is_locked());
        s.peak_in_use = s.in_use.max(u64::from(s.requests > 0));
    }
}
