//! `MockClient`: the whole command set in memory, for users' unit tests,
//! behaving like a `Client` talking to memcached 1.6.18 (pymemcache's
//! `MockMemcacheClient`, made exact).
//!
//! (See `MockClient` for what it reproduces.)

mod meta;

use super::request::call_ops;
use super::{
    CasOutcome, ClientOptions, FetchCmd, Item, Memcache, Reply, Request, ServerStats, Stat,
    StoreCmd,
};
use crate::error::{Error, Result};
use crate::key::KeyRules;
use crate::metrics::{MetricsSnapshot, ServerMetrics};
use crate::protocol::request::check_exptime;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The version the mock reports.
const MOCK_VERSION: &str = "1.6.18-mock";
/// The server name the mock reports (stats, server_for_key, errors).
const MOCK_NAME: &str = "mock";
/// memcached's default item size limit (`-I 1m`).
const DEFAULT_ITEM_SIZE_MAX: usize = 1024 * 1024;
/// memcached's `slab_chunk_max`: larger items are chunked (and incr/decr
/// refuse them).
const SLAB_CHUNK_MAX: usize = 512 * 1024;
/// Exptimes up to this many seconds (30 days) are relative.
const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;
/// memcached starts its clock this many seconds before the process starts.
const CLOCK_OFFSET: i64 = 62;
/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES` (`stats cachedump` ids).
const MAX_SLAB_CLASSES: u32 = 64;
/// The default memory limit (`-m 64`).
const DEFAULT_MAXBYTES: u64 = 64 * 1024 * 1024;
const NON_NUMERIC: &str = "cannot increment or decrement non-numeric value";
const TOO_LARGE: &str = "object too large for cache";

/// A memcached in memory: the whole `Memcache` command set, no server,
/// for unit tests. Outcomes are those of a `Client` with the same options
/// talking to a memcached 1.6.18 with default settings, errors included
/// (server errors name the server "mock"). Thread-safe; `quit` and `close`
/// do nothing; `peek` reads an item without counting or changing anything.
///
/// What it reproduces, checked against a real memcached 1.6.18:
///
/// - Client-side checks come first and are the real client's own: key rules
///   (prefix included, `IllegalInput`), `max_value_len` (`TooLarge`), a
///   stored value longer than `max_value_len` read back (`TooLarge`, or a
///   miss with `ignore_exc`), the noreply defaults and what a noreply
///   command returns.
/// - Item size: an item needs `48 + key + 1 + (flags != 0 ? 4 : 0) +
///   value + 2 + 8` bytes and must fit the item size limit (`-I`, 1 MiB by
///   default), else `SERVER_ERROR object too large for cache`; a `set` that
///   is too large also deletes the key's current item. An append/prepend
///   whose result would be too large is `NOT_STORED`.
/// - Expiry as memcached reads an exptime: it is truncated to 32 bits;
///   0 never expires, negative is already expired, up to 30 days is relative,
///   more is a unix time. Time runs in whole seconds of the system clock, so
///   an item set with expire=1 is gone within a second.
/// - CAS uniques come from one counter, taken by every write that makes an
///   item (set/add/replace/append/prepend/cas/incr/decr); touch and gat keep
///   the unique. An immediate flush_all takes one too, as memcached does.
/// - incr/decr parse the value as memcached's `strtoull` does, write the
///   result in place padded with spaces when it is not longer, wrap (incr)
///   or stop at 0 (decr), and refuse values of chunked (over 512 KiB) items.
/// - flush_all with a delay invalidates, when `delay - 1` seconds have
///   passed, every item stored before that moment, including the ones
///   stored after the command (memcached's `oldest_live`); `flush_all 0`
///   and `flush_all 1` act at once (`flush_all 1` also hides what is stored
///   in the rest of the current second). A delay over 30 days is a unix
///   time: one before the mock was made flushes nothing, as memcached does
///   with one before it started.
///
/// - Batches (`execute`), stampede control (`get_or_lock`, `invalidate`)
///   and generic meta commands run as memcached 1.6.18's `mg`/`ms`/`md`/`ma`
///   with their flags, leases (`W`/`X`/`Z`) and return flags (see
///   `mock/meta.rs`).
///
/// What is simpler than a server: nothing is ever evicted (memory is not
/// limited), `version` is "1.6.18-mock", `stats` reports counters computed
/// from the mock's own state, `raw_command` only knows `version`, and
/// `shutdown` fails as on a server started without `-A`.
///
/// Not copied, as they depend on the server's memory and threads: an
/// incr/decr of a counter of 2^63 or more that memcached refuses when stale
/// bytes after the value hold a `-`; an incr/decr that writes an unpadded
/// new item while the LRU maintainer holds the old one; `stats cachedump`
/// listing only items already moved to the COLD LRU; `stats sizes_enable`
/// and `sizes_disable`, which memcached answers without `END` (a real
/// client waits for it); and a memory limit refused because the server
/// already uses more.
///
/// ```
/// use pymemcache::{ClientOptions, Memcache, MockClient};
/// let mc = MockClient::new(&ClientOptions::default())?;
/// mc.set(b"k", b"41", 0, 0, None)?;
/// assert_eq!(mc.incr(b"k", 1, None)?, Some(42));
/// assert_eq!(mc.get(b"k")?.unwrap().value, b"42");
/// # Ok::<(), pymemcache::Error>(())
/// ```
pub struct MockClient {
    rules: KeyRules,
    default_noreply: bool,
    max_value_len: usize,
    ignore_exc: bool,
    item_size_max: usize,
    name: Arc<str>,
    state: Mutex<State>,
    /// The one pseudo-server's metrics (`None`: metrics off).
    metrics: Option<Arc<ServerMetrics>>,
}

