//! Batches: many commands of any kind as values, run with one write and one
//! read pass per server over the meta protocol (quiet mode, opaque tokens,
//! `mn` at the end), with one result per command in request order.
//!
//! A `Batch` owns copies of its keys and values in one buffer and its
//! results' values in another, so queueing and running a batch allocates
//! nothing per command once the buffers have grown; a batch is meant to be
//! cleared and reused.

use super::StoreCmd;
use crate::error::Error;

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
    };
}

/// The commands of a batch.
#[derive(Debug, Default)]
pub(crate) struct Ops {
    pub reqs: Vec<Req>,
    /// Keys, values and flag tokens of the commands.
    pub args: Vec<u8>,
}

impl Ops {
    pub fn key(&self, i: usize) -> &[u8] {
        let (s, l) = self.reqs[i].key;
        &self.args[s..s + l]
    }

    pub fn value(&self, i: usize) -> &[u8] {
        let (s, l) = self.reqs[i].value;
        &self.args[s..s + l]
    }

    pub fn tokens(&self, i: usize) -> &[u8] {
        let (s, l) = self.reqs[i].tokens;
        &self.args[s..s + l]
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
        self.out.results.clear();
        self.out.data.clear();
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
        });
        self.ops.reqs.len() - 1
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

    /// Ready the results for a run: every command pending.
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

    pub(crate) fn start(&mut self) {
        self.out.results.clear();
        self.out
            .results
            .extend((0..self.ops.reqs.len()).map(|_| OpResult::PENDING));
        self.out.data.clear();
    }

    /// Run the batch command by command through the named methods of
    /// `client`: the default `Memcache::execute`, for implementations
    /// without a batch path of their own. Meta-only commands fail there.
    pub(crate) fn run_each(&mut self, client: &(impl super::Memcache + ?Sized)) {
        self.run_each_with(client, |_, out, i| out.fail(i, no_meta()));
    }

    /// `run_each`, with the meta-only commands (stampede reads,
    /// invalidations, generic meta commands) run by `meta`, which records
    /// command `i`'s outcome in the results.
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
            };
            match res {
                Ok(s) => out.set_status(i, s),
                Err(e) => out.fail(i, e),
            }
        }
    }
}

/// The error of a meta command on a client kind that does not run them.
fn no_meta() -> Error {
    Error::UnknownCommand {
        text: "this client does not run meta commands (its Memcache implementation has \
               no execute of its own); use a memcached or mock client"
            .into(),
        server: Default::default(),
    }
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
