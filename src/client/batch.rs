//! Batches: many commands of any kind as values, run with one write and one
//! read pass per server over the meta protocol (quiet mode, opaque tokens,
//! `mn` at the end), with one result per command in request order.
//!
//! A `Batch` owns copies of its keys and values in one buffer and its
//! results' values in another, so queueing and running a batch allocates
//! nothing per command once the buffers have grown; a batch is meant to be
//! cleared and reused.
//!
//! A batch holds every command of the command set: the single-key commands
//! queued with `get`, `set`, ... (run over the meta protocol), and any
//! `Request` queued with `Batch::request`, answered with a `Reply`
//! (`Batch::take_reply`). `Memcache::execute`, the one command method a
//! client implements, runs a batch; `Memcache::call` and the named
//! methods run a batch of one request. How the commands go on the wire
//! (`Batch::run_with`, which every client's `execute` uses):
//!
//! - a batch of exactly one `Request` runs it as the classic command
//!   (`get k`, `set k ...`, `get k1 ... kN`, `stats`, ...): a single call is
//!   what it always was, for pymemcache parity and servers without meta;
//! - single-key commands (queued either way) run pipelined over the meta
//!   protocol, one write and one read pass per server;
//! - whole-client and multi-key requests (`Fetch` of several keys,
//!   `SetMany`, `DeleteMany`, `Stats`, `Version`, `FlushAll`,
//!   `CacheMemlimit`, `Raw`, `Shutdown`, `Quit`; `OpKind::Whole`) are
//!   barriers in a batch of several: the commands before one run
//!   (pipelined), then it runs alone as its classic command, then the
//!   commands after it. Its reply is kept in its result slot.

use super::request::{Reply, Request};
use super::{CasOutcome, FetchCmd, Item, StoreCmd};
use crate::error::{Error, Result};
use std::cell::RefCell;

/// What one command of a batch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `get`: value and flags.
    Get,
    /// `gets`: value, flags and CAS unique.
    Gets,
    /// `gat`: get and set the expiry.
    Gat(i64),
    /// `gats`: `gat` with the CAS unique.
    Gats(i64),
    /// `touch`: set the expiry.
    Touch(i64),
    /// A storage command (set, add, replace, append, prepend).
    Store(StoreCmd),
    /// `cas` with this CAS unique.
    Cas(u64),
    /// `delete`.
    Delete,
    /// `incr` by this delta.
    Incr(u64),
    /// `decr` by this delta.
    Decr(u64),
    /// Stampede control: get the value, or win the right to recompute it
    /// (`mg <key> v f c t N<lock_ttl> [R<recache_below>]`). See `Lease`.
    GetOrLock {
        /// Seconds the lock (the empty placeholder made on a miss) lives.
        lock_ttl: i64,
        /// Win the recompute when the item has fewer seconds left than
        /// this (0: only on a miss or a stale item).
        recache_below: i64,
    },
    /// Mark the item stale (`md <key> I T<ttl>`): readers get the old
    /// value as stale and one of them wins the recompute.
    Invalidate(i64),
    /// A generic meta command (`mg`, `ms`, `md` or `ma`) with the caller's
    /// flag tokens; the reply's code and flags are returned as they came.
    Meta(MetaCmd),
    /// A whole-client or multi-key command queued as a `Request` (see
    /// `Batch::request`): it runs alone, as its classic command, after the
    /// commands queued before it and before those queued after it; its
    /// answer is a `Reply` (`Batch::reply`, `Batch::take_reply`).
    Whole,
}

/// The meta commands a generic batch command may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCmd {
    /// `mg`: meta get.
    Get,
    /// `ms`: meta set (the value is sent as the data block).
    Set,
    /// `md`: meta delete.
    Delete,
    /// `ma`: meta arithmetic.
    Arithmetic,
}

impl MetaCmd {
    /// The two-letter command.
    pub fn code(self) -> &'static [u8; 2] {
        match self {
            MetaCmd::Get => b"mg",
            MetaCmd::Set => b"ms",
            MetaCmd::Delete => b"md",
            MetaCmd::Arithmetic => b"ma",
        }
    }

    /// The command for its two letters.
    pub fn from_code(code: &[u8]) -> Option<MetaCmd> {
        match code {
            b"mg" => Some(MetaCmd::Get),
            b"ms" => Some(MetaCmd::Set),
            b"md" => Some(MetaCmd::Delete),
            b"ma" => Some(MetaCmd::Arithmetic),
            _ => None,
        }
    }
}

impl OpKind {
    /// Whether the command is sent in quiet mode: only failures and hits
    /// are answered, success and misses are known from the absence of a
    /// reply once `mn` is answered. Stores are not quiet: a server error
    /// line carries no opaque token, and stores are the commands a server
    /// refuses (too large, out of memory), so they answer every time and an
    /// error line is always theirs (see `recv_batch`).
    pub fn quiet(self) -> bool {
        matches!(
            self,
            OpKind::Get
                | OpKind::Gets
                | OpKind::Gat(_)
                | OpKind::Gats(_)
                | OpKind::Touch(_)
                | OpKind::Delete
                | OpKind::Invalidate(_)
        )
    }

