//! `HashClient`: pymemcache's HashClient over several servers. Keys are
//! placed by a `NodeHasher` (rendezvous hashing by default, the same
//! mapping as pymemcache). Multi-key commands split their keys by node and
//! write every node's request before reading any reply, so a get_many over
//! three servers costs one round trip.
//!
//! Failure handling: a connection-level failure (refused, reset, timeout,
//! closed) marks a node failed; while failed, commands for its keys are not
//! sent and fail (or give defaults with `ignore_exc`) until `retry_timeout`
//! has passed, then one is tried again. A success clears the mark; when
//! `retry_attempts` retries have failed too (so after `1 + retry_attempts`
//! failures, each at least `retry_timeout` apart) the node is dead: taken
//! out of the hash, so its keys move to the other nodes, until
//! `dead_timeout` has passed and it is put back. Server replies
//! (CLIENT_ERROR, SERVER_ERROR, ...) never count as node failures.
//!
//! With `HashOptions::failure_tracking` the nodes follow mcrouter-style
//! failure tracking instead (see `health`): soft-down after N consecutive
//! failures, fail fast or fall back to the key's next rendezvous node,
//! probes after a growing, jittered interval; never removed from the hash.

use super::health::{
    Admit, FailureTracking, NodeHealth, NodeState, StateCallback, StateCause, StateEvent, Tracker,
    Transition,
};
use super::request::call_ops;
use super::via_conn::{source_snapshot, ConnGuard, ConnSource};
use super::{
    CasOutcome, Client, ClientOptions, FetchCmd, Item, Memcache, Packed, PackedHit, PooledClient,
    Reply, Request, ServerConn, ServerStats, StoreCmd,
};
use crate::addr::ServerAddr;
use crate::client::server::PIPELINE_BATCH;
use crate::error::{Error, Result};
use crate::hash::{KeyForm, NodeHasher, RendezvousHash};
use crate::key::KeyRules;
use crate::metrics::{self, CallStart, MetricsSnapshot, ServerMetrics, ServerSnapshot};
use crate::pool::{PoolOptions, PoolStats};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The HashClient's own options, with pymemcache's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashOptions {
    /// Retries of a failed node before it is declared dead (default 2).
    pub retry_attempts: u32,
    /// Least time between tries of a failed node (default 1 s).
    pub retry_timeout: Duration,
    /// How long a dead node stays out of the hash (default 60 s).
    pub dead_timeout: Duration,
    /// Give each node a connection pool (default off).
    pub use_pooling: bool,
    /// The pools' options, with `use_pooling`.
    pub pool: PoolOptions,
    /// How the fleet's Python services pass keys (text by default), which
    /// decides where rendezvous hashing places a key.
    pub key_form: KeyForm,
    /// mcrouter-style failure tracking instead of the pymemcache policy
    /// above (default off).
    pub failure_tracking: Option<FailureTracking>,
    /// Told of every node state change under failure tracking.
    pub state_callback: Option<StateCallback>,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            retry_attempts: 2,
            retry_timeout: Duration::from_secs(1),
            dead_timeout: Duration::from_secs(60),
            use_pooling: false,
            pool: PoolOptions::default(),
            key_form: KeyForm::Text,
            failure_tracking: None,
            state_callback: None,
        }
    }
}

/// How `HashClient::phased` counts a node's group in its metrics.
#[derive(Debug, Clone, Copy)]
enum Counted {
    /// One request per node (one multi-key command), its error counted.
    PerCall,
    /// One request per command of the group (a pipelined batch), all of
    /// the group's latency; the caller counts errors, hits and misses
    /// command by command.
    PerCommand,
}

#[allow(clippy::large_enum_variant)] // one per node, made once; boxing buys nothing
enum NodeClient {
    Single(Client),
    Pooled(PooledClient),
}

impl NodeClient {
    fn checkout(&self) -> Result<ConnGuard<'_>> {
        match self {
            NodeClient::Single(c) => c.checkout(),
            NodeClient::Pooled(p) => p.checkout(),
        }
    }

    fn close(&self) {
        match self {
            NodeClient::Single(c) => c.close_all(),
            NodeClient::Pooled(p) => p.close_all(),
        }
    }

    fn metrics(&self) -> Option<&Arc<ServerMetrics>> {
        match self {
            NodeClient::Single(c) => c.metrics(),
            NodeClient::Pooled(p) => p.metrics(),
        }
    }

    /// The node's metrics now, if on.
    fn metrics_snapshot(&self, server: &str) -> Option<ServerSnapshot> {
        match self {
            NodeClient::Single(c) => c.metrics().map(|m| source_snapshot(c, m, server)),
            NodeClient::Pooled(p) => p.metrics().map(|m| source_snapshot(p, m, server)),
        }
    }

    /// Zero the node's metrics.
    fn metrics_reset(&self) {
        match self {
            NodeClient::Single(c) => Memcache::metrics_reset(c),
            NodeClient::Pooled(p) => Memcache::metrics_reset(p),
        }
    }

    /// Record the node's state in its metrics (see `crate::metrics`).
    fn record_state(&self, state: u8) {
        if let Some(m) = self.metrics() {
            m.record_state(state);
        }
    }
}

