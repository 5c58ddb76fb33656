//! Per-server metrics kept by every client kind: plain atomic counters and a
//! latency histogram with fixed power-of-two buckets, so that counting never
//! takes a lock. One `Arc<ServerMetrics>` is shared by every connection to a
//! server (like the reconnect `Backoff`); `ClientOptions::metrics` turns all
//! counting off.

use crate::error::Error;
use crate::ticks::TickClock;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

/// Number of finite latency buckets: bucket `i` counts calls of at most
/// 2^i microseconds (1 µs .. 2^26 µs, about 67 s).
pub const FINITE_BUCKETS: usize = 27;
/// All buckets: the finite ones and one for anything slower.
pub const BUCKETS: usize = FINITE_BUCKETS + 1;

/// Server state code: up.
pub const STATE_UP: u8 = 0;
/// Server state code: failing (marked failed, a retry pending).
pub const STATE_FAILING: u8 = 1;
/// Server state code: dead (taken out of the hash).
pub const STATE_DEAD: u8 = 2;
/// Server state code: soft-down (failure tracking: failing fast until a probe).
pub const STATE_SOFT_DOWN: u8 = 3;
/// Server state code: probing (failure tracking: one request let through).
pub const STATE_PROBING: u8 = 4;

/// The class an error is counted under, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A timeout or the call's deadline.
    Timeout,
    /// Connecting failed or the connection broke (I/O, close, TLS, login).
    Connection,
    /// `SERVER_ERROR`, `CLIENT_ERROR` or `ERROR` replies.
    Server,
    /// A reply that could not be parsed.
    Protocol,
}

impl ErrorClass {
    /// The class of `e`; `None` for errors that are not the server's
    /// (illegal input, values too large, serde failures...).
    pub fn of(e: &Error) -> Option<ErrorClass> {
        match e {
            // Waiting for a free pooled connection timed out.
            Error::Timeout { .. } | Error::PoolExhausted { .. } => Some(ErrorClass::Timeout),
            Error::Io { .. }
            | Error::UnexpectedClose { .. }
            | Error::Tls { .. }
            | Error::Auth { .. } => Some(ErrorClass::Connection),
            Error::ServerError { .. }
            | Error::ClientError { .. }
            | Error::UnknownCommand { .. } => Some(ErrorClass::Server),
            Error::UnknownError { .. } => Some(ErrorClass::Protocol),
            _ => None,
        }
    }
}

/// Counting cells of the histogram: one per possible `cell_of`, so that
/// recording needs neither a clamp nor a branch. The snapshot folds cell 63
/// (0 µs) into bucket 0 and cells 27..63 into the last bucket.
const CELLS: usize = 64;

/// The largest latency `Histogram::record_us` takes, microseconds.
pub const MAX_US: u64 = 1 << 62;

/// A latency histogram: counts per power-of-two bucket of microseconds,
/// their sum and the largest value.
#[derive(Debug)]
pub struct Histogram {
    cells: [AtomicU64; CELLS],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

/// The bucket of a latency of `us` microseconds.
pub fn bucket_of(us: u64) -> usize {
    match us {
        0 => 0,
        _ => cell_of(us.min(MAX_US)).min(FINITE_BUCKETS),
    }
}

/// The histogram cell of `us` microseconds: the smallest `i` with
/// `us <= 2^i`, that is floor(log2(2us - 1)) (one `bsr`, no zero test:
/// 2us - 1 is odd), except that 0 µs wraps to cell 63. No latency reaches
/// 2^62 µs (`MAX_US`, which `Histogram::record_us` takes as given), so
/// cell 63 means 0: bucket 0.
#[inline]
fn cell_of(us: u64) -> usize {
    ((us << 1).wrapping_sub(1) | 1).ilog2() as usize
}

/// The upper bound of bucket `i` in microseconds (`u64::MAX` for the last).
pub fn bucket_bound_us(i: usize) -> u64 {
    if i < FINITE_BUCKETS {
        1 << i
    } else {
        u64::MAX
    }
}

impl Histogram {
    /// Count one latency.
    #[inline]
    pub fn record(&self, d: Duration) {
        self.record_us(
            d.as_secs()
                .saturating_mul(1_000_000)
                .saturating_add(u64::from(d.subsec_micros()))
                .min(MAX_US),
        )
    }