    /// Whether the command carries a value.
    pub fn has_value(self) -> bool {
        matches!(
            self,
            OpKind::Store(_) | OpKind::Cas(_) | OpKind::Meta(MetaCmd::Set)
        )
    }

    /// Whether the command reads items: its outcome is a hit or a miss.
    pub fn is_retrieval(self) -> bool {
        matches!(
            self,
            OpKind::Get
                | OpKind::Gets
                | OpKind::Gat(_)
                | OpKind::Gats(_)
                | OpKind::GetOrLock { .. }
                | OpKind::Meta(MetaCmd::Get)
        )
    }

    /// The outcome when a quiet command got no reply.
    pub fn silent_outcome(self) -> OpStatus {
        match self {
            OpKind::Get | OpKind::Gets | OpKind::Gat(_) | OpKind::Gats(_) => OpStatus::Miss,
            OpKind::Touch(_) => OpStatus::NotFound,
            _ => OpStatus::Ok,
        }
    }
}

/// One queued command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req {
    pub kind: OpKind,
    pub key: (usize, usize),
    pub value: (usize, usize),
    /// Generic meta commands: the caller's flag tokens.
    pub tokens: (usize, usize),
    pub flags: u32,
    pub expire: i64,
    /// A command queued as a `Request`: what the request was.
    pub classic: Option<Classic>,
}

/// The parts of a `Request` a `Req` does not hold: `key` holds its key
/// (`Raw`: the command line), `value` its value (`Raw`: the end token);
/// lists (keys, items as key then value, stats arguments) are ranges of
/// `Ops::lists` (a `Fetch` of one key has its key as the command's key).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Classic {
    Fetch(FetchCmd, (usize, usize)),
    Store(StoreCmd, Option<bool>),
    SetMany(u32, i64, Option<bool>, (usize, usize)),
    Cas(u64, Option<bool>),
    Delete(Option<bool>),
    DeleteMany(Option<bool>, (usize, usize)),
    Incr(u64, Option<bool>),
    Decr(u64, Option<bool>),
    Touch(i64, Option<bool>),
    Stats((usize, usize)),
    Version,
    FlushAll(i64, Option<bool>),
    CacheMemlimit(u64),
    Raw,
    Shutdown(bool),
    Quit,
}

/// The outcome of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// Not run yet.
    Pending,
    /// Done: a hit, stored, deleted, touched, counted.
    Ok,
    /// A retrieval found no item.
    Miss,
    /// Not stored (add of a present key, replace/append/prepend of a
    /// missing one).
    NotStored,
    /// cas: the item changed since it was read.
    Exists,
    /// No such item (cas, delete, incr, decr, touch, invalidate).
    NotFound,
    /// Failed: see `OpResult::error`.
    Failed,
}

/// Where a stampede-control read leaves the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// A fresh value: use it.
    Hit,
    /// A stale value (invalidated) that another caller is recomputing: use
    /// it meanwhile.
    Stale,
    /// The item was missing and this caller won the recompute: compute the
    /// value and store it (until then others see `MissBusy`).
    MissWon,
    /// The value is stale (or about to expire) and this caller won the
    /// recompute: the value is returned meanwhile.
    StaleWon,
    /// The item is missing and another caller is recomputing it: no value;
    /// wait and ask again, or compute without storing.
    MissBusy,
}

/// The result of one command.
#[derive(Debug)]
pub struct OpResult {
    /// The outcome.
    pub status: OpStatus,
    /// The error, when `status` is `Failed`.
    pub error: Option<Error>,
    pub(crate) value: (usize, usize),
    /// The item's flags (retrievals).
    pub flags: u32,
    /// The CAS unique, when returned (gets, gats, get_or_lock, meta `c`).
    pub cas: Option<u64>,
    /// The counter after incr/decr.
    pub number: Option<u64>,
    /// Seconds left to live (get_or_lock, meta `t`; -1: never expires).
    pub ttl: Option<i64>,
    /// The stampede state, for `GetOrLock`.
    pub lease: Option<Lease>,
    /// Generic meta commands: the two-letter return code.
    pub code: [u8; 2],
    pub(crate) ret_flags: (usize, usize),
    /// The answer of a command queued as a `Request`, when it ran as its
    /// classic command.
    pub(crate) reply: Option<Reply>,
}

impl OpResult {
    const PENDING: OpResult = OpResult {
        status: OpStatus::Pending,
        error: None,
        value: (0, 0),
        flags: 0,
        cas: None,
        number: None,
        ttl: None,
        lease: None,
        code: [0; 2],
        ret_flags: (0, 0),
        reply: None,
    };
}

/// The commands of a batch.
#[derive(Debug, Default)]
pub(crate) struct Ops {
    pub reqs: Vec<Req>,
    /// Keys, values and flag tokens of the commands.
    pub args: Vec<u8>,
    /// The lists of `Request`s' arguments: ranges of `args`.
    pub lists: Vec<(usize, usize)>,
}

impl Ops {
    pub fn key(&self, i: usize) -> &[u8] {
        self.arg(self.reqs[i].key)
    }

