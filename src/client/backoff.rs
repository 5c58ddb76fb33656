//! Reconnect backoff: after a failed connect, the next attempts to the same
//! server within a short, growing window fail at once with the same error,
//! instead of every call trying (and failing) again: no reconnect storm
//! while a server is down, and no flood of short-lived sockets.
//!
//! One `Backoff` is shared by every connection to a server (the single
//! client's one, all of a pool's). The window starts at `initial` after the
//! first failure and doubles with each further failure up to `max`; a
//! successful connect resets it. Hash-client nodes do not use it: the hash
//! client has its own retry / dead-node policy.

use crate::error::Error;
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How long connects fail fast after a connect failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffOptions {
    /// The window after the first failure.
    pub initial: Duration,
    /// The longest window (reached by doubling).
    pub max: Duration,
}

impl Default for BackoffOptions {
    /// 10 ms, doubling to at most 1 s.
    fn default() -> Self {
        BackoffOptions {
            initial: Duration::from_millis(10),
            max: Duration::from_secs(1),
        }
    }
}

/// What the last connect failure left behind.
#[derive(Debug, Default)]
struct State {
    /// Failures since the last successful connect.
    failures: u32,
    /// Connects fail fast until then.
    until: Option<Instant>,
    /// The failure, replayed to the calls inside the window.
    last: Option<Replay>,
}

/// A connect error, kept in a form that can be given out again.
#[derive(Debug, Clone)]
enum Replay {
    Io(std::io::ErrorKind, String),
    Timeout(String),
}

/// The shared backoff state of one server.
#[derive(Debug)]
pub struct Backoff {
    opts: BackoffOptions,
    state: Mutex<State>,
}

impl Backoff {
    /// A backoff with no failure yet.
    pub fn new(opts: BackoffOptions) -> Backoff {
        Backoff {
            opts,
            state: Mutex::new(State::default()),
        }
    }

    /// `Err` (the last failure, saying it was not retried) while inside
    /// the window; `Ok` when a connect may be tried.
    pub fn check(&self) -> Result<(), Error> {
        let s = self.state.lock();
        let (Some(until), Some(last)) = (s.until, s.last.as_ref()) else {
            return Ok(());
        };
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let note = format!(
            " (not retried: reconnect backoff after {} failed connect{}, {} ms left)",
            s.failures,
            if s.failures == 1 { "" } else { "s" },
            left.as_millis().max(1)
        );
        Err(match last {
            Replay::Io(kind, text) => Error::Io {
                source: std::io::Error::new(*kind, format!("{text}{note}")),
                server: Default::default(),
            },
            Replay::Timeout(text) => Error::Timeout {
                text: format!("{text}{note}"),
                server: Default::default(),
            },
        })
    }

    /// A connect failed with `err`: open (or widen) the window.
    pub fn failed(&self, err: &Error) {
        let last = match err {
            Error::Io { source, .. } => Replay::Io(source.kind(), source.to_string()),
            Error::Timeout { text, .. } => Replay::Timeout(text.clone()),
            // Not a network failure (e.g. a configuration error): nothing
            // a pause would change.
            _ => return,
        };
        let mut s = self.state.lock();
        s.failures = s.failures.saturating_add(1);
        let window = self
            .opts
            .initial
            .saturating_mul(1u32 << (s.failures - 1).min(20))
            .min(self.opts.max);
        s.until = Some(Instant::now() + window);
        s.last = Some(last);
    }

    /// A connect succeeded: no window.
    pub fn succeeded(&self) {
        let mut s = self.state.lock();
        if s.failures != 0 {
            *s = State::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn refused() -> Error {
        Error::Io {
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused"),
            server: Default::default(),
        }
    }

    fn opts(initial_ms: u64, max_ms: u64) -> BackoffOptions {
        BackoffOptions {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn a_failure_opens_a_window_that_replays_it() {
        let b = Backoff::new(opts(200, 1000));
        assert!(b.check().is_ok());
        b.failed(&refused());
        match b.check() {
            Err(Error::Io { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
                let m = source.to_string();
                assert!(m.starts_with("Connection refused (not retried: reconnect backoff after 1 failed connect,"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        b.succeeded();
        assert!(b.check().is_ok());
    }

    #[test]
    fn the_window_doubles_up_to_max_and_ends() {
        let b = Backoff::new(opts(20, 50));
        let window = |b: &Backoff| {
            let s = b.state.lock();
            s.until.unwrap().saturating_duration_since(Instant::now())
        };
        b.failed(&refused());
        assert!(window(&b) <= Duration::from_millis(20));
        b.failed(&refused());
        assert!(window(&b) > Duration::from_millis(20));
        assert!(window(&b) <= Duration::from_millis(40));
        b.failed(&refused());
        assert!(window(&b) > Duration::from_millis(40));
        assert!(window(&b) <= Duration::from_millis(50));
        for _ in 0..100 {
            b.failed(&refused());
        }
        assert!(window(&b) <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.check().is_ok());
    }

    #[test]
    fn timeouts_are_replayed_as_timeouts_and_other_errors_ignored() {
        let b = Backoff::new(opts(500, 500));
        b.failed(&Error::Config("x".into()));
        assert!(b.check().is_ok());
        b.failed(&Error::Timeout {
            text: "connect timed out".into(),
            server: Default::default(),
        });
        assert!(
            matches!(b.check(), Err(Error::Timeout { text, .. }) if text.starts_with("connect timed out (not retried"))
        );
    }
}
