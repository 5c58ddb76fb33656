//! The non-blocking client (issue 20), for event loops, in the style of
//! libpq's and c-ares' asynchronous interfaces: the library never blocks
//! and starts no thread; the caller's loop waits on the descriptors.
//!
//! ```text
//!   submit_get/submit_set/submit_delete/submit_batch   (queue, never block)
//!   loop {
//!       watches()  -> [(fd, READ|WRITE)]               (what to wait for)
//!       timeout()  -> Option<Duration>                 (until when)
//!       poll/epoll/uv_poll ...
//!       step(fd, events)                               (read, write, parse, expire)
//!       while let Some(c) = next_completion() { ... }  (results by token)
//!   }
//! ```
//!
//! Design:
//! - One connection per server (`conn::Conn`), opened by the first
//!   operation for it with a non-blocking connect; the connect's deadline
//!   is `connect_timeout`. A closed or broken connection is reopened by the
//!   next operation for that server.
//! - Pipelining: each operation's request is appended to the connection's
//!   write buffer and its slot to a FIFO; replies are matched in order
//!   (the text protocol has no tokens), so the parsers (`parse`) take a
//!   whole reply or nothing from the read buffer.
//! - Deadlines per operation: an operation past its deadline completes with
//!   a timeout at once, and its slot stays as a placeholder whose reply is
//!   read and dropped, so later replies stay matched. When only expired
//!   placeholders are left on a connection the server is taken as hung and
//!   the connection is closed. Cancelling makes a placeholder too, and
//!   delivers nothing.
//! - A server that closes the connection, or a socket error, completes every
//!   operation in flight on it with that error (`UnexpectedClose`, `Io`).
//! - Several servers: keys are placed by the same rendezvous hash as
//!   `HashClient` (same node names, same key form), so both agree. There
//!   is no failover or dead-server tracking: an operation for a down server
//!   fails with its connection error.
//! - Batches (`Batch`) are grouped per server and sent as meta commands
//!   with `mn`, as `pmc_batch_execute` sends them; each server's replies
//!   are taken whole (up to `MN`) and read into the batch.
//! - Metrics (`ClientOptions::metrics`, default on): one
//!   `ServerMetrics` per server, counted as the blocking clients count
//!   them. A request per operation and per command of a batch; its latency
//!   runs from submit to completion (one tick read at each end); hits and
//!   misses of gets and batch retrievals; errors by class (an operation's
//!   deadline or the connect's: timeout; refused, reset, closed:
//!   connection; error replies: server; unparsable: protocol); bytes sent
//!   and received; connections opened. A server's connection is in use (1)
//!   while it has operations in flight, placeholders included (the async
//!   counterpart of a connection lent to a call); the peak is 1 once that
//!   happened since the last reset. Cancelled and abandoned operations are
//!   not counted (neither requests nor errors).
//! - Not supported yet: TLS and ASCII authentication (`new` refuses them),
//!   reconnect backoff. A host name (not an IP literal) is resolved when
//!   its connection opens, which may block on the system's resolver.

mod conn;
mod parse;

use crate::addr::ServerAddr;
use crate::client::batch::Batch;
use crate::client::server::batch_io;
use crate::client::ClientOptions;
use crate::error::{Error, Result};
use crate::hash::{KeyForm, NodeHasher, RendezvousHash};
use crate::key::KeyRules;
use crate::metrics::{MetricsSnapshot, ServerMetrics};
use crate::protocol::request;
use conn::{Answer, Conn, ConnOptions, Expect, Finished, Slot};
use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Watch the descriptor for reading.
pub const WANT_READ: i32 = 1;
/// Watch the descriptor for writing.
pub const WANT_WRITE: i32 = 2;

/// A descriptor to watch and for what (`WANT_READ | WANT_WRITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// The socket descriptor.
    pub fd: RawFd,
    /// `WANT_READ`, `WANT_WRITE` or both.
    pub events: i32,
}