/// One stored item. Times are memcached's relative seconds.
#[derive(Debug, Clone)]
struct MockItem {
    value: Vec<u8>,
    flags: u32,
    /// 0: never.
    exptime: u32,
    /// When it was stored (flush_all compares it to `oldest_live`).
    time: u32,
    cas: u64,
    /// Last access (the meta `l` flag).
    atime: u32,
    /// Read since it was stored (the meta `h` flag).
    fetched: bool,
    /// Marked stale by `md <key> I` (the meta `X` flag).
    stale: bool,
    /// A client was told it won the recompute (`W` sent; others see `Z`).
    token_sent: bool,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    cmd_get: u64,
    cmd_set: u64,
    cmd_flush: u64,
    cmd_touch: u64,
    get_hits: u64,
    get_misses: u64,
    get_expired: u64,
    get_flushed: u64,
    delete_hits: u64,
    delete_misses: u64,
    incr_hits: u64,
    incr_misses: u64,
    decr_hits: u64,
    decr_misses: u64,
    cas_hits: u64,
    cas_misses: u64,
    cas_badval: u64,
    touch_hits: u64,
    touch_misses: u64,
    store_too_large: u64,
    total_items: u64,
}

struct State {
    items: HashMap<Vec<u8>, MockItem>,
    cas_id: u64,
    /// Unix time of memcached's clock zero.
    process_started: i64,
    /// Unix time the mock was made.
    created: i64,
    /// The current operation's time (relative seconds).
    now: u32,
    oldest_live: u32,
    oldest_cas: u64,
    /// A delayed flush_all has yet to purge its items.
    flush_pending: bool,
    maxbytes: u64,
    stats: Counters,
}

/// The outcome of one storage command on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Stored,
    NotStored,
    Exists,
    NotFound,
    TooLarge,
}

fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => 0,
    }
}

