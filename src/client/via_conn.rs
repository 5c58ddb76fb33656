//! The command set for every client that runs each command on one
//! `ServerConn` it can lend out: the single `Client` (a locked connection)
//! and the `PooledClient` (a checked-out one). Written once here.

use super::{Batch, FetchCmd, Item, Memcache, Packed, Reply, Request, ServerConn, StoreCmd};
use crate::addr::ServerAddr;
use crate::error::{Error, Result};
use crate::key::KeyRules;
use crate::metrics::{MetricsSnapshot, ServerMetrics, ServerSnapshot};
use crate::pool::{PoolStats, Pooled};
use parking_lot::MutexGuard;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A connection lent out for one command: the single client's locked
/// connection or a connection checked out of a pool.
#[allow(clippy::large_enum_variant)] // on the stack for one command; boxing would allocate per command
pub enum ConnGuard<'a> {
    /// The single client's connection, locked.
    Locked(MutexGuard<'a, ServerConn>),
    /// A pooled connection, returned when dropped.
    Pooled(Pooled<'a, ServerConn>),
}

impl ConnGuard<'_> {
    /// Run one call on the lent connection, timed when metrics are on, and
    /// give the connection back (`finish`).
    #[inline]
    pub fn run<T>(mut self, f: impl FnOnce(&mut ServerConn) -> Result<T>) -> Result<T> {
        // One deref of the guard for the whole call.
        let conn: &mut ServerConn = &mut self;
        let started = conn.call_begin();
        let res = f(conn);
        // The error, if any, is counted by `finish`, on its own path.
        conn.call_end(started, None);
        self.finish(&res);
        res
    }

    /// Give the connection back after a command with this outcome, counting
    /// its error, if any, in the metrics: a pooled connection that failed
    /// is destroyed (unless nothing was sent).
    pub fn finish<T>(self, res: &Result<T>) {
        if let Err(e) = res {
            self.fail(e);
        }
    }

    /// Give the connection back after the call failed with `e`: the error
    /// counted, a pooled connection destroyed (unless nothing was sent).
    pub fn fail(self, e: &Error) {
        if let Some(m) = self.metrics() {
            m.record_error(e);
        }
        self.release(e);
    }

    /// `fail` without counting the error (a batch counts its errors
    /// command by command).
    pub fn release(self, e: &Error) {
        if !matches!(e, Error::IllegalInput(_)) {
            self.discard();
        }
    }

    /// Give the connection back after a failure: a pooled one is destroyed.
    pub fn discard(self) {
        if let ConnGuard::Pooled(p) = self {
            p.destroy();
        }
    }
}

impl Deref for ConnGuard<'_> {
    type Target = ServerConn;
    fn deref(&self) -> &ServerConn {
        match self {
            ConnGuard::Locked(g) => g,
            ConnGuard::Pooled(p) => p,
        }
    }
}

impl DerefMut for ConnGuard<'_> {
    fn deref_mut(&mut self) -> &mut ServerConn {
        match self {
            ConnGuard::Locked(g) => g,
            ConnGuard::Pooled(p) => p,
        }
    }
}

/// A source of a `ServerConn` for the length of one command.
pub trait ConnSource: Send + Sync {
    /// Lend a connection.
    fn checkout(&self) -> Result<ConnGuard<'_>>;

    /// Run `f` on a lent connection and give it back.
    fn with_conn<T>(&self, f: impl FnOnce(&mut ServerConn) -> Result<T>) -> Result<T> {
        match self.checkout() {
            Ok(conn) => conn.run(f),
            Err(e) => Err(self.unlent(e)),
        }
    }

    /// `e`, which failed a request before a connection was lent, counted
    /// in the metrics (request and error).
    #[cold]
    fn unlent(&self, e: Error) -> Error {
        if let Some(m) = self.metrics() {
            m.record_unlent(Some(&e), 1);
        }
        e
    }