#[derive(Default)]
struct Health {
    /// Connection failures since the last success.
    failures: u32,
    last_failure: Option<Instant>,
    dead_since: Option<Instant>,
}

struct Node {
    name: String,
    addr: ServerAddr,
    client: NodeClient,
    health: Mutex<Health>,
    /// The failure tracker (used with `failure_tracking`).
    tko: Mutex<Tracker>,
}

struct Ring {
    /// Every node, live or dead, in the order added.
    nodes: Vec<Arc<Node>>,
    by_name: HashMap<String, usize>,
    /// The live nodes.
    hasher: Box<dyn NodeHasher>,
    dead: usize,
}

/// A client for a cluster of memcached servers.
pub struct HashClient {
    ring: RwLock<Ring>,
    opts: ClientOptions,
    hash: HashOptions,
    rules: KeyRules,
    ignore_exc: bool,
}

/// Keys (by index) grouped by the node they live on.
type Groups = Vec<(Arc<Node>, Vec<usize>)>;

impl HashClient {
    /// A client over `servers` with rendezvous hashing.
    pub fn new(servers: &[&str], opts: &ClientOptions, hash: HashOptions) -> Result<HashClient> {
        let addrs = servers
            .iter()
            .map(|s| ServerAddr::parse(s))
            .collect::<Result<Vec<_>>>()?;
        let hasher = Box::new(RendezvousHash::with_key_form(hash.key_form));
        HashClient::with_hasher(&addrs, opts, hash, hasher)
    }

    /// A client over `servers` placing keys with `hasher` (which must start
    /// without nodes; `hash.key_form` is then the hasher's business).
    pub fn with_hasher(
        servers: &[ServerAddr],
        opts: &ClientOptions,
        hash: HashOptions,
        hasher: Box<dyn NodeHasher>,
    ) -> Result<HashClient> {
        if !hasher.nodes().is_empty() {
            return Err(Error::Config("the hasher must start without nodes".into()));
        }
        if let Some(t) = &hash.failure_tracking {
            t.validate().map_err(Error::Config)?;
        }
        let node_opts = ClientOptions {
            ignore_exc: false,
            // Nodes follow the hash client's retry / dead-node policy.
            reconnect_backoff: None,
            ..opts.clone()
        };
        let client = HashClient {
            ring: RwLock::new(Ring {
                nodes: Vec::new(),
                by_name: HashMap::new(),
                hasher,
                dead: 0,
            }),
            rules: opts.key_rules()?,
            ignore_exc: opts.ignore_exc,
            opts: node_opts,
            hash,
        };
        for addr in servers {
            client.add_addr(addr.clone())?;
        }
        Ok(client)
    }

    /// Add a server at run time; keys move to it as the hash says.
    pub fn add_server(&self, server: &str) -> Result<()> {
        self.add_addr(ServerAddr::parse(server)?)
    }

    fn add_addr(&self, addr: ServerAddr) -> Result<()> {
        let name = addr.node_name();
        let client = if self.hash.use_pooling {
            NodeClient::Pooled(PooledClient::with_addr(
                addr.clone(),
                &self.opts,
                self.hash.pool.clone(),
            )?)
        } else {
            NodeClient::Single(Client::with_addr(addr.clone(), &self.opts)?)
        };
        let mut ring = self.ring.write();
        if ring.by_name.contains_key(&name) {
            return Err(Error::Config(format!(
                "server {name} is already in the client"
            )));
        }
        ring.hasher.add_node(&name);
        let idx = ring.nodes.len();
        ring.by_name.insert(name.clone(), idx);
        ring.nodes.push(Arc::new(Node {
            name,
            addr,
            client,
            health: Mutex::new(Health::default()),
            tko: Mutex::new(Tracker::default()),
        }));
        Ok(())
    }

    /// Remove a server at run time; its keys move to the other nodes.
    pub fn remove_server(&self, server: &str) -> Result<()> {
        let name = ServerAddr::parse(server)?.node_name();
        let mut ring = self.ring.write();
        let idx = *ring
            .by_name
            .get(&name)
            .ok_or_else(|| Error::Config(format!("server {name} is not in the client")))?;
        let node = ring.nodes.remove(idx);
        if node.health.lock().dead_since.is_some() {
            ring.dead -= 1;
        }
        ring.hasher.remove_node(&name);
        let names: Vec<(String, usize)> = ring
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        ring.by_name = names.into_iter().collect();
        Ok(())
    }

