//! `PooledClient`: pymemcache's PooledClient. Each command checks a
//! connection out of an `ObjectPool`, returns it on success and destroys it
//! on error, so one client can be shared by many threads.

use super::via_conn::{ConnGuard, ConnSource};
use super::{Backoff, ClientOptions, ServerConn};
use crate::addr::ServerAddr;
use crate::error::{Error, Result};
use crate::key::KeyRules;
use crate::metrics::{ServerMetrics, ServerSnapshot};
use crate::pool::{ObjectPool, PoolOptions, PoolStats};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A thread-safe client for one server over a pool of connections.
pub struct PooledClient {
    pool: ObjectPool<ServerConn>,
    addr: ServerAddr,
    rules: KeyRules,
    ignore_exc: bool,
    /// `ClientOptions::deadline`: the limit on a whole call.
    deadline: Option<Duration>,
    metrics: Option<Arc<ServerMetrics>>,
}

impl PooledClient {
    /// A pooled client for `server`; connections are made on demand.
    pub fn new(server: &str, opts: &ClientOptions, pool: PoolOptions) -> Result<PooledClient> {
        PooledClient::with_addr(ServerAddr::parse(server)?, opts, pool)
    }

    /// A pooled client for an already parsed address.
    pub fn with_addr(
        addr: ServerAddr,
        opts: &ClientOptions,
        pool: PoolOptions,
    ) -> Result<PooledClient> {
        if pool.max_size == Some(0) {
            return Err(Error::Config("max_pool_size must be at least 1".into()));
        }
        // Check the options once, so that making a connection cannot fail.
        ServerConn::new(addr.clone(), opts)?;
        let (a, o) = (addr.clone(), opts.clone());
        // One backoff for the whole pool: a failed connect pauses them all.
        let backoff = opts.reconnect_backoff.map(|b| Arc::new(Backoff::new(b)));
        // One set of metrics for the whole pool too.
        let metrics = opts.metrics.then(|| Arc::new(ServerMetrics::new()));
        let m = metrics.clone();
        Ok(PooledClient {
            pool: ObjectPool::new(pool, move || {
                ServerConn::with_backoff(a.clone(), &o, backoff.clone())
                    .map(|c| c.with_metrics(m.clone()))
            }),
            metrics,
            addr,
            rules: opts.key_rules()?,
            ignore_exc: opts.ignore_exc,
            deadline: opts.deadline,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// Destroy idle connections past the idle timeout now.
    pub fn expire_idle(&self) {
        self.pool.expire_idle_now()
    }
}

impl ConnSource for PooledClient {
    /// A connection from the pool; with a deadline, waiting for one ends
    /// at the deadline too.
    fn checkout(&self) -> Result<ConnGuard<'_>> {
        let Some(limit) = self.deadline else {
            return Ok(ConnGuard::Pooled(self.pool.checkout()?));
        };
        let until = Instant::now() + limit;
        let mut conn = self.pool.checkout_until(Some(until))?;
        conn.start_call(Some(until));
        Ok(ConnGuard::Pooled(conn))
    }

    fn ignore_exc(&self) -> bool {
        self.ignore_exc
    }

    fn placement(&self) -> (&ServerAddr, &KeyRules) {
        (&self.addr, &self.rules)
    }

    fn close_all(&self) {
        self.pool.clear()
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        Some(self.pool.stats())
    }

    fn pool_clear(&self) {
        self.pool.clear()
    }

    fn metrics(&self) -> Option<&Arc<ServerMetrics>> {
        self.metrics.as_ref()
    }

    /// The pool's count of lent connections, and its peak.
    fn fill_in_use(&self, s: &mut ServerSnapshot) {
        let (now, peak) = self.pool.in_use_and_peak();
        (s.in_use, s.peak_in_use) = (now as u64, peak as u64);
    }

    fn reset_in_use_peak(&self) {
        self.pool.reset_peak_in_use()
    }
}