    pub fn value(&self, i: usize) -> &[u8] {
        self.arg(self.reqs[i].value)
    }

    pub fn tokens(&self, i: usize) -> &[u8] {
        self.arg(self.reqs[i].tokens)
    }

    /// The bytes of range `(start, len)` of `args`.
    #[inline]
    fn arg(&self, (s, l): (usize, usize)) -> &[u8] {
        &self.args[s..s + l]
    }

    /// The arguments of list `(start, len)` of `lists`.
    fn list(&self, (s, l): (usize, usize)) -> impl Iterator<Item = &[u8]> {
        self.lists[s..s + l].iter().map(|&r| self.arg(r))
    }

    /// Whether command `i` is a generic meta command whose key is given
    /// base64-encoded (flag `b`).
    pub fn base64_key(&self, i: usize) -> bool {
        matches!(self.reqs[i].kind, OpKind::Meta(_))
            && crate::protocol::meta::flag(self.tokens(i), b'b').is_some()
    }

    /// The key a hash client places command `i` by: the decoded key of a
    /// generic meta command given base64-encoded (flag `b`), so it lands on
    /// the node a plain command for the same key uses; otherwise the key.
    pub fn placement_key(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        use base64::Engine as _;
        let key = self.key(i);
        if self.base64_key(i) {
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(key) {
                return std::borrow::Cow::Owned(raw);
            }
        }
        std::borrow::Cow::Borrowed(key)
    }
}

/// The results of a batch.
#[derive(Debug, Default)]
pub(crate) struct Outs {
    pub results: Vec<OpResult>,
    /// Values and return flags of the results.
    pub data: Vec<u8>,
}

impl Outs {
    /// Count the outcomes of commands `idx` in `m`, once the batch ran:
    /// each retrieval a hit or a miss, each failure an error of its class
    /// (the requests themselves are counted when the batch is timed).
    pub fn count_outcomes(
        &self,
        ops: &Ops,
        idx: impl IntoIterator<Item = usize>,
        m: &crate::metrics::ServerMetrics,
    ) {
        let (mut hits, mut misses) = (0, 0);
        for i in idx {
            let r = &self.results[i];
            match (r.status, ops.reqs[i].kind.is_retrieval(), r.lease) {
                (OpStatus::Failed, ..) => {
                    if let Some(e) = &r.error {
                        m.record_error(e);
                    }
                }
                (_, _, Some(Lease::MissWon | Lease::MissBusy)) => misses += 1,
                (OpStatus::Ok, true, _) => hits += 1,
                (OpStatus::Miss, ..) => misses += 1,
                _ => {}
            }
        }
        m.record_lookups(hits, misses);
    }

    /// Record an outcome without a value.
    pub fn set_status(&mut self, i: usize, status: OpStatus) {
        self.results[i].status = status;
    }

    /// Record a failure.
    pub fn fail(&mut self, i: usize, e: Error) {
        let r = &mut self.results[i];
        r.status = OpStatus::Failed;
        r.error = Some(e);
    }

    /// Fail every command of `indices` (all if `None`) still pending.
    pub fn fail_pending(&mut self, indices: Option<&[usize]>, e: &Error) {
        let n = self.results.len();
        let mut each = |i: usize| {
            if self.results[i].status == OpStatus::Pending {
                self.fail(i, e.clone_lossy());
            }
        };
        match indices {
            Some(list) => list.iter().for_each(|&i| each(i)),
            None => (0..n).for_each(each),
        }
    }

    /// Take result `r` (of another batch, with its value and return flags)
    /// as result `i`.
    fn absorb(&mut self, i: usize, r: &mut OpResult, value: &[u8], ret_flags: &[u8]) {
        self.put_value(i, value);
        let start = self.data.len();
        self.data.extend_from_slice(ret_flags);
        let out = &mut self.results[i];
        out.ret_flags = (start, ret_flags.len());
        out.status = r.status;
        out.error = r.error.take();
        out.flags = r.flags;
        out.cas = r.cas;
        out.number = r.number;
        out.ttl = r.ttl;
        out.lease = r.lease;
        out.code = r.code;
    }

    /// Append a value to the result data and point result `i` at it.
    pub fn put_value(&mut self, i: usize, value: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(value);
        self.data.push(0); // the C surface hands values out NUL-terminated
        self.results[i].value = (start, value.len());
    }
}