    /// Every server's node name, live or dead, in the order added.
    pub fn servers(&self) -> Vec<String> {
        self.ring
            .read()
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// The servers currently in the hash (not dead).
    pub fn live_servers(&self) -> Vec<String> {
        self.ring.read().hasher.nodes().to_vec()
    }

    /// The node name `key` is placed on now.
    pub fn server_for(&self, key: &[u8]) -> Result<String> {
        self.rules.check(key)?;
        self.revive_dead();
        let ring = self.ring.read();
        ring.hasher
            .get_node(key)
            .map(str::to_string)
            .ok_or(Error::NoServers)
    }

    /// Put dead nodes whose dead_timeout has passed back into the hash.
    fn revive_dead(&self) {
        let due = |n: &Node| {
            n.health
                .lock()
                .dead_since
                .is_some_and(|t| t.elapsed() >= self.hash.dead_timeout)
        };
        {
            let ring = self.ring.read();
            if ring.dead == 0 || !ring.nodes.iter().any(|n| due(n)) {
                return;
            }
        }
        let mut ring = self.ring.write();
        let revive: Vec<Arc<Node>> = ring.nodes.iter().filter(|n| due(n)).cloned().collect();
        for node in revive {
            *node.health.lock() = Health::default();
            node.client.record_state(metrics::STATE_UP);
            ring.hasher.add_node(&node.name);
            ring.dead -= 1;
        }
    }

    /// The live node for each key, grouped by node in the order nodes were
    /// added (a fixed lock order for multi-node commands).
    fn group<K>(
        &self,
        keys: &[K],
        key_of: impl Fn(&K) -> &[u8],
    ) -> Result<Vec<(Arc<Node>, Vec<usize>)>> {
        self.revive_dead();
        let ring = self.ring.read();
        // Where each live node sits among all nodes, looked up once per call.
        let live: Vec<usize> = ring
            .hasher
            .nodes()
            .iter()
            .map(|n| ring.by_name[n])
            .collect();
        let avoid = self.avoided(&ring, &live);
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            // (No `ok_or`: an error built and dropped per key shows up.)
            let Some(mut node) = ring.hasher.get_node_index(key_of(k)) else {
                return Err(Error::NoServers);
            };
            if avoid.get(node).copied().unwrap_or(false) {
                // Fallback: the key's next node in the hash's order.
                let skip = |j: usize| avoid[j];
                if let Some(next) = ring.hasher.get_node_index_excluding(key_of(k), &skip) {
                    node = next;
                }
            }
            let idx = live[node];
            match groups.iter_mut().find(|(n, _)| *n == idx) {
                Some((_, list)) => list.push(i),
                None => {
                    // Room for every key left: one allocation per node.
                    let mut list = Vec::with_capacity(keys.len() - i);
                    list.push(i);
                    groups.push((idx, list));
                }
            }
        }
        groups.sort_by_key(|(n, _)| *n);
        Ok(groups
            .into_iter()
            .map(|(n, list)| (ring.nodes[n].clone(), list))
            .collect())
    }

    /// With failure tracking and fallback, which live nodes (by position
    /// in the hasher) to route around now; empty when none.
    fn avoided(&self, ring: &Ring, live: &[usize]) -> Vec<bool> {
        if !self.hash.failure_tracking.is_some_and(|t| t.fallback) {
            return Vec::new();
        }
        let now = Instant::now();
        let avoid: Vec<bool> = live
            .iter()
            .map(|&i| ring.nodes[i].tko.lock().avoid(now))
            .collect();
        if avoid.iter().any(|&a| a) {
            avoid
        } else {
            Vec::new()
        }
    }

    /// Report a node's state change: the one place every failure-tracking
    /// transition goes through (call with no lock held).
    fn transition(&self, node: &Node, from: NodeState, to: NodeState, cause: StateCause) {
        node.client.record_state(to as u8);
        if let Some(cb) = &self.hash.state_callback {
            (cb.0)(&StateEvent {
                server: node.name.clone(),
                from,
                to,
                cause,
            });
        }
    }

    fn report(&self, node: &Node, tr: Option<Transition>) {
        if let Some((from, to, cause)) = tr {
            self.transition(node, from, to, cause);
        }
    }

    /// Under failure tracking: every node's state and counters, in the
    /// order added (empty without failure tracking).
    pub fn node_states(&self) -> Vec<NodeHealth> {
        if self.hash.failure_tracking.is_none() {
            return Vec::new();
        }
        self.ring
            .read()
            .nodes
            .iter()
            .map(|n| {
                let t = n.tko.lock();
                let (consecutive_failures, timeouts, refusals) = t.counts();
                NodeHealth {
                    server: n.name.clone(),
                    state: t.state(),
                    consecutive_failures,
                    timeouts,
                    refusals,
                }
            })
            .collect()
    }