    /// Count one latency of `us` microseconds, at most `MAX_US` (146,000
    /// years: ticks converted by `crate::ticks` are far below it).
    #[inline]
    pub fn record_us(&self, us: u64) {
        debug_assert!(us <= MAX_US);
        self.cells[cell_of(us)].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.note_max(us);
    }

    /// Count `n` latencies of `us` microseconds each (the commands of one
    /// pipelined batch, which all waited for the same round trip).
    pub fn record_us_n(&self, us: u64, n: u64) {
        let us = us.min(MAX_US);
        self.cells[cell_of(us)].fetch_add(n, Relaxed);
        self.sum_us.fetch_add(us.saturating_mul(n), Relaxed);
        self.note_max(us);
    }

    /// Raise the maximum to `us`.
    #[inline]
    fn note_max(&self, us: u64) {
        // A plain load first: a new maximum is rare, a compare-exchange
        // loop on every call is not needed.
        if us > self.max_us.load(Relaxed) {
            self.max_us.fetch_max(us, Relaxed);
        }
    }

    fn snapshot(&self) -> ([u64; BUCKETS], u64, u64) {
        (
            std::array::from_fn(|i| match i {
                0 => self.cells[0].load(Relaxed) + self.cells[CELLS - 1].load(Relaxed),
                FINITE_BUCKETS => self.cells[i..CELLS - 1]
                    .iter()
                    .map(|c| c.load(Relaxed))
                    .sum(),
                _ => self.cells[i].load(Relaxed),
            }),
            self.sum_us.load(Relaxed),
            self.max_us.load(Relaxed),
        )
    }

    fn reset(&self) {
        for b in &self.cells {
            b.store(0, Relaxed);
        }
        self.sum_us.store(0, Relaxed);
        self.max_us.store(0, Relaxed);
    }
}

/// The counters of one server, shared by every connection to it.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    hits: AtomicU64,
    misses: AtomicU64,
    timeouts: AtomicU64,
    connection_errors: AtomicU64,
    server_errors: AtomicU64,
    protocol_errors: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    connections_opened: AtomicU64,
    in_use: AtomicU64,
    peak_in_use: AtomicU64,
    state_changes: AtomicU64,
    state: AtomicU8,
    latency: Histogram,
    /// Times calls (see `crate::ticks`).
    clock: TickClock,
}

/// When a call counted by `ServerMetrics::start` began, in the metrics'
/// own clock ticks; give it back to `ServerMetrics::finish`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStart(u64);

impl ServerMetrics {
    /// Fresh counters, all zero, state up.
    pub fn new() -> ServerMetrics {
        ServerMetrics::default()
    }

    /// A call starts using a connection: one more in-use connection (the
    /// request is counted when it ends, by the latency histogram).
    #[inline]
    pub fn begin(&self) {
        let now = self.in_use.fetch_add(1, Relaxed) + 1;
        if now > self.peak_in_use.load(Relaxed) {
            self.peak_in_use.fetch_max(now, Relaxed);
        }
    }

    /// The call that `begin` started ended after `took`, failing with
    /// `err` if it did.
    #[inline]
    pub fn end(&self, took: Duration, err: Option<&Error>) {
        self.in_use.fetch_sub(1, Relaxed);
        self.latency.record(took);
        if let Some(e) = err {
            self.record_error(e);
        }
    }

    /// A call starts on a connection its client lent: its start on the
    /// metrics' cheap clock (a time-stamp counter read where the OS trusts
    /// it; see `crate::ticks`). Latency is time on the connection: waiting
    /// for one is not in it, and a call that got none is 0 µs
    /// (`record_unlent`). The client counts the connections in use itself
    /// (a lock or a pool: its snapshot takes `in_use` and `peak_in_use`
    /// from there, not from `begin`/`end`).
    #[inline]
    pub fn start(&self) -> CallStart {
        CallStart(self.clock.now())
    }

    /// `start` when metrics are on.
    #[inline]
    pub fn start_of(metrics: Option<&std::sync::Arc<ServerMetrics>>) -> CallStart {
        match metrics {
            Some(m) => m.start(),
            None => CallStart::default(),
        }
    }

