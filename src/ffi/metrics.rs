//! Per-server metrics on the C surface: a snapshot handle with plain
//! accessors by server index, reset, Prometheus text, and the option.

use super::boundary::{as_mut, as_ref, boundary, run};
use super::client::{client, pmc_client};
use super::options::pmc_options;
use super::status::*;
use super::value::string_to_c;
use crate::metrics::{MetricsSnapshot, ServerSnapshot};
use std::ffi::c_char;

/// A client's metrics at one moment. Made by `pmc_metrics_snapshot`,
/// released by `pmc_metrics_free`.
#[allow(non_camel_case_types)]
pub struct pmc_metrics {
    snap: MetricsSnapshot,
    /// The server names, NUL-terminated, for `pmc_metrics_server_name`.
    names: Vec<std::ffi::CString>,
}

/// Which counter `pmc_metrics_get` reads: one of the `PMC_METRIC_*`
/// constants.
#[allow(non_camel_case_types)]
pub type pmc_metric = i32;
/// Requests to the server: each call, each command of a pipelined batch,
/// and those that failed before a connection was lent (pool exhausted,
/// node skipped or failing fast). Equals the latency histogram's count.
pub const PMC_METRIC_REQUESTS: pmc_metric = 0;
/// Keys found by retrieval commands.
pub const PMC_METRIC_HITS: pmc_metric = 1;
/// Keys not found by retrieval commands.
pub const PMC_METRIC_MISSES: pmc_metric = 2;
/// Timeouts (socket timeouts and call deadlines).
pub const PMC_METRIC_TIMEOUTS: pmc_metric = 3;
/// Connect failures and broken connections.
pub const PMC_METRIC_CONNECTION_ERRORS: pmc_metric = 4;
/// SERVER_ERROR, CLIENT_ERROR and ERROR replies.
pub const PMC_METRIC_SERVER_ERRORS: pmc_metric = 5;
/// Unparsable replies.
pub const PMC_METRIC_PROTOCOL_ERRORS: pmc_metric = 6;
/// Bytes written to the server.
pub const PMC_METRIC_BYTES_SENT: pmc_metric = 7;
/// Bytes read from the server.
pub const PMC_METRIC_BYTES_RECEIVED: pmc_metric = 8;
/// Connections opened.
pub const PMC_METRIC_CONNECTIONS_OPENED: pmc_metric = 9;
/// Connections in use by a call now.
pub const PMC_METRIC_IN_USE: pmc_metric = 10;
/// The most connections in use at once.
pub const PMC_METRIC_PEAK_IN_USE: pmc_metric = 11;
/// Changes of the server's state.
pub const PMC_METRIC_STATE_CHANGES: pmc_metric = 12;
/// The server's state: 0 up, 1 failing (retry pending), 2 dead (out of the
/// hash), 3 soft-down, 4 probing (failure tracking).
pub const PMC_METRIC_STATE: pmc_metric = 13;
/// Calls timed by the latency histogram.
pub const PMC_METRIC_LATENCY_COUNT: pmc_metric = 14;
/// Sum of all latencies, microseconds.
pub const PMC_METRIC_LATENCY_SUM_US: pmc_metric = 15;
/// The largest latency, microseconds.
pub const PMC_METRIC_LATENCY_MAX_US: pmc_metric = 16;

fn metric(s: &ServerSnapshot, which: pmc_metric) -> Option<u64> {
    Some(match which {
        PMC_METRIC_REQUESTS => s.requests,
        PMC_METRIC_HITS => s.hits,
        PMC_METRIC_MISSES => s.misses,
        PMC_METRIC_TIMEOUTS => s.timeouts,
        PMC_METRIC_CONNECTION_ERRORS => s.connection_errors,
        PMC_METRIC_SERVER_ERRORS => s.server_errors,
        PMC_METRIC_PROTOCOL_ERRORS => s.protocol_errors,
        PMC_METRIC_BYTES_SENT => s.bytes_sent,
        PMC_METRIC_BYTES_RECEIVED => s.bytes_received,
        PMC_METRIC_CONNECTIONS_OPENED => s.connections_opened,
        PMC_METRIC_IN_USE => s.in_use,
        PMC_METRIC_PEAK_IN_USE => s.peak_in_use,
        PMC_METRIC_STATE_CHANGES => s.state_changes,
        PMC_METRIC_STATE => u64::from(s.state),
        PMC_METRIC_LATENCY_COUNT => s.latency_count(),
        PMC_METRIC_LATENCY_SUM_US => s.latency_sum_us,
        PMC_METRIC_LATENCY_MAX_US => s.latency_max_us,
        _ => return None,
    })
}

/// A new snapshot handle holding `snap` (for `pmc_metrics_free`).
pub(crate) fn handle(snap: MetricsSnapshot) -> *mut pmc_metrics {
    let names = snap
        .servers
        .iter()
        .map(|s| std::ffi::CString::new(s.server.replace('\0', "")).unwrap_or_default())
        .collect();
    Box::into_raw(Box::new(pmc_metrics { snap, names }))
}