    /// Failure tracking's admission: `Err` (failing fast, no socket
    /// touched) while the node is soft-down or another caller probes it.
    fn admit(&self, node: &Node, t: &FailureTracking) -> Result<()> {
        let (admit, tr) = node.tko.lock().admit(Instant::now());
        self.report(node, tr);
        let Admit::Down(left) = admit else {
            return Ok(());
        };
        let when = if left.is_zero() {
            "another request is probing it".to_string()
        } else {
            format!("next probe in {left:?}")
        };
        Err(Error::Io {
            source: std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                format!(
                    "server {} is marked down after {} consecutive connection failures; \
                     failing fast ({when})",
                    node.name, t.threshold
                ),
            ),
            server: Default::default(),
        }
        .at(&Arc::from(node.addr.to_string())))
    }

    /// Failure tracking's bookkeeping of a command's outcome.
    fn track<T>(&self, node: &Node, t: &FailureTracking, res: &Result<T>) {
        let now = Instant::now();
        let tr = {
            let mut tko = node.tko.lock();
            match res {
                Err(Error::Timeout { .. }) => tko.on_failure(StateCause::Timeout, t, now),
                Err(e) if e.is_connection_failure() => tko.on_failure(StateCause::Refused, t, now),
                Err(Error::PoolExhausted { .. }) => tko.on_neutral(now),
                _ => tko.on_success(),
            }
        };
        self.report(node, tr);
    }

    fn node_for(&self, key: &[u8]) -> Result<Arc<Node>> {
        self.rules.check(key)?;
        let mut groups = self.group(&[key], |k| k)?;
        Ok(groups.remove(0).0)
    }

    /// The live nodes, in the order added.
    fn live_nodes(&self) -> Vec<Arc<Node>> {
        self.revive_dead();
        let ring = self.ring.read();
        ring.nodes
            .iter()
            .filter(|n| n.health.lock().dead_since.is_none())
            .cloned()
            .collect()
    }

    /// Whether `node` may be tried now: not dead, and not failed within the
    /// last retry_timeout.
    fn may_try(&self, node: &Node) -> Result<()> {
        if let Some(t) = &self.hash.failure_tracking {
            return self.admit(node, t);
        }
        let h = node.health.lock();
        let waiting = h.dead_since.is_some()
            || (h.failures > 0
                && h.last_failure
                    .is_some_and(|t| t.elapsed() < self.hash.retry_timeout));
        if waiting {
            let why = if h.dead_since.is_some() {
                "dead"
            } else {
                "failed"
            };
            return Err(Error::Io {
                source: std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!(
                        "server is marked {why} after connection errors; it is retried after {:?}",
                        if h.dead_since.is_some() {
                            self.hash.dead_timeout
                        } else {
                            self.hash.retry_timeout
                        }
                    ),
                ),
                server: Default::default(),
            }
            .at(&Arc::from(node.addr.to_string())));
        }
        Ok(())
    }

    /// Update `node`'s health after a command's outcome.
    fn record<T>(&self, node: &Node, res: &Result<T>) {
        if let Some(t) = &self.hash.failure_tracking {
            return self.track(node, t, res);
        }
        match res {
            Err(e) if e.is_connection_failure() => self.record_failure(node),
            Err(Error::PoolExhausted { .. }) => {}
            _ => {
                let mut h = node.health.lock();
                if h.failures > 0 {
                    *h = Health::default();
                    node.client.record_state(metrics::STATE_UP);
                }
            }
        }
    }

    fn record_failure(&self, node: &Node) {
        let now_dead = {
            let mut h = node.health.lock();
            if h.dead_since.is_some() {
                return;
            }
            h.failures += 1;
            h.last_failure = Some(Instant::now());
            if h.failures > self.hash.retry_attempts {
                h.dead_since = Some(Instant::now());
                h.failures = 0;
                node.client.record_state(metrics::STATE_DEAD);
                true
            } else {
                node.client.record_state(metrics::STATE_FAILING);
                false
            }
        };
        if now_dead {
            let mut ring = self.ring.write();
            ring.hasher.remove_node(&node.name);
            ring.dead += 1;
        }
    }

    /// Run one command on `node`, with the failure rules.
    fn run_on<T>(&self, node: &Node, f: impl FnOnce(&mut ServerConn) -> Result<T>) -> Result<T> {
        let unlent = |e: Error| {
            if let Some(m) = node.client.metrics() {
                m.record_unlent(Some(&e), 1);
            }
            e
        };
        self.may_try(node).map_err(unlent)?;
        let res = match node.client.checkout() {
            Ok(conn) => conn.run(f),
            Err(e) => Err(unlent(e)),
        };
        self.record(node, &res);
        res
    }

    /// Route one key's command; with ignore_exc, a failure (or no server)
    /// gives `default`.
    fn keyed<T>(
        &self,
        key: &[u8],
        default: T,
        f: impl Fn(&mut ServerConn) -> Result<T>,
    ) -> Result<T> {
        self.rules.check(key)?;
        let res = self.node_for(key).and_then(|node| {
            let res = self.run_on(&node, &f);
            match &res {
                // The call that found the node down (a failed probe, or the
                // failure that made it soft-down) goes on to the next node,
                // as every later call for the key will.
                Err(e) if self.reroutes(&node, e) => {
                    self.node_for(key).and_then(|next| self.run_on(&next, &f))
                }
                _ => res,
            }
        });
        self.or_default(res, default)
    }

    /// With failure tracking and fallback: whether a call that failed with
    /// `e` on `node` is sent on to the next node (the node is routed around
    /// now, after this failure).
    fn reroutes(&self, node: &Node, e: &Error) -> bool {
        self.hash.failure_tracking.is_some_and(|t| t.fallback)
            && e.is_connection_failure()
            && node.tko.lock().avoid(Instant::now())
    }

    fn or_default<T>(&self, res: Result<T>, default: T) -> Result<T> {
        match res {
            Err(e) if self.ignores(&e) => Ok(default),
            other => other,
        }
    }

    /// Whether `e` gives the command's default instead of an error: with
    /// ignore_exc any error but the caller's, and always a node skipped
    /// while it waits for its retry (pymemcache's HashClient returns the
    /// default then, whatever ignore_exc says; only the failure itself, and
    /// a failed retry, raise).
    fn ignores(&self, e: &Error) -> bool {
        is_skip(e) || (self.ignore_exc && !e.is_caller_error())
    }

    /// Run `f` on every live node; errors are returned (the first) after all
    /// were tried, or skipped with ignore_exc.
    fn on_every_node<T>(
        &self,
        f: impl Fn(&mut ServerConn) -> Result<T>,
    ) -> Result<Vec<(Arc<Node>, T)>> {
        let nodes = self.live_nodes();
        if nodes.is_empty() && !self.ignore_exc {
            return Err(Error::NoServers);
        }
        let mut out = Vec::new();
        let mut first_err = None;
        for node in nodes {
            match self.run_on(&node, &f) {
                Ok(v) => out.push((node, v)),
                Err(e) if self.ignores(&e) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Run each node's group of commands (`send` on every node first, then
    /// `recv` from every node; see `attempt`), and return each group as it
    /// ran with its result. With failure tracking and fallback, the
    /// commands of a node this call found down (see `reroutes`) run again,
    /// once, on the nodes their keys (`key_of` an index) fall back to, as
    /// every later call will send them: they come back as those nodes'
    /// groups, so no caller sees the down node's error. The one
    /// per-node attempt of every multi-node path (multi-key commands,
    /// packed reads, batches).
    fn phased<'k, S, R>(
        &self,
        groups: Groups,
        counted: Counted,
        key_of: impl Fn(usize) -> &'k [u8],
        send: impl Fn(&mut ServerConn, &[usize]) -> Result<S>,
        mut recv: impl FnMut(&mut ServerConn, &[usize], S) -> Result<R>,
    ) -> Vec<(Arc<Node>, Vec<usize>, Result<R>)> {
        let results = self.attempt(&groups, counted, &send, &mut recv);
        let mut out = Vec::with_capacity(groups.len());
        let mut again: Vec<usize> = Vec::new();
        let mut down: Option<(Arc<Node>, Error)> = None;
        for ((node, idx), res) in groups.into_iter().zip(results) {
            match res {
                Err(e) if self.reroutes(&node, &e) => {
                    // A batch counts errors command by command: these
                    // commands failed here, whatever the next node says.
                    if let (Counted::PerCommand, Some(m)) = (counted, node.client.metrics()) {
                        idx.iter().for_each(|_| m.record_error(&e));
                    }
                    again.extend(&idx);
                    down.get_or_insert((node, e));
                }
                res => out.push((node, idx, res)),
            }
        }
        let Some((node, e)) = down else {
            return out;
        };
        let keys: Vec<&[u8]> = again.iter().map(|&i| key_of(i)).collect();
        let regrouped = match self.group(&keys, |k| k) {
            Ok(g) => g,
            Err(_) => {
                out.push((node, again, Err(e)));
                return out;
            }
        };
        let regrouped: Groups = regrouped
            .into_iter()
            .map(|(n, js)| (n, js.into_iter().map(|j| again[j]).collect()))
            .collect();
        let results = self.attempt(&regrouped, counted, &send, &mut recv);
        out.extend(
            regrouped
                .into_iter()
                .zip(results)
                .map(|((n, idx), res)| (n, idx, res)),
        );
        out
    }

    /// Send on every node first, then receive from every node. Nodes that
    /// may not be tried now get their skip error without counting as a
    /// failure.
    fn attempt<S, R>(
        &self,
        groups: &[(Arc<Node>, Vec<usize>)],
        counted: Counted,
        send: &impl Fn(&mut ServerConn, &[usize]) -> Result<S>,
        recv: &mut impl FnMut(&mut ServerConn, &[usize], S) -> Result<R>,
    ) -> Vec<Result<R>> {
        // A group that failed before a connection was lent.
        let unlent = |node: &Node, idx: &[usize], e: &Error| {
            if let Some(m) = node.client.metrics() {
                match counted {
                    Counted::PerCall => m.record_unlent(Some(e), 1),
                    Counted::PerCommand => m.record_unlent(None, idx.len() as u64),
                }
            }
        };
        // A group's call ended, failing with `e` if it did.
        let ended = |conn: ConnGuard<'_>, idx: &[usize], started, e: Option<&Error>| match counted {
            Counted::PerCall => {
                conn.call_end(started, None);
                if let Some(e) = e {
                    conn.fail(e);
                }
            }
            Counted::PerCommand => {
                conn.call_end_n(started, idx.len() as u64);
                if let Some(e) = e {
                    conn.release(e);
                }
            }
        };
        #[allow(clippy::large_enum_variant)] // one per node, for one command
        enum Attempt<'a, S> {
            Skipped(Error),
            Sent(ConnGuard<'a>, S, CallStart),
            Failed(Error),
        }
        let attempts: Vec<Attempt<'_, S>> = groups
            .iter()
            .map(|(node, idx)| {
                if let Err(e) = self.may_try(node) {
                    unlent(node, idx, &e);
                    return Attempt::Skipped(e);
                }
                let mut conn = match node.client.checkout() {
                    Ok(c) => c,
                    Err(e) => {
                        unlent(node, idx, &e);
                        return Attempt::Failed(e);
                    }
                };
                let started = conn.call_begin();
                match send(&mut conn, idx) {
                    Ok(s) => Attempt::Sent(conn, s, started),
                    Err(e) => {
                        ended(conn, idx, started, Some(&e));
                        Attempt::Failed(e)
                    }
                }
            })
            .collect();
        groups
            .iter()
            .zip(attempts)
            .map(|((node, idx), attempt)| match attempt {
                Attempt::Skipped(e) => Err(e),
                Attempt::Failed(e) => {
                    let res = Err(e);
                    self.record(node, &res);
                    res
                }
                Attempt::Sent(mut conn, s, started) => {
                    let res = recv(&mut conn, idx, s);
                    ended(conn, idx, started, res.as_ref().err());
                    self.record(node, &res);
                    res
                }
            })
            .collect()
    }

    /// Split groups into rounds of at most `PIPELINE_BATCH` keys per node,
    /// so that no node's replies outgrow the socket buffers while requests
    /// to the other nodes are still being written.
    fn rounds(groups: &Groups) -> Vec<Groups> {
        let n = groups
            .iter()
            .map(|(_, idx)| idx.len().div_ceil(PIPELINE_BATCH))
            .max()
            .unwrap_or(0);
        (0..n)
            .map(|round| {
                groups
                    .iter()
                    .filter_map(|(node, idx)| {
                        let part: Vec<usize> = idx
                            .iter()
                            .skip(round * PIPELINE_BATCH)
                            .take(PIPELINE_BATCH)
                            .copied()
                            .collect();
                        (!part.is_empty()).then(|| (node.clone(), part))
                    })
                    .collect()
            })
            .collect()
    }

    /// The results of every pooled node's pool, summed.
    fn pools(&self) -> Option<PoolStats> {
        let ring = self.ring.read();
        let mut sum: Option<PoolStats> = None;
        for n in &ring.nodes {
            if let NodeClient::Pooled(p) = &n.client {
                let s = ConnSource::pool_stats(p).unwrap_or_default();
                let t = sum.get_or_insert_with(PoolStats::default);
                t.in_use += s.in_use;
                t.free += s.free;
                t.created += s.created;
                t.destroyed += s.destroyed;
            }
        }
        sum
    }
}

