//! The hash client's failure tracking (TKO) in the C API: the option, the
//! state callback and the per-node state query.

use super::boundary::{as_mut, run, text};
use super::client::{client, pmc_client};
use super::options::pmc_options;
use super::status::{
    fail, pmc_error, pmc_status, report, PMC_CONFIG_ERROR, PMC_INVALID_ARGUMENT, PMC_OK,
};
use crate::addr::ServerAddr;
use crate::client::{FailureTracking, NodeState, StateCallback, StateCause, StateEvent};
use std::ffi::{c_char, c_int, c_void, CString};
use std::time::Duration;

/// A node is up: requests go to it.
pub const PMC_NODE_UP: c_int = 0;
/// A node is soft-down: requests for its keys fail fast (or fall back).
pub const PMC_NODE_SOFT_DOWN: c_int = 3;
/// A node is being probed by one request.
pub const PMC_NODE_PROBING: c_int = 4;

// The codes are NodeState's and StateCause's.
const _: () = assert!(
    PMC_NODE_UP == NodeState::Up as c_int
        && PMC_NODE_SOFT_DOWN == NodeState::SoftDown as c_int
        && PMC_NODE_PROBING == NodeState::Probing as c_int
        && PMC_NODE_CAUSE_TIMEOUT == StateCause::Timeout as c_int
        && PMC_NODE_CAUSE_REFUSED == StateCause::Refused as c_int
        && PMC_NODE_CAUSE_PROBE_DUE == StateCause::ProbeDue as c_int
        && PMC_NODE_CAUSE_PROBE_ABORTED == StateCause::ProbeAborted as c_int
);

/// State change cause: a request (or probe) succeeded.
pub const PMC_NODE_CAUSE_SUCCESS: c_int = 0;
/// State change cause: a connect, read or write timed out.
pub const PMC_NODE_CAUSE_TIMEOUT: c_int = 1;
/// State change cause: the connection was refused, reset or closed.
pub const PMC_NODE_CAUSE_REFUSED: c_int = 2;
/// State change cause: the backoff interval passed; a probe was let through.
pub const PMC_NODE_CAUSE_PROBE_DUE: c_int = 3;
/// State change cause: a probe ended without a verdict (pool exhausted).
pub const PMC_NODE_CAUSE_PROBE_ABORTED: c_int = 4;

/// Told of a node's state change: `user` as given, the server's name
/// (`host:port`, valid during the call only), the states before and after
/// (`PMC_NODE_*`) and the cause (`PMC_NODE_CAUSE_*`). Called on the thread
/// whose request caused the change, possibly on several threads at once;
/// it must not call the client back.
#[allow(non_camel_case_types)]
pub type pmc_node_state_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        server: *const c_char,
        from: c_int,
        to: c_int,
        cause: c_int,
    ),
>;

/// One node's failure tracking state (`pmc_client_node_state`).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct pmc_node_health {
    /// `PMC_NODE_UP`, `PMC_NODE_SOFT_DOWN` or `PMC_NODE_PROBING`.
    pub state: c_int,
    /// Connection failures since its last success.
    pub consecutive_failures: u32,
    /// Timeouts counted since the client was made.
    pub timeouts: u64,
    /// Refused / reset / closed connections counted since the client was made.
    pub refusals: u64,
}

/// The C callback and its user pointer.
struct CCallback {
    f: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, c_int, c_int),
    user: *mut c_void,
}

// SAFETY: the header makes the caller promise that the callback and its
// user pointer may be used from any thread while a client made with them lives.
unsafe impl Send for CCallback {}
unsafe impl Sync for CCallback {}

impl CCallback {
    fn call(&self, e: &StateEvent) {
        let name = CString::new(e.server.as_str()).unwrap_or_default();
        // SAFETY: the caller promised `f` and `user` stay usable.
        unsafe {
            (self.f)(
                self.user,
                name.as_ptr(),
                e.from as c_int,
                e.to as c_int,
                e.cause as c_int,
            )
        }
    }
}

/// Hash client: mcrouter-style failure tracking instead of pymemcache's
/// retry / dead-server policy. After `threshold` consecutive connection
/// failures (timeouts and refusals both count) a server is soft-down:
/// commands for its keys fail fast with PMC_IO_ERROR ("server ... is marked
/// down", no socket touched; with ignore_exc they give their defaults), or
/// with `fallback_to_next` go to the key's next server in rendezvous order
/// (other keys never move). After `initial_backoff_ms` (±20% jitter) one
/// command is let through as a probe; a failed probe doubles the interval
/// up to `max_backoff_ms`, a success brings the server back up. Returns
/// PMC_OK, PMC_NULL_ARGUMENT, or PMC_CONFIG_ERROR (threshold 0,
/// initial_backoff_ms 0, max below initial; the options are then unchanged).
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_hash_failure_tracking(
    opts: *mut pmc_options,
    threshold: u32,
    initial_backoff_ms: u32,
    max_backoff_ms: u32,
    fallback_to_next: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            let t = FailureTracking {
                threshold,
                initial_backoff: Duration::from_millis(u64::from(initial_backoff_ms)),
                max_backoff: Duration::from_millis(u64::from(max_backoff_ms)),
                fallback: fallback_to_next,
            };
            t.validate().map_err(|m| fail(PMC_CONFIG_ERROR, &m))?;
            o.hash.failure_tracking = Some(t);
            Ok(PMC_OK)
        }),
    )
}

/// Hash client with failure tracking: call `cb(user, server, from, to,
/// cause)` on every node state change (see `pmc_node_state_fn`). NULL `cb`
/// removes it. `cb` and `user` must stay usable, from any thread, while a
/// client made from these options lives.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_hash_state_callback(
    opts: *mut pmc_options,
    cb: pmc_node_state_fn,
    user: *mut c_void,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            o.hash.state_callback = cb.map(|f| {
                let c = CCallback { f, user };
                StateCallback::new(move |e| c.call(e))
            });
            Ok(PMC_OK)
        }),
    )
}

/// A hash client with failure tracking: the state and counters of
/// `server` (as added, `host:port`) into `*out`. Returns PMC_OK,
/// PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT (not a hash client with
/// failure tracking, or no such server).
///
/// # Safety
/// `client` is a live client; `server` a NUL-terminated string; `out`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_node_state(
    client: *const pmc_client,
    server: *const c_char,
    out: *mut pmc_node_health,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let server = text(server, "server")?;
            let out = as_mut(out, "out")?;
            let name = ServerAddr::parse(server)
                .map(|a| a.node_name())
                .unwrap_or_else(|_| server.to_string());
            let states = c.as_hash().map(|h| h.node_states()).unwrap_or_default();
            if states.is_empty() {
                return Err(fail(
                    PMC_INVALID_ARGUMENT,
                    "node states need a hash client with failure tracking \
                     (pmc_options_set_hash_failure_tracking)",
                ));
            }
            let n = states
                .into_iter()
                .find(|n| n.server == name)
                .ok_or_else(|| {
                    fail(
                        PMC_INVALID_ARGUMENT,
                        &format!("server {name} is not in the client"),
                    )
                })?;
            *out = pmc_node_health {
                state: n.state as c_int,
                consecutive_failures: n.consecutive_failures,
                timeouts: n.timeouts,
                refusals: n.refusals,
            };
            Ok(PMC_OK)
        }),
    )
}
