//! The clients and the command set they share.

mod backoff;
pub(crate) mod batch;
mod codec;
mod fallback;
mod hash;
mod health;
mod mock;
mod options;
mod pooled;
mod request;
mod retrying;
pub(crate) mod server;
mod single;
mod stats;
mod via_conn;

pub use backoff::{Backoff, BackoffOptions};
pub use batch::{Batch, Lease, MetaCmd, OpKind, OpResult, OpStatus};
pub use codec::{set_many_encoded, CodecClient, Compression, ValueCodec};
pub use fallback::FallbackClient;
pub use hash::{HashClient, HashOptions};
pub use health::{FailureTracking, NodeHealth, NodeState, StateCallback, StateCause, StateEvent};
pub use mock::MockClient;
pub use options::{ClientOptions, DEFAULT_MAX_VALUE_LEN};
pub use pooled::PooledClient;
pub use request::{Reply, Request};
pub use retrying::{RetryOptions, RetryingClient};
pub use server::ServerConn;
pub use single::Client;
pub use stats::{Stat, StatValue};
pub use via_conn::{ConnGuard, ConnSource};

use crate::error::Result;
use crate::pool::PoolStats;
pub use crate::protocol::request::{FetchCmd, StoreCmd};

/// A value read from the cache.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// The stored flags (pymemcache's serde flags, or the caller's own).
    pub flags: u32,
    /// The CAS unique, for `gets`, `gets_many` and `gats`.
    pub cas: Option<u64>,
}

/// One hit of a packed multi-key read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedHit {
    /// Position of the key in the request.
    pub index: usize,
    /// Where the value starts in `Packed::data`.
    pub start: usize,
    /// The value's length (a NUL follows it in `data`).
    pub len: usize,
    /// The item's flags.
    pub flags: u32,
    /// The CAS unique, for gets/gats.
    pub cas: Option<u64>,
}

/// The hits of a multi-key read with every value in one buffer: fewer
/// allocations than one `Item` per hit, for callers that hand the whole
/// result on (the C surface).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    /// The values, each followed by a NUL byte.
    pub data: Vec<u8>,
    /// The hits, in request order.
    pub hits: Vec<PackedHit>,
}

impl Packed {
    /// Append a hit.
    pub fn push(&mut self, index: usize, item: &Item) {
        self.push_value(index, &item.value, item.flags, item.cas);
    }

    /// Append a hit given by its parts.
    pub fn push_value(&mut self, index: usize, value: &[u8], flags: u32, cas: Option<u64>) {
        self.hits.push(PackedHit {
            index,
            start: self.data.len(),
            len: value.len(),
            flags,
            cas,
        });
        self.data.extend_from_slice(value);
        self.data.push(0);
    }

    /// The value of a hit.
    pub fn value(&self, hit: &PackedHit) -> &[u8] {
        &self.data[hit.start..hit.start + hit.len]
    }
}

/// What a `cas` command did (pymemcache: True / False / None).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// Stored: the CAS unique matched (or noreply was used).
    Stored,
    /// Not stored: the item changed since it was read.
    Exists,
    /// Not stored: there is no such item.
    NotFound,
}

/// The stats of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStats {
    /// The server they came from ("host:port" or the socket path).
    pub server: String,
    /// The `STAT` lines in the order the server sent them.
    pub stats: Vec<Stat>,
}

impl ServerStats {
    /// The stat named `name`, if the server reported it.
    pub fn get(&self, name: &str) -> Option<&Stat> {
        self.stats.iter().find(|s| s.name == name)
    }
}

/// The command set every client kind implements, with pymemcache's
/// semantics. `noreply: None` follows the client's default for that command
/// (`default_noreply` for storage commands, delete, touch and flush_all;
/// off for cas, incr and decr).
///
/// One method is required: `execute`, which runs a `Batch` of commands
/// (any `Request`, and the single-key batch commands); `call` runs one
/// `Request` as a batch of one, and the named methods (`get`, `set`, ...)
/// build their request, call it and unpack the `Reply`. A batch of one
/// request goes on the wire as its classic command, so single calls are
/// what they always were (see `Batch::run_with`). A wrapper client
/// implements `execute` and `inner`, through which the other provided
/// methods (`close`, `pool_stats`, metrics, `server_for_key`, `as_hash`)
/// reach the client it wraps.
///
/// All methods take `&self`: every client kind may be shared between
/// threads; a single-server `Client` serializes its callers.
pub trait Memcache: Send + Sync {
    /// Run every command of `batch`; each gets its own result (a miss or a
    /// failure of one does not stop the others). Clients over memcached
    /// servers run a batch of one `Request` as its classic command and
    /// pipeline the single-key commands of larger batches over the meta
    /// protocol, one write and one read pass per server, with whole-client
    /// commands as barriers between them (`Batch::run_with`); the mock
    /// runs the same values in memory; the codec, fallback and retrying
    /// clients add their behaviour and hand the batch to the clients they
    /// wrap. The error is for a failure of the whole run, not of a command.
    fn execute(&self, batch: &mut Batch) -> Result<()>;