/// Bytes memcached needs for an item (header, key + NUL, flags suffix,
/// value + CRLF, CAS).
fn item_total(nkey: usize, flags: u32, vlen: usize) -> usize {
    let suffix = if flags == 0 { 0 } else { 4 };
    48 + nkey + 1 + suffix + vlen + 2 + 8
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// memcached's `safe_strtoull` on an item's data (followed in memory by
/// CRLF): optional leading whitespace, an optional sign, decimal digits,
/// then whitespace, NUL or the end. Overflow and negative values fail.
fn parse_counter(data: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < data.len() && is_c_space(data[i]) {
        i += 1;
    }
    // Only whitespace: strtoull would run on past the CRLF; memcached
    // finds no digits there.
    let mut negative = false;
    if i < data.len() && (data[i] == b'+' || data[i] == b'-') {
        negative = data[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut n: u64 = 0;
    let mut overflow = false;
    while i < data.len() && data[i].is_ascii_digit() {
        match n
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(data[i] - b'0')))
        {
            Some(v) => n = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start || overflow {
        return None;
    }
    if i < data.len() && !is_c_space(data[i]) && data[i] != 0 {
        return None;
    }
    let value = if negative { n.wrapping_neg() } else { n };
    if (value as i64) < 0 && negative {
        return None;
    }
    Some(value)
}

/// memcached's `safe_strtoul` into 32 bits (for `stats cachedump`).
fn parse_u32_arg(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse::<u64>().ok().map(|v| v as u32)
}

/// The chunk sizes of memcached's slab classes with the default settings
/// (`-n 48 -f 1.25`), class 1 first.
fn slab_sizes(chunk_max: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut size: usize = 96;
    while sizes.len() < (MAX_SLAB_CLASSES as usize - 2) && (size as f64) < chunk_max as f64 / 1.25 {
        if !size.is_multiple_of(8) {
            size += 8 - size % 8;
        }
        sizes.push(size);
        size = (size as f64 * 1.25) as usize;
    }
    sizes.push(chunk_max);
    sizes
}

impl State {
    fn new() -> State {
        let created = unix_now();
        State {
            items: HashMap::new(),
            cas_id: 0,
            process_started: created - CLOCK_OFFSET,
            created,
            now: CLOCK_OFFSET as u32,
            oldest_live: 0,
            oldest_cas: 0,
            flush_pending: false,
            maxbytes: DEFAULT_MAXBYTES,
            stats: Counters::default(),
        }
    }

    /// Start an operation: read the clock and apply a delayed flush whose
    /// time has come.
    fn begin(&mut self) {
        let rel = unix_now() - self.process_started;
        self.now = rel.clamp(0, i64::from(u32::MAX)) as u32;
        if self.flush_pending && self.oldest_live <= self.now {
            self.flush_pending = false;
            self.purge_flushed();
        }
    }

    fn next_cas(&mut self) -> u64 {
        self.cas_id += 1;
        self.cas_id
    }

    /// memcached's `realtime()` of an exptime as the server parses it.
    fn realtime(&self, exptime: i64) -> u32 {
        let mut e = i64::from(exptime as i32);
        if e < 0 {
            e = REALTIME_MAXDELTA + 1;
        }
        self.realtime_raw(e)
    }

    fn realtime_raw(&self, e: i64) -> u32 {
        if e == 0 {
            0
        } else if e > REALTIME_MAXDELTA {
            if e <= self.process_started {
                1
            } else {
                (e - self.process_started) as u32
            }
        } else {
            (e as u32).wrapping_add(self.now)
        }
    }

    fn is_flushed(&self, it: &MockItem) -> bool {
        if self.oldest_live == 0 || self.oldest_live > self.now {
            return false;
        }
        it.time <= self.oldest_live || (self.oldest_cas != 0 && it.cas < self.oldest_cas)
    }

    fn is_expired(&self, it: &MockItem) -> bool {
        it.exptime != 0 && it.exptime <= self.now
    }

    fn is_live(&self, it: &MockItem) -> bool {
        !self.is_flushed(it) && !self.is_expired(it)
    }

    fn purge_flushed(&mut self) {
        let mut items = std::mem::take(&mut self.items);
        items.retain(|_, it| !self.is_flushed(it));
        self.items = items;
    }

    /// The live item under `key`; a flushed or expired one is dropped.
    fn live(&mut self, key: &[u8]) -> Option<&mut MockItem> {
        let (flushed, expired) = {
            let it = self.items.get(key)?;
            (self.is_flushed(it), self.is_expired(it))
        };
        if flushed || expired {
            self.items.remove(key);
            if flushed {
                self.stats.get_flushed += 1;
            } else {
                self.stats.get_expired += 1;
            }
            return None;
        }
        self.items.get_mut(key)
    }

    fn link(&mut self, key: Vec<u8>, value: Vec<u8>, flags: u32, exptime: u32) -> u64 {
        let cas = self.next_cas();
        let time = self.now;
        self.stats.total_items += 1;
        self.items.insert(
            key,
            MockItem {
                value,
                flags,
                exptime,
                time,
                cas,
                atime: time,
                fetched: false,
                stale: false,
                token_sent: false,
            },
        );
        cas
    }
}

impl MockClient {
    /// A mock with the item size limit of a default memcached (1 MiB).
    pub fn new(opts: &ClientOptions) -> Result<MockClient> {
        MockClient::with_item_size_max(opts, DEFAULT_ITEM_SIZE_MAX)
    }

    /// A mock whose items may take up to `item_size_max` bytes, like
    /// memcached's `-I`.
    pub fn with_item_size_max(opts: &ClientOptions, item_size_max: usize) -> Result<MockClient> {
        if item_size_max < 1024 {
            return Err(Error::Config(
                "item_size_max must be at least 1024 bytes, as memcached's -I".into(),
            ));
        }
        Ok(MockClient {
            rules: opts.key_rules()?,
            default_noreply: opts.default_noreply,
            max_value_len: opts.max_value_len,
            ignore_exc: opts.ignore_exc,
            item_size_max,
            name: Arc::from(MOCK_NAME),
            state: Mutex::new(State::new()),
            metrics: opts.metrics.then(|| Arc::new(ServerMetrics::new())),
        })
    }

    /// How many live (unexpired, unflushed) items the mock holds.
    pub fn len(&self) -> usize {
        let mut st = self.state.lock();
        st.begin();
        st.items.values().filter(|it| st.is_live(it)).count()
    }

    /// True when no live item is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live item under `key` (with its CAS unique), read without
    /// counting a get or changing anything: for a test to inspect what the
    /// code under test stored.
    pub fn peek(&self, key: &[u8]) -> Result<Option<Item>> {
        let key = self.full_key(key)?;
        let mut st = self.state.lock();
        st.begin();
        Ok(st
            .items
            .get(&key)
            .filter(|it| st.is_live(it))
            .map(|it| Item {
                value: it.value.clone(),
                flags: it.flags,
                cas: Some(it.cas),
            }))
    }

    /// The item size limit (`-I`).
    pub fn item_size_max(&self) -> usize {
        self.item_size_max
    }

    fn full_key(&self, key: &[u8]) -> Result<Vec<u8>> {
        let mut k = Vec::with_capacity(self.rules.prefix.len() + key.len());
        self.rules.write_key(key, &mut k)?;
        Ok(k)
    }

    fn check_value_len(&self, len: usize) -> Result<()> {
        if len > self.max_value_len {
            return Err(Error::TooLarge {
                len: len as u64,
                max: self.max_value_len as u64,
                server: Default::default(),
            });
        }
        Ok(())
    }

    fn size_ok(&self, nkey: usize, flags: u32, vlen: usize) -> bool {
        item_total(nkey, flags, vlen) <= self.item_size_max
    }

    fn chunk_max(&self) -> usize {
        SLAB_CHUNK_MAX.min(self.item_size_max)
    }

    fn server_error(&self, text: &str) -> Error {
        Error::ServerError {
            text: text.into(),
            server: Default::default(),
        }
        .at(&self.name)
    }

    fn reply_error(&self, line: &[u8]) -> Error {
        Error::from_reply_line(line).at(&self.name)
    }

    /// One storage command as memcached runs it (after the client's checks).
    #[allow(clippy::too_many_arguments)] // one argument per protocol field
    fn store_locked(
        &self,
        st: &mut State,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        cas_in: Option<u64>,
    ) -> Outcome {
        if !self.size_ok(key.len(), flags, value.len()) {
            st.stats.store_too_large += 1;
            if cmd == StoreCmd::Set && cas_in.is_none() {
                // memcached drops the old value rather than keep stale data.
                if st.live(key).is_some() {
                    st.items.remove(key);
                }
            }
            return Outcome::TooLarge;
        }
        st.stats.cmd_set += 1;
        let exptime = st.realtime(expire);
        let old = st
            .live(key)
            .map(|it| (it.cas, it.flags, it.exptime, it.value.len()));
        if let Some(cas) = cas_in {
            return match old {
                None => {
                    st.stats.cas_misses += 1;
                    Outcome::NotFound
                }
                Some((old_cas, ..)) if old_cas == cas => {
                    st.stats.cas_hits += 1;
                    st.link(key.to_vec(), value.to_vec(), flags, exptime);
                    Outcome::Stored
                }
                Some(_) => {
                    st.stats.cas_badval += 1;
                    Outcome::Exists
                }
            };
        }
        match (cmd, old) {
            (StoreCmd::Add, Some(_)) => Outcome::NotStored,
            (StoreCmd::Replace | StoreCmd::Append | StoreCmd::Prepend, None) => Outcome::NotStored,
            (StoreCmd::Append | StoreCmd::Prepend, Some((_, old_flags, old_exp, old_len))) => {
                if !self.size_ok(key.len(), old_flags, old_len + value.len()) {
                    return Outcome::NotStored;
                }
                let old_value = &st.items[key].value;
                let mut joined = Vec::with_capacity(old_len + value.len());
                if cmd == StoreCmd::Append {
                    joined.extend_from_slice(old_value);
                    joined.extend_from_slice(value);
                } else {
                    joined.extend_from_slice(value);
                    joined.extend_from_slice(old_value);
                }
                st.link(key.to_vec(), joined, old_flags, old_exp);
                Outcome::Stored
            }
            _ => {
                st.link(key.to_vec(), value.to_vec(), flags, exptime);
                Outcome::Stored
            }
        }
    }

    /// A storage command with the client's checks and reply handling.
    #[allow(clippy::too_many_arguments)] // one argument per protocol field
    fn store_cmd(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        cas_in: Option<u64>,
        noreply: bool,
    ) -> Result<Outcome> {
        self.check_value_len(value.len())?;
        check_exptime("expire", expire)?;
        let key = self.full_key(key)?;
        let mut st = self.state.lock();
        st.begin();
        let r = self.store_locked(&mut st, cmd, &key, value, flags, expire, cas_in);
        drop(st);
        if noreply {
            return Ok(Outcome::Stored);
        }
        if r == Outcome::TooLarge {
            return Err(self.server_error(TOO_LARGE));
        }
        Ok(r)
    }

    fn incr_decr(
        &self,
        incr: bool,
        key: &[u8],
        delta: u64,
        noreply: Option<bool>,
    ) -> Result<Option<u64>> {
        let noreply = noreply.unwrap_or(false);
        let key = self.full_key(key)?;
        let mut st = self.state.lock();
        st.begin();
        let res = self.delta_locked(&mut st, &key, incr, delta);
        drop(st);
        if noreply {
            return Ok(None);
        }
        res.map_err(|text| {
            Error::ClientError {
                text: text.into(),
                server: Default::default(),
            }
            .at(&self.name)
        })
    }

    /// incr/decr of `key` (the full key) as memcached's `do_add_delta`
    /// runs it: the new value, `None` for a miss, or the error text.
    fn delta_locked(
        &self,
        st: &mut State,
        key: &[u8],
        incr: bool,
        delta: u64,
    ) -> std::result::Result<Option<u64>, &'static str> {
        let chunk_max = self.chunk_max();
        let Some(it) = st.live(key) else {
            if incr {
                st.stats.incr_misses += 1;
            } else {
                st.stats.decr_misses += 1;
            }
            return Ok(None);
        };
        if it.value.is_empty() || item_total(key.len(), it.flags, it.value.len()) > chunk_max {
            return Err(NON_NUMERIC);
        }
        let Some(old) = parse_counter(&it.value) else {
            return Err(NON_NUMERIC);
        };
        let new = if incr {
            old.wrapping_add(delta)
        } else {
            old.saturating_sub(delta)
        };
        let digits = new.to_string().into_bytes();
        let old_len = it.value.len();
        let (flags, exptime) = (it.flags, it.exptime);
        if digits.len() <= old_len {
            let mut v = digits;
            v.resize(old_len, b' ');
            it.value = v;
            let cas = st.next_cas();
            if let Some(it) = st.items.get_mut(key) {
                it.cas = cas;
            }
        } else {
            st.link(key.to_vec(), digits, flags, exptime);
        }
        if incr {
            st.stats.incr_hits += 1;
        } else {
            st.stats.decr_hits += 1;
        }
        Ok(Some(new))
    }

    fn general_stats(&self, st: &State) -> Vec<(String, String)> {
        let c = &st.stats;
        let live: Vec<(&Vec<u8>, &MockItem)> =
            st.items.iter().filter(|(_, it)| st.is_live(it)).collect();
        let bytes: usize = live
            .iter()
            .map(|(k, it)| item_total(k.len(), it.flags, it.value.len()))
            .sum();
        let now = st.process_started + i64::from(st.now);
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |n: &str, v: String| out.push((n.to_string(), v));
        put("pid", std::process::id().to_string());
        put("uptime", (now - st.created).max(0).to_string());
        put("time", now.to_string());
        put("version", MOCK_VERSION.to_string());
        put(
            "pointer_size",
            (8 * std::mem::size_of::<usize>()).to_string(),
        );
        put("curr_connections", "1".into());
        put("total_connections", "1".into());
        put("cmd_get", c.cmd_get.to_string());
        put("cmd_set", c.cmd_set.to_string());
        put("cmd_flush", c.cmd_flush.to_string());
        put("cmd_touch", c.cmd_touch.to_string());
        put("get_hits", c.get_hits.to_string());
        put("get_misses", c.get_misses.to_string());
        put("get_expired", c.get_expired.to_string());
        put("get_flushed", c.get_flushed.to_string());
        put("delete_misses", c.delete_misses.to_string());
        put("delete_hits", c.delete_hits.to_string());
        put("incr_misses", c.incr_misses.to_string());
        put("incr_hits", c.incr_hits.to_string());
        put("decr_misses", c.decr_misses.to_string());
        put("decr_hits", c.decr_hits.to_string());
        put("cas_misses", c.cas_misses.to_string());
        put("cas_hits", c.cas_hits.to_string());
        put("cas_badval", c.cas_badval.to_string());
        put("touch_hits", c.touch_hits.to_string());
        put("touch_misses", c.touch_misses.to_string());
        put("store_too_large", c.store_too_large.to_string());
        put("store_no_memory", "0".into());
        put("limit_maxbytes", st.maxbytes.to_string());
        put("threads", "1".into());
        put("bytes", bytes.to_string());
        put("curr_items", live.len().to_string());
        put("total_items", c.total_items.to_string());
        put("evictions", "0".into());
        put("reclaimed", "0".into());
        out
    }

    fn settings_stats(&self, st: &State) -> Vec<(String, String)> {
        [
            ("maxbytes", st.maxbytes.to_string()),
            ("maxconns", "1024".into()),
            ("tcpport", "0".into()),
            ("udpport", "0".into()),
            ("verbosity", "0".into()),
            ("oldest", st.oldest_live.to_string()),
            ("evictions", "on".into()),
            ("shutdown_command", "no".into()),
            ("growth_factor", "1.25".into()),
            ("chunk_size", "48".into()),
            ("num_threads", "1".into()),
            ("stat_key_prefix", ":".into()),
            ("detail_enabled", "no".into()),
            ("cas_enabled", "yes".into()),
            ("auth_enabled_sasl", "no".into()),
            ("item_size_max", self.item_size_max.to_string()),
            ("slab_chunk_max", self.chunk_max().to_string()),
            ("flush_enabled", "yes".into()),
            ("dump_enabled", "yes".into()),
            ("hash_algorithm", "murmur3".into()),
            ("lru_segmented", "yes".into()),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect()
    }

    /// The slab class (1-based) an item of `total` bytes lives in.
    fn slab_class(sizes: &[usize], total: usize) -> usize {
        sizes
            .iter()
            .position(|&s| s >= total)
            .unwrap_or(sizes.len() - 1)
            + 1
    }

    /// Live items grouped by slab class: (class, key, item).
    fn by_class<'a>(&self, st: &'a State) -> Vec<(usize, &'a Vec<u8>, &'a MockItem)> {
        let sizes = slab_sizes(self.chunk_max());
        let mut v: Vec<(usize, &Vec<u8>, &MockItem)> = st
            .items
            .iter()
            .filter(|(_, it)| st.is_live(it))
            .map(|(k, it)| {
                let total = item_total(k.len(), it.flags, it.value.len());
                (Self::slab_class(&sizes, total), k, it)
            })
            .collect();
        // Newest first, as an LRU walk from its head.
        v.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cas.cmp(&a.2.cas)));
        v
    }

    fn items_stats(&self, st: &State) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let all = self.by_class(st);
        let mut classes: Vec<usize> = all.iter().map(|e| e.0).collect();
        classes.dedup();
        for cls in classes {
            let members: Vec<_> = all.iter().filter(|e| e.0 == cls).collect();
            let oldest = members.iter().map(|e| e.2.time).min().unwrap_or(st.now);
            let requested: usize = members
                .iter()
                .map(|e| item_total(e.1.len(), e.2.flags, e.2.value.len()))
                .sum();
            out.push((format!("items:{cls}:number"), members.len().to_string()));
            out.push((format!("items:{cls}:age"), (st.now - oldest).to_string()));
            out.push((format!("items:{cls}:mem_requested"), requested.to_string()));
            out.push((format!("items:{cls}:evicted"), "0".into()));
        }
        out
    }

    fn slabs_stats(&self, st: &State) -> Vec<(String, String)> {
        let sizes = slab_sizes(self.chunk_max());
        let all = self.by_class(st);
        let mut classes: Vec<usize> = all.iter().map(|e| e.0).collect();
        classes.dedup();
        let mut out = Vec::new();
        for &cls in &classes {
            let used = all.iter().filter(|e| e.0 == cls).count();
            let size = sizes[cls - 1];
            out.push((format!("{cls}:chunk_size"), size.to_string()));
            out.push((
                format!("{cls}:chunks_per_page"),
                (SLAB_CHUNK_MAX * 2 / size).to_string(),
            ));
            out.push((format!("{cls}:used_chunks"), used.to_string()));
        }
        out.push(("active_slabs".into(), classes.len().to_string()));
        out.push(("total_malloced".into(), "0".into()));
        out
    }

    fn cachedump(&self, st: &State, args: &[&str]) -> Result<Vec<(String, String)>> {
        if args.len() < 3 {
            return Err(self.reply_error(b"CLIENT_ERROR bad command line"));
        }
        let (Some(id), Some(limit)) = (parse_u32_arg(args[1]), parse_u32_arg(args[2])) else {
            return Err(self.reply_error(b"CLIENT_ERROR bad command line format"));
        };
        if id >= MAX_SLAB_CLASSES {
            return Err(self.reply_error(b"CLIENT_ERROR Illegal slab id"));
        }
        let mut out = Vec::new();
        for (_, key, it) in self.by_class(st).into_iter().filter(|e| e.0 == id as usize) {
            if limit != 0 && out.len() >= limit as usize {
                break;
            }
            let exp = if it.exptime == 0 {
                0
            } else {
                i64::from(it.exptime) + st.process_started
            };
            out.push((
                String::from_utf8_lossy(key).into_owned(),
                format!("[{} b; {} s]", it.value.len(), exp),
            ));
        }
        Ok(out)
    }
}