    /// Whether retrieval errors read as misses.
    fn ignore_exc(&self) -> bool;
    /// The server's node name, and the key rules (no connection needed).
    fn placement(&self) -> (&ServerAddr, &KeyRules);
    /// Close every connection.
    fn close_all(&self);
    /// The pool's counts, for pooled sources.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
    /// Destroy the pool's free connections, for pooled sources.
    fn pool_clear(&self) {}
    /// The server's metrics (`None`: metrics off).
    fn metrics(&self) -> Option<&Arc<ServerMetrics>>;
    /// Set `s.in_use` and `s.peak_in_use` from the source's own books: the
    /// lock or the pool already counts lent connections, so a call does
    /// not count them again (see `ServerMetrics::start`).
    fn fill_in_use(&self, s: &mut ServerSnapshot);
    /// Restart the peak of connections in use from now (metrics reset).
    fn reset_in_use_peak(&self) {}
}

/// `metrics`' snapshot for the server named `server`, with the connections
/// in use as `source` counts them.
pub(crate) fn source_snapshot<S: ConnSource + ?Sized>(
    source: &S,
    metrics: &ServerMetrics,
    server: &str,
) -> ServerSnapshot {
    let mut s = metrics.snapshot(server);
    source.fill_in_use(&mut s);
    s
}

/// With `ignore_exc`, a failed retrieval reads as all misses; illegal input
/// is still reported, as pymemcache checks keys before it tries.
pub(crate) fn ignore_fetch_error<T>(
    res: Result<T>,
    ignore_exc: bool,
    misses: impl FnOnce() -> T,
) -> Result<T> {
    match res {
        Err(e) if ignore_exc && !e.is_caller_error() => Ok(misses()),
        other => other,
    }
}

impl<S: ConnSource> Memcache for S {
    fn metrics_snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            servers: self
                .metrics()
                .map(|m| source_snapshot(self, m, &self.placement().0.to_string()))
                .into_iter()
                .collect(),
        }
    }

    fn metrics_reset(&self) {
        if let Some(m) = self.metrics() {
            m.reset();
            self.reset_in_use_peak();
        }
    }

    fn fetch_packed(&self, cmd: FetchCmd, keys: &[&[u8]], out: &mut Packed) -> Result<()> {
        let res = self.with_conn(|c| c.fetch_packed(cmd, keys, out));
        ignore_fetch_error(res, self.ignore_exc(), || {
            out.data.clear();
            out.hits.clear();
        })
    }

    fn fetch_one(&self, cmd: FetchCmd, key: &[u8]) -> Result<Option<Item>> {
        ignore_fetch_error(
            self.with_conn(|c| c.fetch_one(cmd, key)),
            self.ignore_exc(),
            || None,
        )
    }

    /// A batch of one request as its classic command, the single-key
    /// commands of larger batches pipelined on one lent connection, the
    /// whole-client ones between them (`Batch::run_with`).
    fn execute(&self, batch: &mut Batch) -> Result<()> {
        batch.run_with(|b| pipelined(self, b), |req| classic(self, req))
    }

    /// A single call straight to the classic command `execute` runs for a
    /// batch of one request (the same function), without copying the
    /// request into a batch: the hot path of every named method.
    fn call(&self, req: Request<'_>) -> Result<Reply> {
        classic(self, req)
    }

    /// The single-key storage commands straight to the connection, without
    /// the `Request` round (the hot write path, like `fetch_one` for reads).
    fn store(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        self.with_conn(|c| c.store(cmd, key, value, flags, expire, noreply))
    }

    fn close(&self) {
        self.close_all()
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        ConnSource::pool_stats(self)
    }

    fn pool_clear(&self) {
        ConnSource::pool_clear(self)
    }

    fn server_for_key(&self, key: &[u8]) -> Result<String> {
        let (addr, rules) = self.placement();
        rules.check(key)?;
        Ok(addr.node_name())
    }
}

