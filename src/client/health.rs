//! Failure tracking for the hash client's nodes, mcrouter style (an option
//! beside pymemcache's retry / dead-node policy, which stays the default).
//!
//! Each node has a `Tracker`. After `threshold` consecutive connection
//! failures the node is *soft-down*: calls for its keys fail fast (or, with
//! `fallback`, go to the key's next node in rendezvous order) without
//! touching a socket. Once a backoff interval has passed, the first call is
//! let through as a *probe* (one caller at a time; the others keep failing
//! fast). A successful probe brings the node back up and resets the
//! interval; a failed one puts it back to soft-down with the interval
//! doubled, up to `max_backoff`. Intervals carry ±20% jitter so that many
//! clients do not probe a recovering server in step. No background thread:
//! all of this happens on the callers' requests.
//!
//! Timeouts (a slow server) and other connection failures (a refused, reset
//! or closed connection) are counted apart; both count toward `threshold`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The failure tracking options (`HashOptions::failure_tracking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureTracking {
    /// Consecutive connection failures that mark a node soft-down (>= 1).
    pub threshold: u32,
    /// The interval before the first probe of a soft-down node.
    pub initial_backoff: Duration,
    /// The longest interval (reached by doubling per failed probe).
    pub max_backoff: Duration,
    /// Send a soft-down node's keys to their next node in rendezvous order
    /// instead of failing fast.
    pub fallback: bool,
}

impl Default for FailureTracking {
    /// 3 failures; probes after 1 s, doubling to at most 30 s; fail fast.
    fn default() -> Self {
        FailureTracking {
            threshold: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            fallback: false,
        }
    }
}

impl FailureTracking {
    /// `Err` with a message when the options cannot work: a threshold of
    /// 0, a zero initial backoff, or a max below the initial backoff.
    pub fn validate(&self) -> Result<(), String> {
        if self.threshold == 0 {
            return Err("failure tracking threshold must be at least 1".into());
        }
        if self.initial_backoff.is_zero() {
            return Err("failure tracking initial backoff must be more than 0".into());
        }
        if self.max_backoff < self.initial_backoff {
            return Err(format!(
                "failure tracking max backoff ({:?}) is below the initial backoff ({:?})",
                self.max_backoff, self.initial_backoff
            ));
        }
        Ok(())
    }
}

/// A node's state. The codes are shared with the per-server metrics
/// (3 = soft-down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NodeState {
    /// Taking requests.
    Up = 0,
    /// Marked down: requests fail fast (or fall back) until the next probe.
    SoftDown = 3,
    /// One request is being let through to see whether it is back.
    Probing = 4,
}

impl NodeState {
    /// The state's code (the C API's `PMC_NODE_*`).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The state's name: "up", "soft-down", "probing".
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::SoftDown => "soft-down",
            NodeState::Probing => "probing",
        }
    }
}

/// Why a node changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StateCause {
    /// A request (or probe) succeeded.
    Success = 0,
    /// A connect, read or write timed out.
    Timeout = 1,
    /// The connection was refused, reset or closed.
    Refused = 2,
    /// The backoff interval passed and a probe was let through.
    ProbeDue = 3,
    /// A probe ended without a verdict (e.g. the pool was exhausted).
    ProbeAborted = 4,
}

/// One state change of one node, given to the state callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEvent {
    /// The node's name (`host:port`).
    pub server: String,
    /// The state before.
    pub from: NodeState,
    /// The state after.
    pub to: NodeState,
    /// What caused it.
    pub cause: StateCause,
}

/// The callback told of every state change (called on the thread whose
/// request caused it, with no lock held).
#[derive(Clone)]
pub struct StateCallback(pub Arc<dyn Fn(&StateEvent) + Send + Sync>);

impl StateCallback {
    /// Wrap `f`.
    pub fn new(f: impl Fn(&StateEvent) + Send + Sync + 'static) -> Self {
        StateCallback(Arc::new(f))
    }
}

impl fmt::Debug for StateCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateCallback(..)")
    }
}