/// What a completed operation did.
#[derive(Debug)]
pub enum Outcome {
    /// A get hit: the value and the item's flags.
    Value {
        /// The value.
        value: Vec<u8>,
        /// The item's client flags.
        flags: u32,
    },
    /// A get found nothing.
    Miss,
    /// set stored the value.
    Stored,
    /// The value was not stored.
    NotStored,
    /// cas mismatch (not produced by the current operations).
    Exists,
    /// delete removed the item.
    Deleted,
    /// delete found no item.
    NotFound,
    /// A batch ran: its per-command results are in it.
    Batch {
        /// The id `submit_batch` returned.
        id: u64,
        /// The batch, with its results.
        batch: Batch,
    },
}

/// A completed operation: the caller's token and the outcome or error.
#[derive(Debug)]
pub struct Completion {
    /// The token given when the operation was submitted.
    pub token: u64,
    /// What the operation did, or why it failed.
    pub result: Result<Outcome>,
}

/// A batch in flight: its parts (one per server) still due.
struct PendingBatch {
    token: u64,
    batch: Batch,
    parts: usize,
}

/// A non-blocking memcached client driven by the caller's event loop (see
/// the module documentation). Not thread-safe: one per event-loop thread.
pub struct AsyncClient {
    conns: Vec<Conn>,
    hasher: Option<RendezvousHash>,
    rules: KeyRules,
    max_value_len: usize,
    default_timeout: Option<Duration>,
    done: VecDeque<Completion>,
    /// Scratch list of operations settled by the connections.
    finished: Vec<Finished>,
    batches: HashMap<u64, PendingBatch>,
    next_batch: u64,
    pending: usize,
}

impl AsyncClient {
    /// A client for `servers` (one or more). `opts.timeout` is the default
    /// operation timeout, `opts.connect_timeout` the connect's; key prefix,
    /// unicode keys, max_value_len, no_delay and keepalive apply. Nothing
    /// is connected here. TLS and authentication are refused (not
    /// supported by the async client yet). `opts.metrics` keeps per-server
    /// metrics (`metrics_snapshot`).
    pub fn new(servers: &[ServerAddr], opts: &ClientOptions) -> Result<AsyncClient> {
        Self::with_key_form(servers, opts, KeyForm::default())
    }