impl HashClient {
    fn op_fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        self.rules.check_all(keys)?;
        let mut out: Vec<Option<Item>> = vec![None; keys.len()];
        let groups = match self.group(keys, |k| k) {
            Ok(g) => g,
            Err(e) => return self.or_default(Err(e), out),
        };
        let results = self.phased(
            groups,
            Counted::PerCall,
            |i| keys[i],
            |conn, idx| {
                let ks: Vec<&[u8]> = idx.iter().map(|&i| keys[i]).collect();
                conn.encode_fetch(cmd, &ks)?;
                conn.send_fetch()
            },
            |conn, _, ()| conn.recv_fetch(cmd.with_cas()),
        );
        let mut first_err = None;
        for (_, idx, res) in results {
            match res {
                Ok(items) => {
                    for (&i, item) in idx.iter().zip(items) {
                        out[i] = item;
                    }
                }
                Err(e) if self.ignores(&e) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn op_store(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        self.keyed(key, false, |c| {
            c.store(cmd, key, value, flags, expire, noreply)
        })
    }

    fn op_set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        crate::protocol::request::check_exptime("expire", expire)?;
        for (k, v) in items {
            self.rules.check(k)?;
            if v.len() > self.opts.max_value_len {
                return Err(Error::TooLarge {
                    len: v.len() as u64,
                    max: self.opts.max_value_len as u64,
                    server: Default::default(),
                });
            }
        }
        let groups = match self.group(items, |(k, _)| k) {
            Ok(g) => g,
            Err(e) => return self.or_default(Err(e), (0..items.len()).collect()),
        };
        let mut failed = Vec::new();
        let mut first_err = None;
        for part in Self::rounds(&groups) {
            let results = self.phased(
                part,
                Counted::PerCall,
                |i| items[i].0,
                |conn, idx| {
                    let batch: Vec<(&[u8], &[u8])> = idx.iter().map(|&i| items[i]).collect();
                    conn.check_items(&batch)?;
                    let noreply = conn.default_noreply(noreply);
                    conn.send_set_batch(&batch, flags, expire, noreply)?;
                    Ok(noreply)
                },
                |conn, idx, noreply| {
                    let mut bad = Vec::new();
                    if !noreply {
                        conn.recv_store_replies(idx.len(), 0, &mut bad)?;
                    }
                    Ok(bad.into_iter().map(|j| idx[j]).collect::<Vec<usize>>())
                },
            );
            for (_, idx, res) in results {
                match res {
                    Ok(bad) => failed.extend(bad),
                    Err(Error::IllegalInput(m)) => return Err(Error::IllegalInput(m)),
                    Err(e) if self.ignores(&e) => failed.extend(idx),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => {
                failed.sort_unstable();
                Ok(failed)
            }
        }
    }

    fn op_cas(
        &self,
        key: &[u8],
        value: &[u8],
        cas: u64,
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<CasOutcome> {
        self.keyed(key, CasOutcome::NotFound, |c| {
            c.cas(key, value, cas, flags, expire, noreply)
        })
    }

    fn op_delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.keyed(key, false, |c| c.delete(key, noreply))
    }

    fn op_delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        self.rules.check_all(keys)?;
        let groups = match self.group(keys, |k| k) {
            Ok(g) => g,
            Err(e) => return self.or_default(Err(e), 0),
        };
        let mut deleted = 0;
        let mut first_err = None;
        for part in Self::rounds(&groups) {
            let results = self.phased(
                part,
                Counted::PerCall,
                |i| keys[i],
                |conn, idx| {
                    let ks: Vec<&[u8]> = idx.iter().map(|&i| keys[i]).collect();
                    let noreply = conn.default_noreply(noreply);
                    conn.send_delete_batch(&ks, noreply)?;
                    Ok(noreply)
                },
                |conn, idx, noreply| {
                    if noreply {
                        Ok(idx.len())
                    } else {
                        conn.recv_delete_replies(idx.len())
                    }
                },
            );
            for (_, _, res) in results {
                match res {
                    Ok(n) => deleted += n,
                    Err(e) if self.ignores(&e) => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(deleted),
        }
    }

    fn op_incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.keyed(key, None, |c| c.incr_decr(true, key, delta, noreply))
    }

    fn op_decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.keyed(key, None, |c| c.incr_decr(false, key, delta, noreply))
    }

    fn op_touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        self.keyed(key, false, |c| c.touch(key, expire, noreply))
    }

    fn op_stats(&self, args: &[&str]) -> Result<Vec<ServerStats>> {
        Ok(self
            .on_every_node(|c| c.stats(args))?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    fn op_version(&self) -> Result<String> {
        self.on_every_node(|c| c.version())?
            .into_iter()
            .map(|(_, v)| v)
            .next()
            .ok_or(Error::NoServers)
    }

    fn op_flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<()> {
        self.on_every_node(|c| c.flush_all(delay, noreply))
            .map(drop)
    }

    fn op_cache_memlimit(&self, megabytes: u64) -> Result<()> {
        self.on_every_node(|c| c.cache_memlimit(megabytes))
            .map(drop)
    }

    fn op_raw_command(&self, _command: &[u8], _end_token: &[u8]) -> Result<Vec<u8>> {
        Err(Error::IllegalInput(
            "raw_command needs one server; a hash client has no key to choose one by".into(),
        ))
    }

    fn op_shutdown(&self, graceful: bool) -> Result<()> {
        self.on_every_node(|c| c.shutdown(graceful)).map(drop)
    }

    fn op_quit(&self) -> Result<()> {
        self.on_every_node(|c| c.quit()).map(drop)
    }
}

impl HashClient {
    /// The single-key commands of `batch` grouped by node and pipelined,
    /// every node's group written before any reply is read.
    fn execute_grouped(&self, batch: &mut super::Batch) -> Result<()> {
        batch.start();
        if batch.is_empty() {
            return Ok(());
        }
        let ops = &batch.ops;
        let keys: Vec<std::borrow::Cow<'_, [u8]>> =
            (0..ops.reqs.len()).map(|i| ops.placement_key(i)).collect();
        let groups = match self.group(&keys, |k| k.as_ref()) {
            Ok(g) => g,
            Err(e) => {
                batch.out.fail_pending(None, &e);
                return Ok(());
            }
        };
        let out = &mut batch.out;
        for round in Self::rounds(&groups) {
            let done = self.phased(
                round,
                Counted::PerCommand,
                |i| keys[i].as_ref(),
                |conn, idx| conn.send_batch(ops, idx.iter().copied()),
                |conn, _idx, rejected| conn.recv_batch(ops, out, rejected),
            );
            for (node, idx, res) in done {
                if let Err(e) = res {
                    out.fail_pending(Some(&idx), &e);
                }
                if let Some(m) = node.client.metrics() {
                    out.count_outcomes(ops, idx.iter().copied(), m);
                }
            }
        }
        Ok(())
    }
}

impl Memcache for HashClient {
    /// A batch of one request runs on the node of its key (multi-key
    /// commands split by node, written to every node before any reply is
    /// read), or on every node for the server-wide ones. In larger batches
    /// the single-key commands are grouped by node; every node's group is
    /// written before any reply is read, so the servers work on their
    /// groups at the same time. A node that fails (or is skipped while
    /// marked failed) fails its own commands only. Whole-client commands
    /// run between the groups (`Batch::run_with`).
    fn execute(&self, batch: &mut super::Batch) -> Result<()> {
        batch.run_with(|b| self.execute_grouped(b), |req| call_ops!(self, req))
    }

    /// A single call straight to the dispatch `execute` runs for a batch of
    /// one request, without copying the request into a batch.
    fn call(&self, req: Request<'_>) -> Result<Reply> {
        call_ops!(self, req)
    }

    fn fetch_packed(&self, cmd: FetchCmd, keys: &[&[u8]], out: &mut Packed) -> Result<()> {
        self.rules.check_all(keys)?;
        let first = out.hits.len();
        let groups = match self.group(keys, |k| k) {
            Ok(g) => g,
            Err(e) => return self.or_default(Err(e), ()),
        };
        let results = self.phased(
            groups,
            Counted::PerCall,
            |i| keys[i],
            |conn, idx| {
                let ks: Vec<&[u8]> = idx.iter().map(|&i| keys[i]).collect();
                conn.encode_fetch(cmd, &ks)?;
                conn.send_fetch()
            },
            |conn, idx, ()| {
                let (hits, bytes) = (out.hits.len(), out.data.len());
                match conn.recv_packed(cmd.with_cas(), out) {
                    Ok(()) => {
                        for h in &mut out.hits[hits..] {
                            h.index = idx[h.index];
                        }
                        Ok(())
                    }
                    Err(e) => {
                        out.hits.truncate(hits);
                        out.data.truncate(bytes);
                        Err(e)
                    }
                }
            },
        );
        // This call's hits back into request order (each index once).
        let mut slot = vec![usize::MAX; keys.len()];
        for (j, h) in out.hits[first..].iter().enumerate() {
            slot[h.index] = first + j;
        }
        let ordered: Vec<PackedHit> = slot
            .into_iter()
            .filter(|&j| j != usize::MAX)
            .map(|j| out.hits[j])
            .collect();
        out.hits.truncate(first);
        out.hits.extend(ordered);
        match results
            .into_iter()
            .filter_map(|(_, _, res)| res.err())
            .find(|e| !self.ignores(e))
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn close(&self) {
        for n in &self.ring.read().nodes {
            n.client.close();
        }
    }

    fn metrics_snapshot(&self) -> MetricsSnapshot {
        let ring = self.ring.read();
        MetricsSnapshot {
            servers: ring
                .nodes
                .iter()
                .filter_map(|n| n.client.metrics_snapshot(&n.addr.to_string()))
                .collect(),
        }
    }

    fn metrics_reset(&self) {
        for n in &self.ring.read().nodes {
            n.client.metrics_reset();
        }
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        self.pools()
    }

    fn pool_clear(&self) {
        for n in &self.ring.read().nodes {
            if let NodeClient::Pooled(p) = &n.client {
                ConnSource::pool_clear(p);
            }
        }
    }

    fn server_for_key(&self, key: &[u8]) -> Result<String> {
        self.server_for(key)
    }

    fn as_hash(&self) -> Option<&HashClient> {
        Some(self)
    }
}

/// A node that was not tried because it is marked failed or dead.
fn is_skip(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotConnected)
}