impl PartialEq for StateCallback {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StateCallback {}

/// One node's tracked state, as `HashClient::node_states` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    /// The node's name.
    pub server: String,
    /// Its state now.
    pub state: NodeState,
    /// Connection failures since its last success.
    pub consecutive_failures: u32,
    /// Timeouts counted since the client was made.
    pub timeouts: u64,
    /// Refused / reset / closed connections counted since the client was made.
    pub refusals: u64,
}

/// What a request for a node may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Go,
    /// Go ahead as the probe (the state changed Soft-down -> Probing).
    Probe,
    /// Fail fast: down, next probe in this long (zero when another caller
    /// is probing).
    Down(Duration),
}

/// A state change to report: (from, to, cause).
pub type Transition = (NodeState, NodeState, StateCause);

/// The failure tracker of one node (kept under the node's lock).
#[derive(Debug)]
pub struct Tracker {
    state: NodeState,
    consecutive: u32,
    timeouts: u64,
    refusals: u64,
    backoff: Duration,
    next_probe: Option<Instant>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            state: NodeState::Up,
            consecutive: 0,
            timeouts: 0,
            refusals: 0,
            backoff: Duration::ZERO,
            next_probe: None,
        }
    }
}

impl Tracker {
    /// The state now.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// (consecutive failures, timeouts, refusals).
    pub fn counts(&self) -> (u32, u64, u64) {
        (self.consecutive, self.timeouts, self.refusals)
    }

    /// Whether requests should be routed elsewhere now (with fallback):
    /// soft-down with no probe due, or probing.
    pub fn avoid(&self, now: Instant) -> bool {
        match self.state {
            NodeState::Up => false,
            NodeState::Probing => true,
            NodeState::SoftDown => self.next_probe.is_some_and(|t| now < t),
        }
    }

    /// Whether a request may go to the node now; a due probe changes the
    /// state (returned as a transition).
    pub fn admit(&mut self, now: Instant) -> (Admit, Option<Transition>) {
        match self.state {
            NodeState::Up => (Admit::Go, None),
            NodeState::Probing => (Admit::Down(Duration::ZERO), None),
            NodeState::SoftDown => match self.next_probe {
                Some(t) if now < t => (Admit::Down(t - now), None),
                _ => {
                    self.state = NodeState::Probing;
                    let tr = (
                        NodeState::SoftDown,
                        NodeState::Probing,
                        StateCause::ProbeDue,
                    );
                    (Admit::Probe, Some(tr))
                }
            },
        }
    }

    /// A request to the node succeeded (a server reply counts).
    pub fn on_success(&mut self) -> Option<Transition> {
        self.consecutive = 0;
        if self.state == NodeState::Up {
            return None;
        }
        let from = self.state;
        self.state = NodeState::Up;
        self.backoff = Duration::ZERO;
        self.next_probe = None;
        Some((from, NodeState::Up, StateCause::Success))
    }

    /// A request ended without saying anything about the node (pool
    /// exhausted): a probe is given back.
    pub fn on_neutral(&mut self, now: Instant) -> Option<Transition> {
        if self.state != NodeState::Probing {
            return None;
        }
        self.state = NodeState::SoftDown;
        self.next_probe = Some(now);
        Some((
            NodeState::Probing,
            NodeState::SoftDown,
            StateCause::ProbeAborted,
        ))
    }

    /// A request to the node failed with a connection failure of `cause`
    /// (`Timeout` or `Refused`).
    pub fn on_failure(
        &mut self,
        cause: StateCause,
        opts: &FailureTracking,
        now: Instant,
    ) -> Option<Transition> {
        match cause {
            StateCause::Timeout => self.timeouts += 1,
            _ => self.refusals += 1,
        }
        self.consecutive = self.consecutive.saturating_add(1);
        match self.state {
            NodeState::Up if self.consecutive >= opts.threshold => {
                self.backoff = opts.initial_backoff;
            }
            NodeState::Probing => {
                self.backoff = (self.backoff * 2).clamp(opts.initial_backoff, opts.max_backoff);
            }
            // Below the threshold, or a request sent before the node went
            // down: no change.
            _ => return None,
        }
        let from = self.state;
        self.state = NodeState::SoftDown;
        self.next_probe = Some(now + jitter(self.backoff));
        Some((from, NodeState::SoftDown, cause))
    }
}