/// The commands of `batch` pipelined over the meta protocol on one lent
/// connection: each command a request, timed together, counted one by one.
fn pipelined<S: ConnSource>(s: &S, batch: &mut Batch) -> Result<()> {
    batch.start();
    if batch.is_empty() {
        return Ok(());
    }
    // Each command is a request: timed together, counted one by one.
    let n = batch.len();
    let mut conn = match s.checkout() {
        Ok(c) => c,
        Err(e) => {
            if let Some(m) = s.metrics() {
                m.record_unlent(None, n as u64);
            }
            batch.out.fail_pending(None, &e);
            batch.count_outcomes(0..n, s.metrics());
            return Ok(());
        }
    };
    let started = conn.call_begin();
    let res = conn.run_batch(batch);
    conn.call_end_n(started, n as u64);
    if let Err(e) = &res {
        batch.out.fail_pending(None, e);
    }
    batch.count_outcomes(0..n, s.metrics());
    if let Err(e) = &res {
        conn.release(e);
    }
    Ok(())
}

/// Every command on one lent connection; with ignore_exc a failed
/// retrieval reads as misses and a failed `stats` as no stats at all,
/// as pymemcache's `stats()` returns `{}` then (it reads stats as a
/// retrieval).
fn classic<S: ConnSource>(s: &S, req: Request<'_>) -> Result<Reply> {
    match req {
        Request::Fetch { cmd, keys } => {
            let res = s.with_conn(|c| c.fetch(cmd, keys));
            ignore_fetch_error(res, s.ignore_exc(), || vec![None; keys.len()]).map(Reply::Items)
        }
        Request::Store {
            cmd,
            key,
            value,
            flags,
            expire,
            noreply,
        } => s
            .with_conn(|c| c.store(cmd, key, value, flags, expire, noreply))
            .map(Reply::Bool),
        Request::SetMany {
            items,
            flags,
            expire,
            noreply,
        } => s
            .with_conn(|c| c.set_many(items, flags, expire, noreply))
            .map(Reply::Indices),
        Request::Cas {
            key,
            value,
            cas,
            flags,
            expire,
            noreply,
        } => s
            .with_conn(|c| c.cas(key, value, cas, flags, expire, noreply))
            .map(Reply::Cas),
        Request::Delete { key, noreply } => {
            s.with_conn(|c| c.delete(key, noreply)).map(Reply::Bool)
        }
        Request::DeleteMany { keys, noreply } => s
            .with_conn(|c| c.delete_many(keys, noreply))
            .map(Reply::Count),
        Request::Incr {
            key,
            delta,
            noreply,
        } => s
            .with_conn(|c| c.incr_decr(true, key, delta, noreply))
            .map(Reply::Counter),
        Request::Decr {
            key,
            delta,
            noreply,
        } => s
            .with_conn(|c| c.incr_decr(false, key, delta, noreply))
            .map(Reply::Counter),
        Request::Touch {
            key,
            expire,
            noreply,
        } => s
            .with_conn(|c| c.touch(key, expire, noreply))
            .map(Reply::Bool),
        Request::Stats { args } => {
            let res = s.with_conn(|c| c.stats(args)).map(|s| vec![s]);
            ignore_fetch_error(res, s.ignore_exc(), Vec::new).map(Reply::Stats)
        }
        Request::Version => s.with_conn(|c| c.version()).map(Reply::Text),
        Request::FlushAll { delay, noreply } => s
            .with_conn(|c| c.flush_all(delay, noreply))
            .map(|()| Reply::Done),
        Request::CacheMemlimit { megabytes } => s
            .with_conn(|c| c.cache_memlimit(megabytes))
            .map(|()| Reply::Done),
        Request::Raw { command, end_token } => s
            .with_conn(|c| c.raw_command(command, end_token))
            .map(Reply::Bytes),
        Request::Shutdown { graceful } => {
            s.with_conn(|c| c.shutdown(graceful)).map(|()| Reply::Done)
        }
        Request::Quit => s.with_conn(|c| c.quit()).map(|()| Reply::Done),
    }
}