    /// The call `start` started ended, failing with `err` if it did: its
    /// latency from the same clock, and the error's class.
    #[inline]
    pub fn finish(&self, started: CallStart, err: Option<&Error>) {
        // Linux keeps time with the counter only once it found it in step
        // on every CPU, and `Instant` is monotonic: never negative.
        let ticks = self.clock.now().wrapping_sub(started.0);
        self.latency.record_us(self.clock.micros(ticks));
        if let Some(e) = err {
            self.record_error(e);
        }
    }

    /// `finish` for `n` commands sent together (a pipelined batch): `n`
    /// requests, each of the batch's latency. Their errors, hits and misses
    /// are counted command by command (`record_error`, `record_lookups`).
    pub fn finish_n(&self, started: CallStart, n: u64) {
        let ticks = self.clock.now().wrapping_sub(started.0);
        self.latency.record_us_n(self.clock.micros(ticks), n);
    }

    /// `n` requests that failed before a connection was lent (pool
    /// exhausted, node skipped or failing fast), with `e` if it is theirs
    /// (a batch counts its errors command by command): requests of 0 µs
    /// on a connection, `e` counted `n` times under its class.
    #[cold]
    pub fn record_unlent(&self, e: Option<&Error>, n: u64) {
        self.latency.record_us_n(0, n);
        if let Some(e) = e {
            self.record_errors(e, n);
        }
    }

    /// Count an error under its class (errors of no class are not counted).
    #[cold]
    pub fn record_error(&self, e: &Error) {
        self.record_errors(e, 1)
    }

    /// Count `n` errors like `e` under its class.
    fn record_errors(&self, e: &Error, n: u64) {
        let c = match ErrorClass::of(e) {
            Some(ErrorClass::Timeout) => &self.timeouts,
            Some(ErrorClass::Connection) => &self.connection_errors,
            Some(ErrorClass::Server) => &self.server_errors,
            Some(ErrorClass::Protocol) => &self.protocol_errors,
            None => return,
        };
        c.fetch_add(n, Relaxed);
    }

    /// Count the hits and misses of one retrieval reply.
    #[inline]
    pub fn record_lookups(&self, hits: u64, misses: u64) {
        self.hits.fetch_add(hits, Relaxed);
        self.misses.fetch_add(misses, Relaxed);
    }

    /// Count bytes written to the server.
    #[inline]
    pub fn record_sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Relaxed);
    }

    /// Count bytes read from the server.
    #[inline]
    pub fn record_received(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Relaxed);
    }

    /// Count a connection opened.
    pub fn record_connect(&self) {
        self.connections_opened.fetch_add(1, Relaxed);
    }

    /// Set the server's state (`STATE_UP`, `STATE_FAILING`, `STATE_DEAD`,
    /// `STATE_SOFT_DOWN`); a change from the current one is counted.
    pub fn record_state(&self, state: u8) {
        if self.state.swap(state, Relaxed) != state {
            self.state_changes.fetch_add(1, Relaxed);
        }
    }

    /// Zero every counter and the histogram (the in-use count and the state
    /// stay: they describe now, not the past; the peak restarts from now).
    pub fn reset(&self) {
        for c in [
            &self.hits,
            &self.misses,
            &self.timeouts,
            &self.connection_errors,
            &self.server_errors,
            &self.protocol_errors,
            &self.bytes_sent,
            &self.bytes_received,
            &self.connections_opened,
            &self.state_changes,
        ] {
            c.store(0, Relaxed);
        }
        self.peak_in_use.store(self.in_use.load(Relaxed), Relaxed);
        self.latency.reset();
    }

    /// The counters now, as plain numbers, for the server named `server`.
    pub fn snapshot(&self, server: &str) -> ServerSnapshot {
        let (buckets, sum_us, max_us) = self.latency.snapshot();
        ServerSnapshot {
            server: server.to_string(),
            requests: buckets.iter().sum(),
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            connection_errors: self.connection_errors.load(Relaxed),
            server_errors: self.server_errors.load(Relaxed),
            protocol_errors: self.protocol_errors.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            connections_opened: self.connections_opened.load(Relaxed),
            in_use: self.in_use.load(Relaxed),
            peak_in_use: self.peak_in_use.load(Relaxed),
            state_changes: self.state_changes.load(Relaxed),
            state: self.state.load(Relaxed),
            latency_buckets: buckets,
            latency_sum_us: sum_us,
            latency_max_us: max_us,
        }
    }
}