/// `d` scaled by a factor in [0.8, 1.2).
fn jitter(d: Duration) -> Duration {
    let r = next_random();
    // 0..400 per mille, then -200: -20% .. +20%.
    let permille = 800 + (r % 400);
    d * permille as u32 / 1000
}

/// A cheap pseudo-random number: splitmix64 over a counter seeded by the
/// clock (quality only matters for spreading probes apart).
fn next_random() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut z = seed.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> FailureTracking {
        FailureTracking {
            threshold: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            fallback: false,
        }
    }

    #[test]
    fn soft_down_after_threshold_then_probe_and_up() {
        let o = opts();
        let mut t = Tracker::default();
        let now = Instant::now();
        assert_eq!(t.on_failure(StateCause::Timeout, &o, now), None);
        assert_eq!(t.on_failure(StateCause::Refused, &o, now), None);
        assert_eq!(
            t.on_failure(StateCause::Refused, &o, now),
            Some((NodeState::Up, NodeState::SoftDown, StateCause::Refused))
        );
        assert_eq!(t.counts(), (3, 1, 2));
        assert!(matches!(t.admit(now).0, Admit::Down(d) if d >= Duration::from_millis(79)));
        assert!(t.avoid(now));
        let later = now + Duration::from_millis(121);
        assert!(!t.avoid(later));
        assert_eq!(
            t.admit(later),
            (
                Admit::Probe,
                Some((
                    NodeState::SoftDown,
                    NodeState::Probing,
                    StateCause::ProbeDue
                ))
            )
        );
        // Only one prober.
        assert_eq!(t.admit(later), (Admit::Down(Duration::ZERO), None));
        assert_eq!(
            t.on_success(),
            Some((NodeState::Probing, NodeState::Up, StateCause::Success))
        );
        assert_eq!(t.admit(later), (Admit::Go, None));
        assert_eq!(t.counts(), (0, 1, 2));
    }

    #[test]
    fn failed_probes_double_the_interval_up_to_the_cap() {
        let o = opts();
        let mut t = Tracker::default();
        let mut now = Instant::now();
        for _ in 0..3 {
            t.on_failure(StateCause::Timeout, &o, now);
        }
        let mut seen = Vec::new();
        for _ in 0..4 {
            now += Duration::from_secs(1);
            assert_eq!(t.admit(now).0, Admit::Probe);
            t.on_failure(StateCause::Timeout, &o, now);
            seen.push(t.backoff);
            let Admit::Down(left) = t.admit(now).0 else {
                panic!("not down")
            };
            assert!(left >= t.backoff * 8 / 10 && left <= t.backoff * 12 / 10);
        }
        let ms = |m| Duration::from_millis(m);
        assert_eq!(seen, vec![ms(200), ms(350), ms(350), ms(350)]);
        // Success resets the interval.
        now += Duration::from_secs(1);
        t.admit(now);
        t.on_success();
        for _ in 0..3 {
            t.on_failure(StateCause::Refused, &o, now);
        }
        assert_eq!(t.backoff, ms(100));
    }

    #[test]
    fn aborted_probe_is_given_back() {
        let o = opts();
        let mut t = Tracker::default();
        let now = Instant::now();
        for _ in 0..3 {
            t.on_failure(StateCause::Refused, &o, now);
        }
        let later = now + Duration::from_secs(1);
        assert_eq!(t.admit(later).0, Admit::Probe);
        assert!(t.on_neutral(later).is_some());
        assert_eq!(t.admit(later).0, Admit::Probe);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let d = Duration::from_millis(1000);
        for _ in 0..1000 {
            let j = jitter(d);
            assert!(j >= Duration::from_millis(800) && j < Duration::from_millis(1200));
        }
    }

    #[test]
    fn validation() {
        assert!(opts().validate().is_ok());
        let bad = |f: fn(&mut FailureTracking)| {
            let mut o = opts();
            f(&mut o);
            o.validate().unwrap_err()
        };
        assert!(bad(|o| o.threshold = 0).contains("threshold"));
        assert!(bad(|o| o.max_backoff = Duration::from_millis(1)).contains("below"));
        assert!(bad(|o| o.initial_backoff = Duration::ZERO).contains("initial"));
    }
}