/// A list of commands run together, and their results.
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) ops: Ops,
    pub(crate) out: Outs,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Number of commands queued.
    pub fn len(&self) -> usize {
        self.ops.reqs.len()
    }

    /// True when no command is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.reqs.is_empty()
    }

    /// Forget every command and result, keeping the buffers.
    pub fn clear(&mut self) {
        self.ops.reqs.clear();
        self.ops.args.clear();
        self.ops.lists.clear();
        self.out.results.clear();
        self.out.data.clear();
    }

    /// Bytes the batch's buffers hold on to.
    fn footprint(&self) -> usize {
        self.ops.args.capacity()
            + self.out.data.capacity()
            + self.ops.reqs.capacity() * std::mem::size_of::<Req>()
            + self.ops.lists.capacity() * std::mem::size_of::<(usize, usize)>()
            + self.out.results.capacity() * std::mem::size_of::<OpResult>()
    }

    fn arg(&mut self, bytes: &[u8]) -> (usize, usize) {
        let start = self.ops.args.len();
        self.ops.args.extend_from_slice(bytes);
        (start, bytes.len())
    }

    /// Queue a command; its position in the batch is returned.
    pub fn push(
        &mut self,
        kind: OpKind,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
    ) -> usize {
        self.push_with_tokens(kind, key, value, flags, expire, b"")
    }

    /// Queue a command with generic meta flag tokens (`tokens` is empty
    /// for every kind but `Meta`).
    pub(crate) fn push_with_tokens(
        &mut self,
        kind: OpKind,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        tokens: &[u8],
    ) -> usize {
        let key = self.arg(key);
        let value = self.arg(value);
        let tokens = self.arg(tokens);
        self.ops.reqs.push(Req {
            kind,
            key,
            value,
            tokens,
            flags,
            expire,
            classic: None,
        });
        self.ops.reqs.len() - 1
    }

    /// Copy a list of arguments into the batch; its range of `lists`.
    fn list<'a>(&mut self, items: impl Iterator<Item = &'a [u8]>) -> (usize, usize) {
        let start = self.ops.lists.len();
        for item in items {
            let r = self.arg(item);
            self.ops.lists.push(r);
        }
        (start, self.ops.lists.len() - start)
    }

    /// Queue any command of the command set as a value; its position in
    /// the batch is returned and its answer is read with `take_reply` (or
    /// `reply`). Alone in a batch it runs exactly as its classic command;
    /// in a batch of several, a single-key command (`Fetch` of one key,
    /// `Store`, `Cas`, `Delete`, `Incr`, `Decr`, `Touch`) joins the meta
    /// pipeline like the commands queued with `get`, `set`, ... (answered
    /// every time: `noreply` applies to the classic command only), and any
    /// other one is a barrier (see the module documentation).
    pub fn request(&mut self, req: Request<'_>) -> usize {
        let (kind, key, value, flags, expire, classic) = match req {
            Request::Fetch { cmd, keys: &[key] } => {
                let kind = match cmd {
                    FetchCmd::Get => OpKind::Get,
                    FetchCmd::Gets => OpKind::Gets,
                    FetchCmd::Gat(t) => OpKind::Gat(t),
                    FetchCmd::Gats(t) => OpKind::Gats(t),
                };
                // The key is the command's own (no list).
                (kind, key, &[][..], 0, 0, Classic::Fetch(cmd, (0, 0)))
            }
            Request::Fetch { cmd, keys } => {
                let list = self.list(keys.iter().copied());
                (
                    OpKind::Whole,
                    &[][..],
                    &[][..],
                    0,
                    0,
                    Classic::Fetch(cmd, list),
                )
            }
            Request::Store {
                cmd,
                key,
                value,
                flags,
                expire,
                noreply,
            } => (
                OpKind::Store(cmd),
                key,
                value,
                flags,
                expire,
                Classic::Store(cmd, noreply),
            ),
            Request::SetMany {
                items,
                flags,
                expire,
                noreply,
            } => {
                let list = self.list(items.iter().flat_map(|&(k, v)| [k, v]));
                let c = Classic::SetMany(flags, expire, noreply, list);
                (OpKind::Whole, &[][..], &[][..], flags, expire, c)
            }
            Request::Cas {
                key,
                value,
                cas,
                flags,
                expire,
                noreply,
            } => (
                OpKind::Cas(cas),
                key,
                value,
                flags,
                expire,
                Classic::Cas(cas, noreply),
            ),
            Request::Delete { key, noreply } => {
                (OpKind::Delete, key, &[][..], 0, 0, Classic::Delete(noreply))
            }
            Request::DeleteMany { keys, noreply } => {
                let list = self.list(keys.iter().copied());
                let c = Classic::DeleteMany(noreply, list);
                (OpKind::Whole, &[][..], &[][..], 0, 0, c)
            }
            Request::Incr {
                key,
                delta,
                noreply,
            } => (
                OpKind::Incr(delta),
                key,
                &[][..],
                0,
                0,
                Classic::Incr(delta, noreply),
            ),
            Request::Decr {
                key,
                delta,
                noreply,
            } => (
                OpKind::Decr(delta),
                key,
                &[][..],
                0,
                0,
                Classic::Decr(delta, noreply),
            ),
            Request::Touch {
                key,
                expire,
                noreply,
            } => (
                OpKind::Touch(expire),
                key,
                &[][..],
                0,
                0,
                Classic::Touch(expire, noreply),
            ),
            Request::Stats { args } => {
                let list = self.list(args.iter().map(|a| a.as_bytes()));
                (OpKind::Whole, &[][..], &[][..], 0, 0, Classic::Stats(list))
            }
            Request::Version => (OpKind::Whole, &[][..], &[][..], 0, 0, Classic::Version),
            Request::FlushAll { delay, noreply } => {
                let c = Classic::FlushAll(delay, noreply);
                (OpKind::Whole, &[][..], &[][..], 0, 0, c)
            }
            Request::CacheMemlimit { megabytes } => {
                let c = Classic::CacheMemlimit(megabytes);
                (OpKind::Whole, &[][..], &[][..], 0, 0, c)
            }
            Request::Raw { command, end_token } => {
                (OpKind::Whole, command, end_token, 0, 0, Classic::Raw)
            }
            Request::Shutdown { graceful } => {
                let c = Classic::Shutdown(graceful);
                (OpKind::Whole, &[][..], &[][..], 0, 0, c)
            }
            Request::Quit => (OpKind::Whole, &[][..], &[][..], 0, 0, Classic::Quit),
        };
        let i = self.push(kind, key, value, flags, expire);
        self.ops.reqs[i].classic = Some(classic);
        i
    }

    /// Command `i` as the `Request` it was queued as, handed to `f`
    /// (`None`: it was queued with the batch methods, not as a request).
    pub fn with_request<R>(&self, i: usize, f: impl FnOnce(Request<'_>) -> R) -> Option<R> {
        let ops = &self.ops;
        let req = ops.reqs[i];
        let (key, value) = (ops.key(i), ops.value(i));
        Some(match req.classic? {
            Classic::Fetch(cmd, _) if req.kind != OpKind::Whole => {
                f(Request::Fetch { cmd, keys: &[key] })
            }
            Classic::Fetch(cmd, list) => {
                let keys: Vec<&[u8]> = ops.list(list).collect();
                f(Request::Fetch { cmd, keys: &keys })
            }
            Classic::Store(cmd, noreply) => f(Request::Store {
                cmd,
                key,
                value,
                flags: req.flags,
                expire: req.expire,
                noreply,
            }),
            Classic::SetMany(flags, expire, noreply, list) => {
                let parts: Vec<&[u8]> = ops.list(list).collect();
                let items: Vec<(&[u8], &[u8])> =
                    parts.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                f(Request::SetMany {
                    items: &items,
                    flags,
                    expire,
                    noreply,
                })
            }
            Classic::Cas(cas, noreply) => f(Request::Cas {
                key,
                value,
                cas,
                flags: req.flags,
                expire: req.expire,
                noreply,
            }),
            Classic::Delete(noreply) => f(Request::Delete { key, noreply }),
            Classic::DeleteMany(noreply, list) => {
                let keys: Vec<&[u8]> = ops.list(list).collect();
                f(Request::DeleteMany {
                    keys: &keys,
                    noreply,
                })
            }
            Classic::Incr(delta, noreply) => f(Request::Incr {
                key,
                delta,
                noreply,
            }),
            Classic::Decr(delta, noreply) => f(Request::Decr {
                key,
                delta,
                noreply,
            }),
            Classic::Touch(expire, noreply) => f(Request::Touch {
                key,
                expire,
                noreply,
            }),
            Classic::Stats(list) => {
                // Queued from `&str`s: valid UTF-8.
                let args: Vec<&str> = ops
                    .list(list)
                    .map(|a| std::str::from_utf8(a).unwrap_or_default())
                    .collect();
                f(Request::Stats { args: &args })
            }
            Classic::Version => f(Request::Version),
            Classic::FlushAll(delay, noreply) => f(Request::FlushAll { delay, noreply }),
            Classic::CacheMemlimit(megabytes) => f(Request::CacheMemlimit { megabytes }),
            Classic::Raw => f(Request::Raw {
                command: key,
                end_token: value,
            }),
            Classic::Shutdown(graceful) => f(Request::Shutdown { graceful }),
            Classic::Quit => f(Request::Quit),
        })
    }

    /// Whether the batch is exactly one command queued as a `Request`: the
    /// batch a single call runs, which goes on the wire as the classic
    /// command.
    pub fn is_single_request(&self) -> bool {
        self.ops.reqs.len() == 1 && self.ops.reqs[0].classic.is_some()
    }

    /// Record the answer of command `i` (queued as a `Request`), run as
    /// its classic command: a failure fails the command (status `Failed`,
    /// the error in `OpResult::error`); a reply is kept for `take_reply`,
    /// with the status it means (a miss, not stored, not found, ...).
    pub fn set_reply(&mut self, i: usize, res: Result<Reply>) {
        let reply = match res {
            Ok(r) => r,
            Err(e) => return self.out.fail(i, e),
        };
        let status = match (&reply, self.ops.reqs[i].kind) {
            (
                Reply::Items(items),
                OpKind::Get | OpKind::Gets | OpKind::Gat(_) | OpKind::Gats(_),
            ) if items.first().is_none_or(|it| it.is_none()) => OpStatus::Miss,
            (Reply::Bool(false), OpKind::Store(_)) => OpStatus::NotStored,
            (Reply::Bool(false), _) | (Reply::Counter(None), _) => OpStatus::NotFound,
            (Reply::Cas(CasOutcome::Exists), _) => OpStatus::Exists,
            (Reply::Cas(CasOutcome::NotFound), _) => OpStatus::NotFound,
            _ => OpStatus::Ok,
        };
        let r = &mut self.out.results[i];
        r.status = status;
        r.reply = Some(reply);
    }

    /// The reply of command `i`, when it was queued as a `Request` and ran
    /// as its classic command (see `take_reply` for every case).
    pub fn reply(&self, i: usize) -> Option<&Reply> {
        self.out.results[i].reply.as_ref()
    }

    /// The answer of command `i` (queued as a `Request`) as its `Reply`,
    /// or its error; taken out of the batch. A single-key command that ran
    /// in the meta pipeline has its reply made from its result.
    pub fn take_reply(&mut self, i: usize) -> Result<Reply> {
        let r = &mut self.out.results[i];
        if let Some(reply) = r.reply.take() {
            return Ok(reply);
        }
        if r.status == OpStatus::Failed {
            return Err(r.error.take().unwrap_or_else(|| not_run("failed")));
        }
        let r = &self.out.results[i];
        let ok = r.status == OpStatus::Ok;
        Ok(match (self.ops.reqs[i].classic, r.status) {
            (_, OpStatus::Pending) => return Err(not_run("has not run")),
            (Some(Classic::Fetch(..)), _) => Reply::Items(vec![ok.then(|| Item {
                value: self.result_value(i).to_vec(),
                flags: r.flags,
                cas: r.cas,
            })]),
            (Some(Classic::Cas(..)), s) => Reply::Cas(match s {
                OpStatus::Ok => CasOutcome::Stored,
                OpStatus::Exists => CasOutcome::Exists,
                _ => CasOutcome::NotFound,
            }),
            (Some(Classic::Incr(..) | Classic::Decr(..)), _) => Reply::Counter(r.number),
            (Some(Classic::Store(..) | Classic::Delete(..) | Classic::Touch(..)), _) => {
                Reply::Bool(ok)
            }
            _ => return Err(not_run("was not queued as a request")),
        })
    }

    /// Run the batch the way every client's `execute` does (see the module
    /// documentation): a batch of one `Request` through `single`, the
    /// client's classic command; a batch without whole-client commands
    /// through `pipeline`, the client's meta pipeline; otherwise the
    /// pipelined stretches through `pipeline` (each as a batch of its own)
    /// and every whole-client command through `single`, in order. An error
    /// of `pipeline` (a failure of the whole run) is returned.
    pub fn run_with(
        &mut self,
        mut pipeline: impl FnMut(&mut Batch) -> Result<()>,
        mut single: impl FnMut(Request<'_>) -> Result<Reply>,
    ) -> Result<()> {
        if self.is_single_request() {
            self.start();
            if let Some(res) = self.with_request(0, &mut single) {
                self.set_reply(0, res);
            }
            return Ok(());
        }
        if !self.ops.reqs.iter().any(|r| r.kind == OpKind::Whole) {
            return pipeline(self);
        }
        self.start();
        let n = self.len();
        let mut part = Batch::new();
        let mut i = 0;
        while i < n {
            if self.ops.reqs[i].kind == OpKind::Whole {
                if let Some(res) = self.with_request(i, &mut single) {
                    self.set_reply(i, res);
                }
                i += 1;
                continue;
            }
            let end = (i..n)
                .find(|&j| self.ops.reqs[j].kind == OpKind::Whole)
                .unwrap_or(n);
            part.clear();
            for j in i..end {
                let r = self.ops.reqs[j];
                let (key, value, tokens) = (self.ops.key(j), self.ops.value(j), self.ops.tokens(j));
                part.push_with_tokens(r.kind, key, value, r.flags, r.expire, tokens);
            }
            pipeline(&mut part)?;
            let Outs { results, data } = &mut part.out;
            for (j, res) in results.iter_mut().enumerate() {
                let (v, f) = (res.value, res.ret_flags);
                let (value, flags) = (&data[v.0..v.0 + v.1], &data[f.0..f.0 + f.1]);
                self.out.absorb(i + j, res, value, flags);
            }
            i = end;
        }
        Ok(())
    }

    /// Queue a `get`.
    pub fn get(&mut self, key: &[u8]) -> usize {
        self.push(OpKind::Get, key, b"", 0, 0)
    }

    /// Queue a `gets`.
    pub fn gets(&mut self, key: &[u8]) -> usize {
        self.push(OpKind::Gets, key, b"", 0, 0)
    }

    /// Queue a `gat`.
    pub fn gat(&mut self, key: &[u8], expire: i64) -> usize {
        self.push(OpKind::Gat(expire), key, b"", 0, 0)
    }

    /// Queue a `touch`.
    pub fn touch(&mut self, key: &[u8], expire: i64) -> usize {
        self.push(OpKind::Touch(expire), key, b"", 0, 0)
    }

    /// Queue a storage command.
    pub fn store(
        &mut self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
    ) -> usize {
        self.push(OpKind::Store(cmd), key, value, flags, expire)
    }

    /// Queue a `set`.
    pub fn set(&mut self, key: &[u8], value: &[u8], flags: u32, expire: i64) -> usize {
        self.store(StoreCmd::Set, key, value, flags, expire)
    }

    /// Queue a `cas`.
    pub fn cas(&mut self, key: &[u8], value: &[u8], cas: u64, flags: u32, expire: i64) -> usize {
        self.push(OpKind::Cas(cas), key, value, flags, expire)
    }

    /// Queue a `delete`.
    pub fn delete(&mut self, key: &[u8]) -> usize {
        self.push(OpKind::Delete, key, b"", 0, 0)
    }

    /// Queue an `incr`.
    pub fn incr(&mut self, key: &[u8], delta: u64) -> usize {
        self.push(OpKind::Incr(delta), key, b"", 0, 0)
    }

    /// Queue a `decr`.
    pub fn decr(&mut self, key: &[u8], delta: u64) -> usize {
        self.push(OpKind::Decr(delta), key, b"", 0, 0)
    }

    /// Queue a stampede-controlled read (see `Lease`).
    pub fn get_or_lock(&mut self, key: &[u8], lock_ttl: i64, recache_below: i64) -> usize {
        let kind = OpKind::GetOrLock {
            lock_ttl,
            recache_below,
        };
        self.push(kind, key, b"", 0, 0)
    }

    /// Queue an invalidation: the item turns stale for `stale_ttl` seconds.
    pub fn invalidate(&mut self, key: &[u8], stale_ttl: i64) -> usize {
        self.push(OpKind::Invalidate(stale_ttl), key, b"", 0, 0)
    }

    /// Queue a generic meta command with `tokens` as its flags (protocol
    /// tokens separated by single spaces, e.g. `b"v f t N30"`; not `O` or
    /// `q`, which the batch sets); `value` is the data block of `ms`.
    pub fn meta(&mut self, cmd: MetaCmd, key: &[u8], tokens: &[u8], value: &[u8]) -> usize {
        self.push_with_tokens(OpKind::Meta(cmd), key, value, 0, 0, tokens)
    }

    /// The kind of command `i`.
    pub fn kind(&self, i: usize) -> OpKind {
        self.ops.reqs[i].kind
    }

    /// The result of command `i` (`Pending` until the batch ran).
    pub fn result(&self, i: usize) -> &OpResult {
        &self.out.results[i]
    }

    /// The results, in request order.
    pub fn results(&self) -> &[OpResult] {
        &self.out.results
    }

    /// The value command `i` returned (empty if none).
    pub fn result_value(&self, i: usize) -> &[u8] {
        let (s, l) = self.out.results[i].value;
        &self.out.data[s..s + l]
    }

    /// The return flags of generic meta command `i`, as the server sent
    /// them (without the batch's opaque token).
    pub fn result_flags(&self, i: usize) -> &[u8] {
        let (s, l) = self.out.results[i].ret_flags;
        &self.out.data[s..s + l]
    }

    /// Count the outcomes of commands `idx` in `metrics`, if on (see
    /// `Outs::count_outcomes`).
    pub(crate) fn count_outcomes(
        &self,
        idx: impl IntoIterator<Item = usize>,
        metrics: Option<&std::sync::Arc<crate::metrics::ServerMetrics>>,
    ) {
        if let Some(m) = metrics {
            self.out.count_outcomes(&self.ops, idx, m);
        }
    }

    /// Ready the results for a run: every command pending.
    pub(crate) fn start(&mut self) {
        self.out.results.clear();
        self.out
            .results
            .extend((0..self.ops.reqs.len()).map(|_| OpResult::PENDING));
        self.out.data.clear();
    }

    /// Run the batch command by command through the named methods of
    /// `client` (the mock's pipeline), with the meta-only commands
    /// (stampede reads, invalidations, generic meta commands) run by
    /// `meta`, which records command `i`'s outcome in the results.
    pub(crate) fn run_each_with(
        &mut self,
        client: &(impl super::Memcache + ?Sized),
        mut meta: impl FnMut(&Ops, &mut Outs, usize),
    ) {
        self.start();
        let (ops, out) = (&self.ops, &mut self.out);
        for i in 0..ops.reqs.len() {
            if let OpKind::GetOrLock { .. } | OpKind::Invalidate(_) | OpKind::Meta(_) =
                ops.reqs[i].kind
            {
                meta(ops, out, i);
                continue;
            }
            let (key, value) = (ops.key(i), ops.value(i));
            let Req {
                kind,
                flags,
                expire,
                ..
            } = ops.reqs[i];
            let found = |b: bool| {
                if b {
                    OpStatus::Ok
                } else {
                    OpStatus::NotFound
                }
            };
            let res: crate::Result<OpStatus> = match kind {
                OpKind::Get | OpKind::Gets | OpKind::Gat(_) | OpKind::Gats(_) => {
                    let got = match kind {
                        OpKind::Gets => client.gets(key),
                        OpKind::Gat(t) => client.gat(key, t),
                        OpKind::Gats(t) => client.gats(key, t),
                        _ => client.get(key),
                    };
                    got.map(|item| match item {
                        Some(item) => {
                            out.put_value(i, &item.value);
                            let r = &mut out.results[i];
                            r.flags = item.flags;
                            r.cas = item.cas;
                            OpStatus::Ok
                        }
                        None => OpStatus::Miss,
                    })
                }
                OpKind::Touch(t) => client.touch(key, t, Some(false)).map(found),
                OpKind::Store(cmd) => client
                    .store(cmd, key, value, flags, expire, Some(false))
                    .map(|ok| {
                        if ok {
                            OpStatus::Ok
                        } else {
                            OpStatus::NotStored
                        }
                    }),
                OpKind::Cas(c) => client
                    .cas(key, value, c, flags, expire, Some(false))
                    .map(|o| match o {
                        super::CasOutcome::Stored => OpStatus::Ok,
                        super::CasOutcome::Exists => OpStatus::Exists,
                        super::CasOutcome::NotFound => OpStatus::NotFound,
                    }),
                OpKind::Delete => client.delete(key, Some(false)).map(found),
                OpKind::Incr(d) | OpKind::Decr(d) => {
                    let incr = matches!(kind, OpKind::Incr(_));
                    let res = if incr {
                        client.incr(key, d, Some(false))
                    } else {
                        client.decr(key, d, Some(false))
                    };
                    res.map(|n| {
                        out.results[i].number = n;
                        if n.is_some() {
                            OpStatus::Ok
                        } else {
                            OpStatus::NotFound
                        }
                    })
                }
                OpKind::GetOrLock { .. } | OpKind::Invalidate(_) | OpKind::Meta(_) => {
                    Err(no_meta()) // run by `meta` above
                }
                OpKind::Whole => Err(Error::IllegalInput(
                    "a whole-client command runs alone, not in a pipeline".into(),
                )),
            };
            match res {
                Ok(s) => out.set_status(i, s),
                Err(e) => out.fail(i, e),
            }
        }
    }
}

/// The error of a meta command where it cannot run.
fn no_meta() -> Error {
    Error::UnknownCommand {
        text: "a meta command cannot run here".into(),
        server: Default::default(),
    }
}

/// The error of `take_reply` for a command without an answer.
fn not_run(why: &str) -> Error {
    Error::UnknownError {
        text: format!("the batch command {why}"),
        server: Default::default(),
    }
}

/// Spare batches for single calls, per thread: `Memcache::call` takes one,
/// runs its request in it and gives it back, so a call allocates no batch
/// once its thread made one (a nested call, e.g. a wrapper calling the
/// client it wraps, takes the next).
struct Spares(RefCell<Vec<Batch>>);

thread_local! {
    static SPARES: Spares = const { Spares(RefCell::new(Vec::new())) };
}

/// Batches whose buffers grew past this are dropped instead of kept: a
/// single call of a few keys fits; one that copied a large value or many
/// items in is not worth keeping on the heap for the thread's life.
const SPARE_MAX_BYTES: usize = 16 * 1024;
/// Spare batches kept per thread (calls nested this deep allocate none).
const SPARES_KEPT: usize = 4;

/// Run `f` with an empty batch: a spare one of this thread if there is
/// one, given back afterwards (never a double borrow: the spares are only
/// borrowed to take or give one, not while `f` runs).
pub(crate) fn with_spare<R>(f: impl FnOnce(&mut Batch) -> R) -> R {
    let spare = SPARES
        .try_with(|s| s.0.try_borrow_mut().ok().and_then(|mut v| v.pop()))
        .ok()
        .flatten();
    let mut batch = spare.unwrap_or_default();
    batch.clear();
    let res = f(&mut batch);
    if batch.footprint() <= SPARE_MAX_BYTES {
        let _ = SPARES.try_with(|s| {
            if let Ok(mut v) = s.0.try_borrow_mut() {
                if v.len() < SPARES_KEPT {
                    v.push(batch);
                }
            }
        });
    }
    res
}

impl Error {
    /// A copy of the error for another command of the same batch (an I/O
    /// error's source is kept as its kind and text).
    pub(crate) fn clone_lossy(&self) -> Error {
        match self {
            Error::UnknownCommand { text, server } => Error::UnknownCommand {
                text: text.clone(),
                server: server.clone(),
            },
            Error::ClientError { text, server } => Error::ClientError {
                text: text.clone(),
                server: server.clone(),
            },
            Error::ServerError { text, server } => Error::ServerError {
                text: text.clone(),
                server: server.clone(),
            },
            Error::UnknownError { text, server } => Error::UnknownError {
                text: text.clone(),
                server: server.clone(),
            },
            Error::UnexpectedClose { server } => Error::UnexpectedClose {
                server: server.clone(),
            },
            Error::IllegalInput(t) => Error::IllegalInput(t.clone()),
            Error::Timeout { text, server } => Error::Timeout {
                text: text.clone(),
                server: server.clone(),
            },
            Error::Io { source, server } => Error::Io {
                source: std::io::Error::new(source.kind(), source.to_string()),
                server: server.clone(),
            },
            Error::TooLarge { len, max, server } => Error::TooLarge {
                len: *len,
                max: *max,
                server: server.clone(),
            },
            Error::PoolExhausted { max, waited } => Error::PoolExhausted {
                max: *max,
                waited: *waited,
            },
            Error::NoServers => Error::NoServers,
            other => Error::UnknownError {
                text: other.to_string(),
                server: Default::default(),
            },
        }
    }
}