/// One server's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// The server, "host:port" (or a socket path).
    pub server: String,
    /// Requests to the server, completed (the count of the latency
    /// histogram): each call, each command of a pipelined batch, and those
    /// that failed before a connection was lent (pool exhausted, node
    /// skipped while marked failed or dead, failing fast while soft-down).
    pub requests: u64,
    /// Keys found by retrieval commands.
    pub hits: u64,
    /// Keys not found by retrieval commands.
    pub misses: u64,
    /// Timeouts (socket timeouts and call deadlines).
    pub timeouts: u64,
    /// Connect failures and broken connections.
    pub connection_errors: u64,
    /// `SERVER_ERROR`, `CLIENT_ERROR` and `ERROR` replies.
    pub server_errors: u64,
    /// Unparsable replies.
    pub protocol_errors: u64,
    /// Bytes written to the server.
    pub bytes_sent: u64,
    /// Bytes read from the server.
    pub bytes_received: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Connections in use by a call now.
    pub in_use: u64,
    /// The most connections in use at once.
    pub peak_in_use: u64,
    /// Changes of `state`.
    pub state_changes: u64,
    /// The state code: 0 up, 1 failing, 2 dead, 3 soft-down, 4 probing.
    pub state: u8,
    /// Calls per latency bucket (see `bucket_bound_us`), not cumulative.
    pub latency_buckets: [u64; BUCKETS],
    /// Sum of all latencies, microseconds.
    pub latency_sum_us: u64,
    /// The largest latency, microseconds.
    pub latency_max_us: u64,
}

impl ServerSnapshot {
    /// Calls timed by the histogram.
    pub fn latency_count(&self) -> u64 {
        self.latency_buckets.iter().sum()
    }

    /// The latency below which a fraction `q` (0..=1) of calls fall, in
    /// microseconds: the upper bound of the bucket holding that rank, never
    /// above the largest latency seen; 0 with no calls.
    pub fn latency_quantile_us(&self, q: f64) -> u64 {
        let count = self.latency_count();
        if count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.latency_buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_bound_us(i).min(self.latency_max_us);
            }
        }
        self.latency_max_us
    }
}

/// Every server's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// One entry per server (empty with metrics off).
    pub servers: Vec<ServerSnapshot>,
}

impl MetricsSnapshot {
    /// The snapshot in Prometheus text exposition format: metric names
    /// prefixed `pymemcache_`, one `server="host:port"` label, the latency
    /// as the histogram `pymemcache_request_duration_seconds`.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        type Get = fn(&ServerSnapshot) -> u64;
        let counters: [(&str, &str, &str, Get); 14] = [
            (
                "requests_total",
                "counter",
                "Requests to the server (calls, batch commands, calls failed before a connection was lent).",
                |s| s.requests,
            ),
            (
                "hits_total",
                "counter",
                "Keys found by retrieval commands.",
                |s| s.hits,
            ),
            (
                "misses_total",
                "counter",
                "Keys not found by retrieval commands.",
                |s| s.misses,
            ),
            ("timeout_errors_total", "counter", "Timeouts.", |s| {
                s.timeouts
            }),
            (
                "connection_errors_total",
                "counter",
                "Connect failures and broken connections.",
                |s| s.connection_errors,
            ),
            (
                "server_errors_total",
                "counter",
                "SERVER_ERROR, CLIENT_ERROR and ERROR replies.",
                |s| s.server_errors,
            ),
            (
                "protocol_errors_total",
                "counter",
                "Unparsable replies.",
                |s| s.protocol_errors,
            ),
            (
                "sent_bytes_total",
                "counter",
                "Bytes written to the server.",
                |s| s.bytes_sent,
            ),
            (
                "received_bytes_total",
                "counter",
                "Bytes read from the server.",
                |s| s.bytes_received,
            ),
            (
                "connections_opened_total",
                "counter",
                "Connections opened.",
                |s| s.connections_opened,
            ),
            (
                "connections_in_use",
                "gauge",
                "Connections in use by a call.",
                |s| s.in_use,
            ),
            (
                "connections_in_use_peak",
                "gauge",
                "The most connections in use at once.",
                |s| s.peak_in_use,
            ),
            (
                "state_changes_total",
                "counter",
                "Server state changes.",
                |s| s.state_changes,
            ),
            (
                "state",
                "gauge",
                "Server state: 0 up, 1 failing, 2 dead, 3 soft-down, 4 probing.",
                |s| u64::from(s.state),
            ),
        ];
        for (name, kind, help, get) in counters {
            let _ = writeln!(out, "# HELP pymemcache_{name} {help}");
            let _ = writeln!(out, "# TYPE pymemcache_{name} {kind}");
            for s in &self.servers {
                let _ = writeln!(
                    out,
                    "pymemcache_{name}{{server=\"{}\"}} {}",
                    label(&s.server),
                    get(s)
                );
            }
        }
        let name = "pymemcache_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Call latency.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for s in &self.servers {
            let server = label(&s.server);
            let mut cum = 0;
            for (i, n) in s.latency_buckets.iter().enumerate() {
                cum += n;
                let le = if i < FINITE_BUCKETS {
                    format!("{}", bucket_bound_us(i) as f64 / 1e6)
                } else {
                    "+Inf".to_string()
                };
                let _ = writeln!(
                    out,
                    "{name}_bucket{{server=\"{server}\",le=\"{le}\"}} {cum}"
                );
            }
            let sum = s.latency_sum_us as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{server=\"{server}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{server=\"{server}\"}} {cum}");
        }
        out
    }
}