    /// The client this one wraps, for the provided methods that forward to
    /// it (`close`, `pool_stats`, `pool_clear`, the metrics,
    /// `server_for_key`, `as_hash`); `None` for a client of its own
    /// servers, which implements those it needs.
    fn inner(&self) -> Option<&dyn Memcache> {
        None
    }

    /// Run one command: a batch of one request (a spare batch of the
    /// calling thread's, so no batch is allocated per call), its reply or
    /// its error. A client may take the request straight to what its
    /// `execute` runs for such a batch, without the copy into a batch (the
    /// single, pooled and hash clients do).
    fn call(&self, req: Request<'_>) -> Result<Reply> {
        batch::with_spare(|b| {
            b.request(req);
            self.execute(b)?;
            b.take_reply(0)
        })
    }

    /// Run a retrieval command for `keys`; the result holds one entry per key,
    /// in order, `None` for a miss.
    fn fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        self.call(Request::Fetch { cmd, keys })?.into_items()
    }

    /// Run one storage command; true if stored (always true with noreply).
    fn store(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        self.call(Request::Store {
            cmd,
            key,
            value,
            flags,
            expire,
            noreply,
        })?
        .into_bool()
    }

    /// Set many items; returns the indices of the items that were not stored
    /// (always empty with noreply).
    fn set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        self.call(Request::SetMany {
            items,
            flags,
            expire,
            noreply,
        })?
        .into_indices()
    }

    /// Store `value` only if the item's CAS unique is still `cas`.
    fn cas(
        &self,
        key: &[u8],
        value: &[u8],
        cas: u64,
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<CasOutcome> {
        self.call(Request::Cas {
            key,
            value,
            cas,
            flags,
            expire,
            noreply,
        })?
        .into_cas()
    }

    /// Delete a key; true if it was there (always true with noreply).
    fn delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.call(Request::Delete { key, noreply })?.into_bool()
    }

    /// Delete many keys; how many were found and deleted (with noreply, the
    /// number of keys sent).
    fn delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        self.call(Request::DeleteMany { keys, noreply })?
            .into_count()
    }

    /// Add `delta` to a decimal counter; the new value, or `None` if the key
    /// is missing (always `None` with noreply).
    fn incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.call(Request::Incr {
            key,
            delta,
            noreply,
        })?
        .into_counter()
    }

    /// Subtract `delta` from a decimal counter (memcached stops at 0).
    fn decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.call(Request::Decr {
            key,
            delta,
            noreply,
        })?
        .into_counter()
    }

    /// Set a new expiry; true if the key was there.
    fn touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        self.call(Request::Touch {
            key,
            expire,
            noreply,
        })?
        .into_bool()
    }

    /// The `stats` command (with optional arguments), one entry per server.
    fn stats(&self, args: &[&str]) -> Result<Vec<ServerStats>> {
        self.call(Request::Stats { args })?.into_stats()
    }

    /// The server's version string (the first server's, for several).
    fn version(&self) -> Result<String> {
        self.call(Request::Version)?.into_text()
    }

    /// Invalidate every item, now or after `delay` seconds, on every server.
    fn flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<()> {
        self.call(Request::FlushAll { delay, noreply })?.into_done()
    }

    /// Change the servers' memory limit, in megabytes.
    fn cache_memlimit(&self, megabytes: u64) -> Result<()> {
        self.call(Request::CacheMemlimit { megabytes })?.into_done()
    }

    /// Send one command line as given and return the reply up to (not
    /// including) `end_token`.
    fn raw_command(&self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>> {
        self.call(Request::Raw { command, end_token })?.into_bytes()
    }

    /// Ask the server to shut down (needs memcached `-A`).
    fn shutdown(&self, graceful: bool) -> Result<()> {
        self.call(Request::Shutdown { graceful })?.into_done()
    }

    /// Send `quit` and close the connection; the next command reconnects.
    fn quit(&self) -> Result<()> {
        self.call(Request::Quit)?.into_done()
    }

    /// Close the connection(s); the next command reconnects. Forwarded to
    /// `inner` by default.
    fn close(&self) {
        if let Some(c) = self.inner() {
            c.close()
        }
    }

    /// The connection pool's counts, for pooled clients (`inner`'s by
    /// default).
    fn pool_stats(&self) -> Option<PoolStats> {
        self.inner().and_then(|c| c.pool_stats())
    }

    /// Destroy the pool's free connections, for pooled clients (`inner`'s
    /// by default).
    fn pool_clear(&self) {
        if let Some(c) = self.inner() {
            c.pool_clear()
        }
    }

    /// Every server's metrics now (empty with `ClientOptions::metrics`
    /// off, or for clients that keep none; `inner`'s by default).
    fn metrics_snapshot(&self) -> crate::metrics::MetricsSnapshot {
        self.inner()
            .map(|c| c.metrics_snapshot())
            .unwrap_or_default()
    }

    /// Zero every server's counters (`inner`'s by default).
    fn metrics_reset(&self) {
        if let Some(c) = self.inner() {
            c.metrics_reset()
        }
    }

    /// The server `key` is placed on ("host:port" or the socket path);
    /// `inner`'s placement by default (a client without `inner` must
    /// implement it).
    fn server_for_key(&self, key: &[u8]) -> Result<String> {
        match self.inner() {
            Some(c) => c.server_for_key(key),
            None => Err(crate::Error::IllegalInput(
                "this client places no keys on servers".into(),
            )),
        }
    }

    /// This client as a hash client, if it is one (for add/remove_server);
    /// `inner`'s by default.
    fn as_hash(&self) -> Option<&HashClient> {
        self.inner().and_then(|c| c.as_hash())
    }

    /// Stampede control: read `key`, or win the right to recompute it. A
    /// miss makes an empty placeholder living `lock_ttl` seconds that the
    /// winner replaces with `set`; `recache_below` > 0 also lets one
    /// caller win when the item has fewer seconds left. The value is
    /// returned with `Hit`, `Stale` and `StaleWon`.
    fn get_or_lock(
        &self,
        key: &[u8],
        lock_ttl: i64,
        recache_below: i64,
    ) -> Result<(Lease, Option<Item>)> {
        batch::with_spare(|b| {
            b.get_or_lock(key, lock_ttl, recache_below);
            self.execute(b)?;
            let r = b.result(0);
            if let Some(e) = &r.error {
                return Err(e.clone_lossy());
            }
            let lease = r.lease.unwrap_or(Lease::MissBusy);
            let item = match lease {
                Lease::Hit | Lease::Stale | Lease::StaleWon => Some(Item {
                    value: b.result_value(0).to_vec(),
                    flags: r.flags,
                    cas: r.cas,
                }),
                Lease::MissWon | Lease::MissBusy => None,
            };
            Ok((lease, item))
        })
    }

    /// Mark `key` stale for `stale_ttl` seconds (`md <key> I T<ttl>`): the
    /// next `get_or_lock` wins the recompute and the others are served the
    /// stale value meanwhile. False if there is no such item.
    fn invalidate(&self, key: &[u8], stale_ttl: i64) -> Result<bool> {
        batch::with_spare(|b| {
            b.invalidate(key, stale_ttl);
            self.execute(b)?;
            let r = b.result(0);
            match (&r.error, r.status) {
                (Some(e), _) => Err(e.clone_lossy()),
                (None, s) => Ok(s == OpStatus::Ok),
            }
        })
    }

    /// Run a retrieval command for `keys`, appending the hits to `out`.
    fn fetch_packed(&self, cmd: FetchCmd, keys: &[&[u8]], out: &mut Packed) -> Result<()> {
        for (i, item) in self.fetch(cmd, keys)?.iter().enumerate() {
            if let Some(item) = item {
                out.push(i, item);
            }
        }
        Ok(())
    }

    /// Run a retrieval command for one key.
    fn fetch_one(&self, cmd: FetchCmd, key: &[u8]) -> Result<Option<Item>> {
        Ok(self.fetch(cmd, &[key])?.pop().flatten())
    }

    /// `get` for one key.
    fn get(&self, key: &[u8]) -> Result<Option<Item>> {
        self.fetch_one(FetchCmd::Get, key)
    }

    /// `gets` for one key: the item carries its CAS unique.
    fn gets(&self, key: &[u8]) -> Result<Option<Item>> {
        self.fetch_one(FetchCmd::Gets, key)
    }

    /// `gat`: get one key and set its expiry.
    fn gat(&self, key: &[u8], expire: i64) -> Result<Option<Item>> {
        self.fetch_one(FetchCmd::Gat(expire), key)
    }

    /// `gats`: `gat` with the CAS unique.
    fn gats(&self, key: &[u8], expire: i64) -> Result<Option<Item>> {
        self.fetch_one(FetchCmd::Gats(expire), key)
    }

    /// `get` for many keys: one entry per key, `None` for a miss.
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        self.fetch(FetchCmd::Get, keys)
    }

    /// `gets` for many keys.
    fn gets_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        self.fetch(FetchCmd::Gets, keys)
    }

    /// `set`.
    fn set(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        self.store(StoreCmd::Set, key, value, flags, expire, noreply)
    }

    /// `add`: store only if absent.
    fn add(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        self.store(StoreCmd::Add, key, value, flags, expire, noreply)
    }

    /// `replace`: store only if present.
    fn replace(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        self.store(StoreCmd::Replace, key, value, flags, expire, noreply)
    }

    /// `append` to an existing value.
    fn append(&self, key: &[u8], value: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.store(StoreCmd::Append, key, value, 0, 0, noreply)
    }

    /// `prepend` to an existing value.
    fn prepend(&self, key: &[u8], value: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.store(StoreCmd::Prepend, key, value, 0, 0, noreply)
    }
}
