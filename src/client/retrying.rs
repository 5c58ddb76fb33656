//! `RetryingClient`: pymemcache's RetryingClient. Wraps any client and runs
//! each command up to `attempts` times, sleeping `retry_delay` between
//! tries, for the error kinds `retry_for` names (all, when empty) and never
//! for those in `do_not_retry_for`. The last error is returned when the
//! attempts run out.

use super::{Memcache, Reply, Request};
use crate::error::{Error, ErrorKind, Result};
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

impl RetryingClient {
    /// Every command is retried but `shutdown` and `quit`.
    fn call_one(&self, req: Request<'_>) -> Result<Reply> {
        match req {
            Request::Shutdown { .. } | Request::Quit => self.inner.call(req),
            _ => self.retry(|c| c.call(req)),
        }
    }
}

impl Memcache for RetryingClient {
    /// A single call (a batch of one request) is retried, but `shutdown`
    /// and `quit`; batches of several are not: a command of one may have
    /// run before a connection failed (an incr would count twice).
    fn execute(&self, batch: &mut super::Batch) -> Result<()> {
        if batch.is_single_request() {
            batch.run_with(|b| self.inner.execute(b), |req| self.call_one(req))
        } else {
            self.inner.execute(batch)
        }
    }

    fn inner(&self) -> Option<&dyn Memcache> {
        Some(self.inner.as_ref())
    }
}