/// A label value escaped for the exposition format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_microseconds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 2);
        assert_eq!(bucket_of(5), 3);
        assert_eq!(bucket_of(1 << 26), 26);
        assert_eq!(bucket_of((1 << 26) + 1), FINITE_BUCKETS);
        assert_eq!(bucket_of(u64::MAX), FINITE_BUCKETS);
    }

    #[test]
    fn zero_and_huge_latencies_land_in_the_end_buckets() {
        let m = ServerMetrics::new();
        m.latency.record_us(0);
        m.latency.record(Duration::MAX);
        m.latency.record_us(3);
        let s = m.snapshot("a:1");
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[2], 1);
        assert_eq!(s.latency_buckets[FINITE_BUCKETS], 1);
        assert_eq!(s.latency_count(), 3);
        assert_eq!(s.latency_max_us, MAX_US);
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let m = ServerMetrics::new();
        for _ in 0..90 {
            m.latency.record(Duration::from_micros(3));
        }
        for _ in 0..10 {
            m.latency.record(Duration::from_micros(1000));
        }
        let s = m.snapshot("a:1");
        assert_eq!(s.latency_count(), 100);
        assert_eq!(s.latency_quantile_us(0.5), 4);
        assert_eq!(s.latency_quantile_us(0.9), 4);
        assert_eq!(s.latency_quantile_us(0.99), 1000);
        assert_eq!(s.latency_max_us, 1000);
        assert_eq!(s.latency_sum_us, 90 * 3 + 10 * 1000);
    }

    #[test]
    fn state_changes_count_only_changes() {
        let m = ServerMetrics::new();
        m.record_state(STATE_UP);
        m.record_state(STATE_FAILING);
        m.record_state(STATE_FAILING);
        m.record_state(STATE_DEAD);
        let s = m.snapshot("a:1");
        assert_eq!((s.state, s.state_changes), (STATE_DEAD, 2));
    }

    #[test]
    fn prometheus_text_has_every_family() {
        let m = ServerMetrics::new();
        m.begin();
        m.end(Duration::from_micros(10), None);
        let text = MetricsSnapshot {
            servers: vec![m.snapshot("h:1")],
        }
        .prometheus();
        assert!(
            text.contains("pymemcache_requests_total{server=\"h:1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "pymemcache_request_duration_seconds_bucket{server=\"h:1\",le=\"0.000016\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "pymemcache_request_duration_seconds_bucket{server=\"h:1\",le=\"+Inf\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("pymemcache_request_duration_seconds_count{server=\"h:1\"} 1\n"),
            "{text}"
        );
    }
}
