//! The command set for every client that runs each command on one
//! `ServerConn` it can lend out: the single `Client` (a locked connection)
//! and the `PooledClient` (a checked-out one). Written once here.

use super::{
    Batch, CasOutcome, FetchCmd, Item, Memcache, Packed, ServerConn, ServerStats, StoreCmd,
};
use crate::addr::ServerAddr;
use crate::error::{Error, Result};
use crate::key::KeyRules;
use crate::pool::{PoolStats, Pooled};
use parking_lot::MutexGuard;
use std::ops::{Deref, DerefMut};

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
    /// Give the connection back after a command with this outcome: a pooled
    /// connection that failed is destroyed (unless nothing was sent).
    pub fn finish<T>(self, res: &Result<T>) {
        if let Err(e) = res {
            if !matches!(e, Error::IllegalInput(_)) {
                self.discard();
            }
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
        let mut conn = self.checkout()?;
        let res = f(&mut conn);
        conn.finish(&res);
        res
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
    fn fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        let res = self.with_conn(|c| c.fetch(cmd, keys));
        ignore_fetch_error(res, self.ignore_exc(), || vec![None; keys.len()])
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

    fn execute(&self, batch: &mut Batch) -> Result<()> {
        batch.start();
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.with_conn(|c| c.run_batch(batch)) {
            batch.out.fail_pending(None, &e);
        }
        Ok(())
    }

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

    fn set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        self.with_conn(|c| c.set_many(items, flags, expire, noreply))
    }

    fn cas(
        &self,
        key: &[u8],
        value: &[u8],
        cas: u64,
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<CasOutcome> {
        self.with_conn(|c| c.cas(key, value, cas, flags, expire, noreply))
    }

    fn delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.with_conn(|c| c.delete(key, noreply))
    }

    fn delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        self.with_conn(|c| c.delete_many(keys, noreply))
    }

    fn incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.with_conn(|c| c.incr_decr(true, key, delta, noreply))
    }

    fn decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.with_conn(|c| c.incr_decr(false, key, delta, noreply))
    }

    fn touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        self.with_conn(|c| c.touch(key, expire, noreply))
    }

    /// With ignore_exc a failure reads as no stats at all, as pymemcache's
    /// `stats()` returns `{}` then (it reads stats as a retrieval).
    fn stats(&self, args: &[&str]) -> Result<Vec<ServerStats>> {
        let res = self.with_conn(|c| c.stats(args)).map(|s| vec![s]);
        ignore_fetch_error(res, self.ignore_exc(), Vec::new)
    }

    fn version(&self) -> Result<String> {
        self.with_conn(|c| c.version())
    }

    fn flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<()> {
        self.with_conn(|c| c.flush_all(delay, noreply))
    }

    fn cache_memlimit(&self, megabytes: u64) -> Result<()> {
        self.with_conn(|c| c.cache_memlimit(megabytes))
    }

    fn raw_command(&self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>> {
        self.with_conn(|c| c.raw_command(command, end_token))
    }

    fn shutdown(&self, graceful: bool) -> Result<()> {
        self.with_conn(|c| c.shutdown(graceful))
    }

    fn quit(&self) -> Result<()> {
        self.with_conn(|c| c.quit())
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