/// The server at `index`, or PMC_INVALID_ARGUMENT naming the range.
fn server(m: &pmc_metrics, index: usize) -> Result<&ServerSnapshot, pmc_status> {
    m.snap.servers.get(index).ok_or_else(|| {
        fail(
            PMC_INVALID_ARGUMENT,
            &format!(
                "server index {index} out of range (the snapshot has {} servers)",
                m.snap.servers.len()
            ),
        )
    })
}

/// Take a snapshot of every server's metrics into `*out` (release with
/// `pmc_metrics_free`). With metrics off (`pmc_options_set_metrics`) the
/// snapshot has no servers.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `client` is a live client; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_snapshot(
    client: *const pmc_client,
    out: *mut *mut pmc_metrics,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let out = as_mut(out, "out")?;
            *out = handle(c.metrics_snapshot());
            Ok(PMC_OK)
        }),
    )
}

/// Release a snapshot. NULL is a no-op.
///
/// # Safety
/// `m` is NULL or a snapshot not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_free(m: *mut pmc_metrics) {
    boundary(|| {
        if !m.is_null() {
            drop(Box::from_raw(m));
        }
    })
}

/// How many servers the snapshot holds (0 for NULL).
///
/// # Safety
/// `m` is NULL or a live snapshot.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_server_count(m: *const pmc_metrics) -> usize {
    boundary(|| m.as_ref().map_or(0, |m| m.snap.servers.len()))
}

/// The name ("host:port" or a socket path) of server `index`, owned by the
/// snapshot; NULL for a NULL snapshot or an index out of range.
///
/// # Safety
/// `m` is NULL or a live snapshot.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_server_name(
    m: *const pmc_metrics,
    index: usize,
) -> *const c_char {
    boundary(|| {
        m.as_ref()
            .and_then(|m| m.names.get(index))
            .map_or(std::ptr::null(), |n| n.as_ptr())
    })
}

/// Read counter `which` (a `PMC_METRIC_*` constant) of server `index` into
/// `*out`.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT (index out
/// of range, unknown metric).
///
/// # Safety
/// `m` is a live snapshot; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_get(
    m: *const pmc_metrics,
    index: usize,
    which: pmc_metric,
    out: *mut u64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let m = as_ref(m, "metrics")?;
            let out = as_mut(out, "out")?;
            let s = server(m, index)?;
            *out = metric(s, which).ok_or_else(|| {
                fail(
                    PMC_INVALID_ARGUMENT,
                    &format!("unknown metric {which} (want a PMC_METRIC_* constant)"),
                )
            })?;
            Ok(PMC_OK)
        }),
    )
}

/// The latency in microseconds below which a fraction `quantile` (0 to 1:
/// 0.5 for p50, 0.99 for p99, 1 for the max) of server `index`'s calls
/// fell, from the power-of-two histogram (the bucket's upper bound, never
/// above the largest latency seen; 0 with no calls).
/// Returns PMC_OK, PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT (index out
/// of range, quantile outside [0, 1]).
///
/// # Safety
/// `m` is a live snapshot; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_latency_us(
    m: *const pmc_metrics,
    index: usize,
    quantile: f64,
    out: *mut u64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let m = as_ref(m, "metrics")?;
            let out = as_mut(out, "out")?;
            let s = server(m, index)?;
            if !(0.0..=1.0).contains(&quantile) {
                return Err(fail(
                    PMC_INVALID_ARGUMENT,
                    &format!("quantile {quantile} is outside [0, 1]"),
                ));
            }
            *out = if quantile == 1.0 {
                s.latency_max_us
            } else {
                s.latency_quantile_us(quantile)
            };
            Ok(PMC_OK)
        }),
    )
}

/// The snapshot in Prometheus text exposition format (names prefixed
/// `pymemcache_`, label `server="host:port"`), as a new string in `*out`
/// (release with `pmc_string_free`) of `*len` bytes (`len` may be NULL).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `m` is a live snapshot; `out` is writable; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_prometheus(
    m: *const pmc_metrics,
    out: *mut *mut c_char,
    len: *mut usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let m = as_ref(m, "metrics")?;
            let out = as_mut(out, "out")?;
            let text = m.snap.prometheus();
            if let Some(l) = len.as_mut() {
                *l = text.len();
            }
            *out = string_to_c(&text);
            Ok(PMC_OK)
        }),
    )
}

/// Zero every server's counters and latency histogram (in-use counts and
/// states stay).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_metrics_reset(
    client: *const pmc_client,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            self::client(client)?.metrics_reset();
            Ok(PMC_OK)
        }),
    )
}

/// Keep per-server metrics (default on). Off: nothing is counted and
/// snapshots have no servers.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_metrics(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            as_mut(opts, "opts")?.client.metrics = value;
            Ok(PMC_OK)
        }),
    )
}
