//! `RetryingClient`: pymemcache's RetryingClient. Wraps any client and runs
//! each command up to `attempts` times, sleeping `retry_delay` between
//! tries, for the error kinds `retry_for` names (all, when empty) and never
//! for those in `do_not_retry_for`. The last error is returned when the
//! attempts run out.

use super::{CasOutcome, FetchCmd, Item, Memcache, ServerStats, StoreCmd};
use crate::error::{Error, ErrorKind, Result};
use crate::pool::PoolStats;
use std::time::Duration;

/// When and how often to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOptions {
    /// Tries per command, at least 1 (pymemcache's default: 2).
    pub attempts: u32,
    /// Sleep between tries (pymemcache's default: none).
    pub retry_delay: Duration,
    /// Retry only these kinds; empty = every kind.
    pub retry_for: Vec<ErrorKind>,
    /// Never retry these kinds.
    pub do_not_retry_for: Vec<ErrorKind>,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            attempts: 2,
            retry_delay: Duration::ZERO,
            retry_for: Vec::new(),
            do_not_retry_for: Vec::new(),
        }
    }
}

/// A client that retries failed commands of the client it wraps.
pub struct RetryingClient {
    inner: Box<dyn Memcache>,
    opts: RetryOptions,
}

impl RetryingClient {
    /// Wrap `inner`. Fails with a configuration error when `attempts` is 0
    /// or a kind is both in `retry_for` and `do_not_retry_for`.
    pub fn new(inner: Box<dyn Memcache>, opts: RetryOptions) -> Result<RetryingClient> {
        if opts.attempts < 1 {
            return Err(Error::Config("attempts must be at least 1".into()));
        }
        if let Some(k) = opts
            .retry_for
            .iter()
            .find(|k| opts.do_not_retry_for.contains(k))
        {
            return Err(Error::Config(format!(
                "{k:?} is both in retry_for and in do_not_retry_for"
            )));
        }
        Ok(RetryingClient { inner, opts })
    }

    fn retries(&self, e: &Error) -> bool {
        let kind = e.kind();
        (self.opts.retry_for.is_empty() || self.opts.retry_for.contains(&kind))
            && !self.opts.do_not_retry_for.contains(&kind)
    }

    fn retry<T>(&self, f: impl Fn(&dyn Memcache) -> Result<T>) -> Result<T> {
        let mut attempt = 1;
        loop {
            match f(self.inner.as_ref()) {
                Err(e) if attempt < self.opts.attempts && self.retries(&e) => {
                    attempt += 1;
                    if !self.opts.retry_delay.is_zero() {
                        std::thread::sleep(self.opts.retry_delay);
                    }
                }
                res => return res,
            }
        }
    }
}

impl Memcache for RetryingClient {
    /// Batches are not retried: a command of one may have run before a
    /// connection failed (an incr would count twice).
    fn execute(&self, batch: &mut super::Batch) -> Result<()> {
        self.inner.execute(batch)
    }

    fn fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        self.retry(|c| c.fetch(cmd, keys))
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
        self.retry(|c| c.store(cmd, key, value, flags, expire, noreply))
    }

    fn set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        self.retry(|c| c.set_many(items, flags, expire, noreply))
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
        self.retry(|c| c.cas(key, value, cas, flags, expire, noreply))
    }

    fn delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.retry(|c| c.delete(key, noreply))
    }

    fn delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        self.retry(|c| c.delete_many(keys, noreply))
    }

    fn incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.retry(|c| c.incr(key, delta, noreply))
    }

    fn decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.retry(|c| c.decr(key, delta, noreply))
    }

    fn touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        self.retry(|c| c.touch(key, expire, noreply))
    }

    fn stats(&self, args: &[&str]) -> Result<Vec<ServerStats>> {
        self.retry(|c| c.stats(args))
    }

    fn version(&self) -> Result<String> {
        self.retry(|c| c.version())
    }

    fn flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<()> {
        self.retry(|c| c.flush_all(delay, noreply))
    }

    fn cache_memlimit(&self, megabytes: u64) -> Result<()> {
        self.retry(|c| c.cache_memlimit(megabytes))
    }

    fn raw_command(&self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>> {
        self.retry(|c| c.raw_command(command, end_token))
    }

    fn shutdown(&self, graceful: bool) -> Result<()> {
        self.inner.shutdown(graceful)
    }

    fn quit(&self) -> Result<()> {
        self.inner.quit()
    }

    fn close(&self) {
        self.inner.close()
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        self.inner.pool_stats()
    }

    fn pool_clear(&self) {
        self.inner.pool_clear()
    }

    fn server_for_key(&self, key: &[u8]) -> Result<String> {
        self.inner.server_for_key(key)
    }

    fn as_hash(&self) -> Option<&super::HashClient> {
        self.inner.as_hash()
    }
}