fn check_arg(what: &str, arg: &[u8]) -> Result<()> {
    if arg.is_empty() || arg.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(Error::IllegalInput(format!(
            "{what} must be non-empty, without whitespace or control bytes"
        )));
    }
    Ok(())
}

impl MockClient {
    fn op_fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| self.full_key(k))
            .collect::<Result<_>>()?;
        let (touch, with_cas) = match cmd {
            FetchCmd::Get => (None, false),
            FetchCmd::Gets => (None, true),
            FetchCmd::Gat(t) => (Some(t), false),
            FetchCmd::Gats(t) => (Some(t), true),
        };
        if let Some(t) = touch {
            check_exptime("expire", t)?;
        }
        let mut out = Vec::with_capacity(full.len());
        {
            let mut st = self.state.lock();
            st.begin();
            for key in &full {
                let exptime = touch.map(|t| st.realtime(t));
                let now = st.now;
                let found = st.live(key).map(|it| {
                    if let Some(e) = exptime {
                        it.exptime = e;
                    }
                    it.fetched = true;
                    it.atime = now;
                    Item {
                        value: it.value.clone(),
                        flags: it.flags,
                        cas: if with_cas { Some(it.cas) } else { None },
                    }
                });
                let c = &mut st.stats;
                match (touch.is_some(), found.is_some()) {
                    (true, true) => c.touch_hits += 1,
                    (true, false) => c.touch_misses += 1,
                    (false, true) => c.get_hits += 1,
                    (false, false) => c.get_misses += 1,
                }
                if touch.is_some() {
                    c.cmd_touch += 1;
                } else {
                    c.cmd_get += 1;
                }
                out.push(found);
            }
        }
        // The client refuses, while reading the reply, a value longer than
        // it accepts.
        if let Some(len) = out
            .iter()
            .flatten()
            .map(|i| i.value.len())
            .find(|&l| l > self.max_value_len)
        {
            if self.ignore_exc {
                return Ok(vec![None; keys.len()]);
            }
            return Err(Error::TooLarge {
                len: len as u64,
                max: self.max_value_len as u64,
                server: Default::default(),
            }
            .at(&self.name));
        }
        Ok(out)
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
        let noreply = noreply.unwrap_or(self.default_noreply);
        let r = self.store_cmd(cmd, key, value, flags, expire, None, noreply)?;
        Ok(r == Outcome::Stored)
    }

    fn op_set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        let noreply = noreply.unwrap_or(self.default_noreply);
        for (key, value) in items {
            self.rules.check(key)?;
            self.check_value_len(value.len())?;
        }
        check_exptime("expire", expire)?;
        let mut failed = Vec::new();
        let mut st = self.state.lock();
        st.begin();
        // The real client pipelines batches of PIPELINE_BATCH sets: a whole
        // batch reaches the server before the first reply is read, and an
        // error reply ends the call after that batch.
        for (batch_no, batch) in items.chunks(super::server::PIPELINE_BATCH).enumerate() {
            let mut too_large = false;
            for (i, (key, value)) in batch.iter().enumerate() {
                let key = self.full_key(key)?;
                let r = self.store_locked(&mut st, StoreCmd::Set, &key, value, flags, expire, None);
                match r {
                    Outcome::Stored => {}
                    Outcome::TooLarge => too_large = true,
                    _ => failed.push(batch_no * super::server::PIPELINE_BATCH + i),
                }
            }
            if too_large && !noreply {
                return Err(self.server_error(TOO_LARGE));
            }
        }
        if noreply {
            failed.clear();
        }
        Ok(failed)
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
        let noreply = noreply.unwrap_or(false);
        match self.store_cmd(StoreCmd::Set, key, value, flags, expire, Some(cas), noreply)? {
            Outcome::Stored => Ok(CasOutcome::Stored),
            Outcome::NotFound => Ok(CasOutcome::NotFound),
            _ => Ok(CasOutcome::Exists),
        }
    }

    fn op_delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        let noreply = noreply.unwrap_or(self.default_noreply);
        let key = self.full_key(key)?;
        let mut st = self.state.lock();
        st.begin();
        let found = st.live(&key).is_some();
        if found {
            st.items.remove(&key);
            st.stats.delete_hits += 1;
        } else {
            st.stats.delete_misses += 1;
        }
        Ok(noreply || found)
    }

    fn op_delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        let noreply = noreply.unwrap_or(self.default_noreply);
        keys.iter().try_for_each(|k| self.rules.check(k))?;
        let mut deleted = 0;
        for key in keys {
            if self.delete(key, Some(false))? {
                deleted += 1;
            }
        }
        Ok(if noreply { keys.len() } else { deleted })
    }

    fn op_incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.incr_decr(true, key, delta, noreply)
    }

    fn op_decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.incr_decr(false, key, delta, noreply)
    }

    fn op_touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        let noreply = noreply.unwrap_or(self.default_noreply);
        check_exptime("expire", expire)?;
        let key = self.full_key(key)?;
        let mut st = self.state.lock();
        st.begin();
        st.stats.cmd_touch += 1;
        let exptime = st.realtime(expire);
        let found = match st.live(&key) {
            Some(it) => {
                it.exptime = exptime;
                true
            }
            None => false,
        };
        if found {
            st.stats.touch_hits += 1;
        } else {
            st.stats.touch_misses += 1;
        }
        Ok(noreply || found)
    }

    /// `stats` computed from the mock: no arguments, `settings`, `items`,
    /// `slabs`, `sizes`, `conns`, `cachedump <class> <limit>`, `reset` and
    /// `detail on|off|dump` are known (with memcached's errors for bad
    /// arguments); anything else is memcached's `ERROR`.
    fn op_stats(&self, args: &[&str]) -> Result<Vec<ServerStats>> {
        for a in args {
            check_arg("a stats argument", a.as_bytes())?;
        }
        let mut st = self.state.lock();
        st.begin();
        let pairs = match args.first().copied() {
            None => self.general_stats(&st),
            Some("settings") => self.settings_stats(&st),
            Some("items") => self.items_stats(&st),
            Some("slabs") => self.slabs_stats(&st),
            Some("sizes") => vec![("sizes_status".into(), "disabled".into())],
            // memcached sends these two without END (a real client waits
            // for it); the mock answers them.
            Some("sizes_enable") => vec![("sizes_status".into(), "enabled".into())],
            Some("sizes_disable") => vec![("sizes_status".into(), "disabled".into())],
            Some("conns") => Vec::new(),
            Some("cachedump") => self.cachedump(&st, args)?,
            Some("reset") => {
                st.stats = Counters::default();
                Vec::new()
            }
            Some("detail") => match args.get(1).copied() {
                Some("on" | "off" | "dump") => Vec::new(),
                _ => return Err(self.reply_error(b"CLIENT_ERROR usage: stats detail on|off|dump")),
            },
            Some(_) => return Err(self.reply_error(b"ERROR")),
        };
        Ok(vec![ServerStats {
            server: MOCK_NAME.to_string(),
            stats: pairs
                .into_iter()
                .map(|(n, v)| Stat::new(n.as_bytes(), v.as_bytes()))
                .collect(),
        }])
    }

    fn op_version(&self) -> Result<String> {
        Ok(MOCK_VERSION.to_string())
    }

    fn op_flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<()> {
        let _ = noreply;
        check_exptime("delay", delay)?;
        let mut st = self.state.lock();
        st.begin();
        st.stats.cmd_flush += 1;
        let delay = i64::from(delay as i32);
        let new_oldest = if delay > 0 {
            st.realtime_raw(delay)
        } else {
            st.now
        };
        st.oldest_live = new_oldest.wrapping_sub(1);
        if st.oldest_live <= st.now {
            st.oldest_cas = st.next_cas();
            st.flush_pending = false;
            st.purge_flushed();
        } else {
            st.flush_pending = true;
        }
        Ok(())
    }

    /// Accepts what memcached accepts: the megabytes are read as 32 bits,
    /// below 8 and above 10^9 are refused with memcached's own replies.
    /// (A real server may also refuse a limit below the memory it already
    /// uses; the mock never does.)
    fn op_cache_memlimit(&self, megabytes: u64) -> Result<()> {
        let mb = megabytes as u32;
        if mb < 8 {
            return Err(self.reply_error(b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"));
        }
        if mb > 1_000_000_000 {
            return Err(
                self.reply_error(b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes")
            );
        }
        self.state.lock().maxbytes = u64::from(mb) * 1024 * 1024;
        Ok(())
    }

    /// Only `version` is understood (memcached ignores words after it); any
    /// other command gets memcached's
    /// reply to an unknown one (`ERROR`, an `UnknownCommand` error). A reply
    /// without `end_token` is a timeout (a real client waits for more).
    fn op_raw_command(&self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>> {
        if command.is_empty() || command.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::IllegalInput(
                "raw command must be one non-empty line without \\r, \\n or NUL".into(),
            ));
        }
        if end_token.is_empty() {
            return Err(Error::IllegalInput("end token is empty".into()));
        }
        let tokens: Vec<&[u8]> = command
            .split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .collect();
        // memcached looks at the command word only: "version x" is fine.
        let reply: Vec<u8> = if tokens.first() == Some(&&b"version"[..]) {
            format!("VERSION {MOCK_VERSION}\r\n").into_bytes()
        } else {
            return Err(self.reply_error(b"ERROR"));
        };
        match reply.windows(end_token.len()).position(|w| w == end_token) {
            Some(i) if i > self.max_value_len => Err(Error::TooLarge {
                len: i as u64,
                max: self.max_value_len as u64,
                server: Default::default(),
            }
            .at(&self.name)),
            Some(i) => Ok(reply[..i].to_vec()),
            None => Err(Error::Timeout {
                text: "read timed out".into(),
                server: Default::default(),
            }
            .at(&self.name)),
        }
    }

    /// Fails as on a memcached started without `-A`.
    fn op_shutdown(&self, graceful: bool) -> Result<()> {
        let _ = graceful;
        Err(self.reply_error(b"ERROR: shutdown not enabled"))
    }

    fn op_quit(&self) -> Result<()> {
        Ok(())
    }
}

impl MockClient {
    /// Runs one request on the in-memory store, as memcached would.
    fn call_one(&self, req: Request<'_>) -> Result<Reply> {
        let Some(m) = &self.metrics else {
            return call_ops!(self, req);
        };
        m.begin();
        let started = std::time::Instant::now();
        let res = call_ops!(self, req);
        if let Ok(Reply::Items(items)) = &res {
            let hits = items.iter().filter(|i| i.is_some()).count() as u64;
            m.record_lookups(hits, items.len() as u64 - hits);
        }
        m.end(started.elapsed(), res.as_ref().err());
        res
    }
}

impl Memcache for MockClient {
    fn close(&self) {}

    /// Runs the batch on the in-memory store: a request as memcached
    /// runs its classic command; in larger batches the single-key commands
    /// as the named methods run them, stampede reads, invalidations and
    /// generic meta commands as memcached 1.6.18 runs `mg`/`ms`/`md`/`ma`,
    /// whole-client commands between them (`Batch::run_with`).
    fn execute(&self, batch: &mut super::Batch) -> Result<()> {
        batch.run_with(
            |b| {
                self.run_batch(b);
                Ok(())
            },
            |req| self.call_one(req),
        )
    }

    fn metrics_snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            servers: self.metrics.iter().map(|m| m.snapshot(MOCK_NAME)).collect(),
        }
    }

    fn metrics_reset(&self) {
        if let Some(m) = &self.metrics {
            m.reset();
        }
    }

    fn server_for_key(&self, key: &[u8]) -> Result<String> {
        self.rules.check(key)?;
        Ok(MOCK_NAME.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_like_strtoull() {
        let ok: &[(&[u8], u64)] = &[
            (b"5", 5),
            (b"+5", 5),
            (b"-0", 0),
            (b" 5", 5),
            (b"\t7", 7),
            (b"\n9", 9),
            (b"9\n", 9),
            (b"5 abc", 5),
            (b"5\0abc", 5),
            (b"12\x0b", 12),
            (b"18446744073709551615", u64::MAX),
            (b"-18446744073709551615", 1),
            (b"00000000000000000000000001", 1),
        ];
        for (v, n) in ok {
            assert_eq!(parse_counter(v), Some(*n), "{v:?}");
        }
        for v in [
            &b""[..],
            b"  ",
            b"-1",
            b"12a",
            b"0x10",
            b"- 5",
            b"+",
            b"-",
            b"1\x85",
            b"18446744073709551616",
            b"123456789012345678901",
        ] {
            assert_eq!(parse_counter(v), None, "{v:?}");
        }
    }

    #[test]
    fn slab_classes_match_memcached_defaults() {
        let s = slab_sizes(SLAB_CHUNK_MAX);
        assert_eq!(&s[..4], &[96, 120, 152, 192]);
        assert_eq!(s[10], 944);
        assert_eq!(s[11], 1184);
        assert_eq!(s[25], 27120);
        assert_eq!(s[36], 315872);
        assert_eq!(s.len(), 39);
        assert_eq!(s[38], 524288);
    }
}