    /// As `new`, placing keys as a hash client whose Python callers pass
    /// them in `form` (see `HashOptions::key_form`).
    pub fn with_key_form(
        servers: &[ServerAddr],
        opts: &ClientOptions,
        form: KeyForm,
    ) -> Result<AsyncClient> {
        if servers.is_empty() {
            return Err(Error::Config("the async client needs a server".into()));
        }
        if opts.tls.is_some() || opts.auth.is_some() {
            return Err(Error::Config(
                "TLS and authentication are not supported by the async client yet".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for s in servers {
            if !names.insert(s.node_name()) {
                return Err(Error::Config(format!("server {s} is given twice")));
            }
        }
        let copts = ConnOptions {
            connect_timeout: opts.connect_timeout,
            no_delay: opts.no_delay,
            keepalive: opts.keepalive,
            max_value_len: opts.max_value_len,
        };
        let hasher = (servers.len() > 1).then(|| {
            let mut h = RendezvousHash::with_key_form(form);
            for s in servers {
                h.add_node(&s.node_name());
            }
            h
        });
        Ok(AsyncClient {
            conns: servers
                .iter()
                .map(|s| {
                    let m = opts.metrics.then(|| Arc::new(ServerMetrics::new()));
                    Conn::new(s.clone(), copts.clone(), m)
                })
                .collect(),
            hasher,
            rules: opts.key_rules()?,
            max_value_len: opts.max_value_len,
            default_timeout: opts.timeout,
            done: VecDeque::new(),
            finished: Vec::new(),
            batches: HashMap::new(),
            next_batch: 0,
            pending: 0,
        })
    }

    fn server_of(&self, key: &[u8]) -> usize {
        self.hasher
            .as_ref()
            .and_then(|h| h.get_node_index(key))
            .unwrap_or(0)
    }

    fn deadline(&self, now: Instant, timeout: Option<Duration>) -> Option<Instant> {
        timeout.or(self.default_timeout).map(|t| now + t)
    }

    /// Queue `get key`. `timeout` `None`: the client's default. An illegal
    /// key is refused here and nothing is queued.
    pub fn submit_get(&mut self, key: &[u8], token: u64, timeout: Option<Duration>) -> Result<()> {
        self.rules.check(key)?;
        let s = self.server_of(key);
        let w = &mut self.conns[s].wbuf;
        w.extend_from_slice(b"get ");
        let start = w.len();
        self.rules.write_key(key, w)?;
        let sent = w[start..].to_vec();
        w.extend_from_slice(b"\r\n");
        self.queue(s, token, Expect::Get(sent), timeout);
        Ok(())
    }

    /// Queue `set key` (waiting for the reply, never `noreply`).
    pub fn submit_set(
        &mut self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        token: u64,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.rules.check(key)?;
        request::check_exptime("expire", expire)?;
        if value.len() > self.max_value_len {
            return Err(Error::TooLarge {
                len: value.len() as u64,
                max: self.max_value_len as u64,
                server: Default::default(),
            });
        }
        let s = self.server_of(key);
        let mut full = Vec::new();
        let key = if self.rules.prefix.is_empty() {
            key
        } else {
            self.rules.write_key(key, &mut full)?;
            &full
        };
        let w = &mut self.conns[s].wbuf;
        request::store_header(w, "set", key, flags, expire, value.len(), None, false);
        w.extend_from_slice(value);
        w.extend_from_slice(b"\r\n");
        self.queue(s, token, Expect::Store, timeout);
        Ok(())
    }

    /// Queue `delete key` (waiting for the reply).
    pub fn submit_delete(
        &mut self,
        key: &[u8],
        token: u64,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.rules.check(key)?;
        let s = self.server_of(key);
        let mut full = Vec::new();
        self.rules.write_key(key, &mut full)?;
        request::delete(&mut self.conns[s].wbuf, &full, false);
        self.queue(s, token, Expect::Delete, timeout);
        Ok(())
    }

    /// Queue every command of `batch`, grouped per server; the batch comes
    /// back in `Outcome::Batch` with one result per command (commands with
    /// illegal arguments fail there without being sent). A timeout or a
    /// connection error fails the commands of that server. Returns the
    /// batch's id, which its completion carries.
    pub fn submit_batch(
        &mut self,
        mut batch: Batch,
        token: u64,
        timeout: Option<Duration>,
    ) -> Result<u64> {
        batch.start();
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.conns.len()];
        for i in 0..batch.len() {
            groups[self.server_of(batch.ops.key(i))].push(i);
        }
        let id = self.next_batch;
        self.next_batch += 1;
        let now = Instant::now();
        let deadline = self.deadline(now, timeout);
        let mut parts = 0;
        for (s, group) in groups.into_iter().enumerate() {
            let mut sent = Vec::with_capacity(group.len());
            let w = &mut self.conns[s].wbuf;
            for i in group {
                let start = w.len();
                match batch_io::encode_op(w, &self.rules, self.max_value_len, &batch.ops, i) {
                    Ok(()) => sent.push(i),
                    Err(e) => {
                        w.truncate(start);
                        batch.out.fail(i, e);
                    }
                }
            }
            if sent.is_empty() {
                continue;
            }
            w.extend_from_slice(b"mn\r\n");
            parts += 1;
            let slot = Slot {
                token,
                expect: Expect::Batch { id, sent },
                deadline,
                live: true,
                expired: false,
                started: ServerMetrics::start_of(self.conns[s].metrics.as_ref()),
                server: s,
            };
            self.conns[s].push(slot, now, &mut self.finished);
        }
        self.pending += 1;
        self.batches.insert(
            id,
            PendingBatch {
                token,
                batch,
                parts,
            },
        );
        if parts == 0 {
            self.finish_batch(id);
        }
        self.collect();
        Ok(id)
    }

    fn queue(&mut self, s: usize, token: u64, expect: Expect, timeout: Option<Duration>) {
        let now = Instant::now();
        let slot = Slot {
            token,
            expect,
            deadline: self.deadline(now, timeout),
            live: true,
            expired: false,
            started: ServerMetrics::start_of(self.conns[s].metrics.as_ref()),
            server: s,
        };
        self.pending += 1;
        self.conns[s].push(slot, now, &mut self.finished);
        if !self.finished.is_empty() {
            self.collect();
        }
    }

    /// The descriptors to watch now, appended to `out` (cleared first).
    /// Ask again after every `step` and submit: reconnects change them.
    pub fn watches(&self, out: &mut Vec<Watch>) {
        out.clear();
        out.extend(self.watch_iter());
    }

    /// The descriptors to watch now, one by one.
    pub fn watch_iter(&self) -> impl Iterator<Item = Watch> + '_ {
        self.conns.iter().filter_map(|c| {
            let events = c.interest();
            Some(Watch {
                fd: c.fd()?,
                events,
            })
            .filter(|_| events != 0)
        })
    }

    /// How long the loop may wait before `step` must run for a deadline:
    /// `None` with nothing pending (no deadline), `Some(ZERO)` when one has
    /// passed, or when completions are waiting to be taken (e.g. a batch
    /// whose commands were all refused before sending completes at submit,
    /// with no descriptor to wake the loop).
    pub fn timeout(&self) -> Option<Duration> {
        if !self.done.is_empty() {
            return Some(Duration::ZERO);
        }
        let next = self.conns.iter().filter_map(Conn::next_deadline).min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// Make progress without blocking. `fd`: the descriptor that is ready
    /// (`None`: every connection); `events`: what it is ready for
    /// (`WANT_READ | WANT_WRITE` if unsure; without `WANT_READ` nothing is
    /// read, so `step(None, 0)` only finishes connects, writes what is
    /// queued and expires deadlines). Operations past their deadlines
    /// complete with a timeout.
    pub fn step(&mut self, fd: Option<RawFd>, events: i32) {
        let readable = events & WANT_READ != 0;
        for c in &mut self.conns {
            if fd.is_none() || c.fd() == fd {
                c.progress(readable, &mut self.finished);
            }
        }
        let now = Instant::now();
        for c in &mut self.conns {
            c.expire(now, &mut self.finished);
        }
        self.collect();
    }

    /// Turn what the connections settled into completions.
    fn collect(&mut self) {
        for f in std::mem::take(&mut self.finished).drain(..) {
            match f.slot.expect {
                Expect::Batch { id, sent } => {
                    let Some(b) = self.batches.get_mut(&id) else {
                        continue; // cancelled
                    };
                    let out = &mut b.batch.out;
                    match f.result {
                        Ok(Answer::BatchReplies(region)) => {
                            if let Err(e) = batch_io::apply_replies(
                                &b.batch.ops,
                                out,
                                &sent,
                                &region,
                                self.max_value_len,
                            ) {
                                out.fail_pending(Some(&sent), &e);
                            }
                        }
                        Ok(Answer::Op(_)) => {}
                        Err(e) => out.fail_pending(Some(&sent), &e),
                    }
                    batch_io::tag_errors(out, &sent, &self.conns[f.slot.server].name);
                    if let Some(m) = &self.conns[f.slot.server].metrics {
                        m.finish_n(f.slot.started, sent.len() as u64);
                        b.batch.count_outcomes(sent.iter().copied(), Some(m));
                    }
                    b.parts -= 1;
                    if b.parts == 0 {
                        self.finish_batch(id);
                    }
                }
                _ => {
                    self.pending -= 1;
                    let result = match f.result {
                        Ok(Answer::Op(o)) => Ok(o),
                        Ok(Answer::BatchReplies(_)) => Err(Error::UnknownError {
                            text: "batch replies for a single operation".into(),
                            server: Default::default(),
                        }),
                        Err(e) => Err(e),
                    };
                    if let Some(m) = &self.conns[f.slot.server].metrics {
                        count(m, &f.slot, &result);
                    }
                    self.done.push_back(Completion {
                        token: f.slot.token,
                        result,
                    });
                }
            }
        }
    }

    fn finish_batch(&mut self, id: u64) {
        if let Some(b) = self.batches.remove(&id) {
            self.pending -= 1;
            self.done.push_back(Completion {
                token: b.token,
                result: Ok(Outcome::Batch { id, batch: b.batch }),
            });
        }
    }

    /// The oldest completion not yet taken.
    pub fn next_completion(&mut self) -> Option<Completion> {
        self.done.pop_front()
    }

    /// Cancel every operation with `token` not yet taken: none of them will
    /// be delivered (a reply already due is read and dropped; completions
    /// not yet taken with `next_completion` are dropped too). Returns how
    /// many were cancelled (a batch counts once).
    pub fn cancel(&mut self, token: u64) -> usize {
        self.cancel_into(token, &mut Vec::new())
    }

    /// As `cancel`, handing the cancelled batches back (with their ids)
    /// in `batches`.
    pub fn cancel_into(&mut self, token: u64, batches: &mut Vec<(u64, Batch)>) -> usize {
        let mut slots = Vec::new();
        for c in &mut self.conns {
            c.cancel(token, &mut slots);
        }
        let mut n = 0;
        for s in slots {
            match s.expect {
                Expect::Batch { id, .. } => {
                    if let Some(b) = self.batches.remove(&id) {
                        batches.push((id, b.batch));
                        n += 1;
                    }
                }
                _ => n += 1,
            }
        }
        self.pending -= n;
        let before = self.done.len();
        let mut kept = VecDeque::with_capacity(before);
        for c in self.done.drain(..) {
            if c.token != token {
                kept.push_back(c);
            } else if let Ok(Outcome::Batch { id, batch }) = c.result {
                batches.push((id, batch));
            }
        }
        self.done = kept;
        n + (before - self.done.len())
    }

    /// Operations submitted and not yet completed or cancelled (completed
    /// ones waiting in `next_completion` are not counted).
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Close every connection and drop every operation in flight, handing
    /// the batches in flight back (with their ids) in `batches`.
    pub fn abandon(&mut self, batches: &mut Vec<(u64, Batch)>) {
        for c in &mut self.conns {
            c.reset();
        }
        batches.extend(self.batches.drain().map(|(id, b)| (id, b.batch)));
        self.pending = 0;
    }

    /// Completions waiting to be taken with `next_completion`.
    pub fn ready(&self) -> usize {
        self.done.len()
    }

    /// Every server's metrics now, in the order the servers were given
    /// (empty with `ClientOptions::metrics` off). See the module
    /// documentation for what is counted.
    pub fn metrics_snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            servers: self
                .conns
                .iter()
                .filter_map(Conn::metrics_snapshot)
                .collect(),
        }
    }

    /// Zero every server's counters and latency histogram (the connections
    /// in use stay; the peak restarts from now).
    pub fn metrics_reset(&self) {
        self.conns.iter().for_each(Conn::metrics_reset);
    }
}

/// Count a completed single operation in its server's metrics: a request
/// of its latency since submit, its error's class, a get's hit or miss.
#[inline]
fn count(m: &ServerMetrics, slot: &Slot, result: &Result<Outcome>) {
    m.finish(slot.started, result.as_ref().err());
    match result {
        Ok(Outcome::Value { .. }) => m.record_lookups(1, 0),
        Ok(Outcome::Miss) => m.record_lookups(0, 1),
        _ => {}
    }
}
