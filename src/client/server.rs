//! `ServerConn`: the whole command set against one server over one lazily
//! opened connection. It is the building block of every client kind: the
//! single `Client` guards one, the pool hands them out, the hash client
//! keeps one (or a pool) per node.
//!
//! Every command first encodes its request into `wbuf`, checking keys and
//! arguments, so illegal input is refused before a byte is written. Any
//! error after that closes the connection; the next command reconnects.

use super::{Backoff, CasOutcome, ClientOptions, Item, Packed, PackedHit, ServerStats, Stat};
use crate::addr::ServerAddr;
use crate::conn::{Conn, ConnectOptions};
use crate::error::{Error, Result};
use crate::key::KeyRules;
use crate::metrics::{CallStart, ServerMetrics};
use crate::protocol::reply::{self, StoreReply};
use crate::protocol::request::{self, FetchCmd, StoreCmd};
use std::sync::Arc;
use std::time::Instant;

pub(crate) mod batch_io;
pub(crate) use batch_io::{apply as apply_meta_reply, Value as MetaValue};

/// Values up to this size are copied into the request buffer; larger ones
/// are written straight from the caller's memory.
const COPY_VALUE_MAX: usize = 16 * 1024;
/// Commands with replies sent before their replies are read; bounded so the
/// server's replies always fit the socket buffers (no write/write deadlock).
pub(crate) const PIPELINE_BATCH: usize = 1024;
/// The first read of a single-key reply: the whole reply of a value up to
/// about this size, and little to copy out of the read buffer for a larger
/// one, whose rest is read straight into its own buffer.
const SINGLE_FIRST_READ: usize = 16 * 1024;
/// Bytes of noreply requests gathered before they are written.
const NOREPLY_FLUSH: usize = 1024 * 1024;

/// One server: its address, its options and at most one open connection.
pub struct ServerConn {
    addr: ServerAddr,
    name: Arc<str>,
    connect: ConnectOptions,
    rules: KeyRules,
    default_noreply: bool,
    max_value_len: usize,
    conn: Option<Conn>,
    /// Shared with every connection to this server
    /// (`ClientOptions::reconnect_backoff`).
    backoff: Option<Arc<Backoff>>,
    /// Shared with every connection to this server (`None`: metrics off).
    metrics: Option<Arc<ServerMetrics>>,
    /// When the current call must be over (`ClientOptions::deadline`).
    deadline: Option<Instant>,
    wbuf: Vec<u8>,
    spans: Vec<(usize, usize)>,
    key_scratch: Vec<u8>,
    /// The batch commands sent and not yet answered, by position.
    batch_sent: Vec<usize>,
}

/// Where the values of a retrieval reply go.
trait ValueSink {
    /// The buffer the value for key `index` is appended to.
    fn start(&mut self, index: usize, flags: u32, cas: Option<u64>, len: usize) -> &mut Vec<u8>;
    /// The value just appended is complete.
    fn finish(&mut self);
    /// Up to `hits` more values are coming, in about `bytes` bytes.
    fn expect(&mut self, _hits: usize, _bytes: usize) {}
    /// A whole value at once: `start`, append, `finish`.
    fn put(&mut self, index: usize, flags: u32, cas: Option<u64>, value: &[u8]) {
        self.start(index, flags, cas, value.len())
            .extend_from_slice(value);
        self.finish();
    }
}

/// One `Item` per hit, placed by key position; with an empty `out`, the
/// last hit stays in `cur` (single-key reads).
struct ItemsSink {
    out: Vec<Option<Item>>,
    cur: Option<(usize, Item)>,
}

impl ValueSink for ItemsSink {
    fn start(&mut self, index: usize, flags: u32, cas: Option<u64>, len: usize) -> &mut Vec<u8> {
        let item = Item {
            // Room for the NUL the C surface adds.
            value: Vec::with_capacity(len + 1),
            flags,
            cas,
        };
        &mut self.cur.insert((index, item)).1.value
    }

    fn finish(&mut self) {
        if !self.out.is_empty() {
            if let Some((i, item)) = self.cur.take() {
                self.out[i] = Some(item);
            }
        }
    }
}

struct PackedSink<'a>(&'a mut Packed);

impl ValueSink for PackedSink<'_> {
    fn start(&mut self, index: usize, flags: u32, cas: Option<u64>, len: usize) -> &mut Vec<u8> {
        let start = self.0.data.len();
        self.0.data.reserve(len + 1);
        self.0.hits.push(PackedHit {
            index,
            start,
            len,
            flags,
            cas,
        });
        &mut self.0.data
    }

    fn finish(&mut self) {
        self.0.data.push(0);
    }

    fn expect(&mut self, hits: usize, bytes: usize) {
        self.0.hits.reserve(hits);
        self.0.data.reserve(bytes);
    }

    fn put(&mut self, index: usize, flags: u32, cas: Option<u64>, value: &[u8]) {
        self.0.push_value(index, value, flags, cas);
    }
}

/// How much the first read of a reply to `keys` keys may take.
fn first_read(keys: usize) -> usize {
    if keys == 1 {
        SINGLE_FIRST_READ
    } else {
        usize::MAX
    }
}

/// The error for a VALUE line whose key is not among the keys still to be
/// answered: one answered already or passed over (memcached answers each key
/// at most once, in request order), or one never requested.
#[cold]
fn unexpected_key(wbuf: &[u8], answered: &[(usize, usize)], key: &[u8]) -> Error {
    let shown = String::from_utf8_lossy(key);
    let text = if answered.iter().any(|&(s, e)| &wbuf[s..e] == key) {
        format!("reply repeats a key, or answers it out of request order: {shown}")
    } else {
        format!("reply for a key that was not requested: {shown}")
    };
    Error::UnknownError {
        text,
        server: Default::default(),
    }
}

/// A noreply argument resolved against a default.
fn resolve(noreply: Option<bool>, default: bool) -> bool {
    noreply.unwrap_or(default)
}

impl ServerConn {
    /// A connection to `addr`, opened on the first command.
    pub fn new(addr: ServerAddr, opts: &ClientOptions) -> Result<ServerConn> {
        let backoff = opts.reconnect_backoff.map(|b| Arc::new(Backoff::new(b)));
        ServerConn::with_backoff(addr, opts, backoff)
    }

    /// Count into `metrics` (shared with the server's other connections);
    /// `None`: count nothing.
    pub fn with_metrics(mut self, metrics: Option<Arc<ServerMetrics>>) -> ServerConn {
        if let Some(c) = self.conn.as_mut() {
            c.set_metrics(metrics.clone());
        }
        self.metrics = metrics;
        self
    }

    /// The metrics this connection counts into, if on.
    pub fn metrics(&self) -> Option<&Arc<ServerMetrics>> {
        self.metrics.as_ref()
    }

    /// Run one call on this connection, counting it (request, in-use
    /// connection, latency, error class) when metrics are on.
    #[inline]
    pub fn call<T>(&mut self, f: impl FnOnce(&mut ServerConn) -> Result<T>) -> Result<T> {
        let started = self.call_begin();
        let res = f(self);
        self.call_end(started, res.as_ref().err());
        res
    }

    /// Count the start of a call; pass the result to `call_end`.
    #[inline]
    pub fn call_begin(&self) -> CallStart {
        ServerMetrics::start_of(self.metrics.as_ref())
    }

    /// Count the end of the call `call_begin` started, with its outcome.
    #[inline]
    pub fn call_end(&self, started: CallStart, err: Option<&Error>) {
        if let Some(m) = &self.metrics {
            m.finish(started, err);
        }
    }

    /// `call_end` for `n` commands sent together (a pipelined batch): `n`
    /// requests of the batch's latency; their outcomes are counted one by
    /// one by the caller.
    pub fn call_end_n(&self, started: CallStart, n: u64) {
        if let Some(m) = &self.metrics {
            m.finish_n(started, n);
        }
    }

    /// Like `new`, sharing `backoff` with other connections to the server
    /// (`None`: no reconnect backoff, whatever `opts` says).
    pub fn with_backoff(
        addr: ServerAddr,
        opts: &ClientOptions,
        backoff: Option<Arc<Backoff>>,
    ) -> Result<ServerConn> {
        Ok(ServerConn {
            backoff,
            metrics: None,
            name: Arc::from(addr.to_string()),
            addr,
            connect: opts.connect_options(),
            rules: opts.key_rules()?,
            default_noreply: opts.default_noreply,
            max_value_len: opts.max_value_len,
            conn: None,
            deadline: None,
            wbuf: Vec::with_capacity(1024),
            spans: Vec::new(),
            key_scratch: Vec::with_capacity(256),
            batch_sent: Vec::new(),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// True while a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Close the connection, if open.
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// The open connection, opening it first if needed.
    fn conn(&mut self) -> Result<&mut Conn> {
        if self.conn.is_none() {
            if let Some(b) = &self.backoff {
                b.check()?;
            }
            let opened = match self.deadline {
                None => Conn::open(&self.addr, &self.connect),
                Some(d) => self
                    .connect_options_until(d)
                    .and_then(|o| Conn::open(&self.addr, &o)),
            };
            if let Some(b) = &self.backoff {
                match &opened {
                    Ok(_) => b.succeeded(),
                    Err(e) => b.failed(e),
                }
            }
            let mut conn = opened?;
            if let Some(m) = &self.metrics {
                m.record_connect();
                conn.set_metrics(Some(m.clone()));
            }
            conn.set_deadline(self.deadline);
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connection was just opened"))
    }

    /// The connect options with the connect timeout cut to what is left
    /// before `deadline`.
    fn connect_options_until(&self, deadline: Instant) -> Result<ConnectOptions> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                text: "the call's deadline passed before connecting".into(),
                server: Default::default(),
            });
        }
        let mut o = self.connect.clone();
        o.connect_timeout = Some(o.connect_timeout.map_or(left, |t| t.min(left)));
        Ok(o)
    }

    /// Start a call that must be over by `deadline` (`None`: no limit but
    /// the socket timeouts).
    pub fn start_call(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        if let Some(c) = self.conn.as_mut() {
            c.set_deadline(deadline);
        }
    }

    /// Close on error and name the server in it.
    fn guard<T>(&mut self, res: Result<T>) -> Result<T> {
        res.map_err(|e| {
            self.conn = None;
            e.at(&self.name)
        })
    }

    /// Write the request buffer (and an optional value after it) and clear it.
    fn send(&mut self, tail: Option<&[u8]>) -> Result<()> {
        let res = self.write_request(tail);
        self.wbuf.clear();
        self.guard(res)
    }

    fn write_request(&mut self, tail: Option<&[u8]>) -> Result<()> {
        let wbuf = std::mem::take(&mut self.wbuf);
        let res = self.conn().and_then(|c| match tail {
            None => c.write_all(&wbuf),
            Some(v) => c.write_all_vectored(&[&wbuf, v, b"\r\n"]),
        });
        self.wbuf = wbuf;
        res
    }

    /// Read one reply line and parse it with `parse`.
    fn reply<T>(&mut self, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
        let res = self.conn().and_then(|c| c.read_line()).and_then(parse);
        self.guard(res)
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

    fn check_arg(what: &str, arg: &[u8]) -> Result<()> {
        if arg.is_empty() || arg.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(Error::IllegalInput(format!(
                "{what} must be non-empty, without whitespace or control bytes"
            )));
        }
        Ok(())
    }

    // ---- retrieval -------------------------------------------------------

    /// Encode a retrieval request for `keys` into the request buffer,
    /// remembering where each prefixed key sits.
    pub fn encode_fetch(&mut self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<()> {
        if let FetchCmd::Gat(t) | FetchCmd::Gats(t) = cmd {
            request::check_exptime("expire", t)?;
        }
        self.wbuf.clear();
        self.spans.clear();
        let prefix = self.rules.prefix.len();
        let bytes: usize = keys.iter().map(|k| k.len() + prefix + 1).sum();
        self.wbuf.reserve(bytes + 32);
        self.spans.reserve(keys.len());
        request::fetch_start(&mut self.wbuf, cmd);
        for key in keys {
            self.wbuf.push(b' ');
            let start = self.wbuf.len();
            if let Err(e) = self.rules.write_key(key, &mut self.wbuf) {
                self.wbuf.clear();
                return Err(e);
            }
            self.spans.push((start, self.wbuf.len()));
        }
        self.wbuf.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Write an encoded retrieval request; its reply is read by `recv_fetch`.
    /// The key spans stay until then.
    pub fn send_fetch(&mut self) -> Result<()> {
        let res = self.write_request(None);
        self.guard(res)
    }

    /// Read the reply to the request `send_fetch` wrote: one entry per key.
    pub fn recv_fetch(&mut self, with_cas: bool) -> Result<Vec<Option<Item>>> {
        let res = self.read_values(with_cas);
        self.wbuf.clear();
        self.guard(res)
    }

    fn read_values(&mut self, with_cas: bool) -> Result<Vec<Option<Item>>> {
        let mut sink = ItemsSink {
            out: vec![None; self.spans.len()],
            cur: None,
        };
        self.read_values_into(with_cas, &mut sink)?;
        Ok(sink.out)
    }

    /// Read VALUE blocks until END, appending each value to the buffer the
    /// sink gives for it.
    fn read_values_into(&mut self, with_cas: bool, sink: &mut impl ValueSink) -> Result<()> {
        let max = self.max_value_len;
        let mut next = 0;
        let mut first = true;
        let mut hits: u64 = 0;
        let conn = self.conn.as_mut().ok_or_else(|| Error::UnexpectedClose {
            server: Default::default(),
        })?;
        // A single value may be large: read little of it into the
        // connection's buffer (see `Conn::fill_if_empty`).
        conn.fill_if_empty(first_read(self.spans.len()))?;
        loop {
            // The server answers in request order, skipping misses: whole
            // items already read for the next keys are taken in one pass.
            let b = conn.buffered();
            let mut at = 0;
            while let Some(&(s, e)) = self.spans.get(next) {
                let rest = &b[at..];
                let Some(it) = reply::value_item(rest, &self.wbuf[s..e], with_cas, max) else {
                    break;
                };
                if first {
                    // The first read holds most of a typical reply: size
                    // the result for it once, not value by value.
                    first = false;
                    sink.expect(self.spans.len() - next, rest.len());
                }
                sink.put(next, it.flags, it.cas, &rest[it.data..it.data + it.len]);
                hits += 1;
                at += it.end;
                next += 1;
            }
            conn.consume(at);
            let line = conn.read_line()?;
            if line == b"END" {
                if let Some(m) = &self.metrics {
                    let keys = self.spans.len() as u64;
                    // Every hit took one of the keys: hits <= keys.
                    m.record_lookups(hits, keys - hits);
                }
                return Ok(());
            }
            let h = reply::value_header(line)?;
            if h.len > max as u64 {
                return Err(Error::TooLarge {
                    len: h.len,
                    max: max as u64,
                    server: Default::default(),
                });
            }
            if with_cas && h.cas.is_none() {
                return Err(Error::UnknownError {
                    text: "VALUE line without a CAS unique".into(),
                    server: Default::default(),
                });
            }
            // The server answers in request order, skipping misses.
            let wbuf = &self.wbuf;
            let found = self.spans[next..]
                .iter()
                .position(|&(s, e)| &wbuf[s..e] == h.key)
                .ok_or_else(|| unexpected_key(wbuf, &self.spans[..next], h.key))?;
            let cas = if with_cas { h.cas } else { None };
            let (flags, len) = (h.flags, h.len as usize);
            conn.read_block(len, sink.start(next + found, flags, cas, len))?;
            sink.finish();
            hits += 1;
            next += found + 1;
        }
    }

    /// Run a retrieval command, appending every hit to `out` (values side by
    /// side in one buffer, each followed by a NUL).
    pub fn fetch_packed(&mut self, cmd: FetchCmd, keys: &[&[u8]], out: &mut Packed) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.encode_fetch(cmd, keys)?;
        self.send_fetch()?;
        self.recv_packed(cmd.with_cas(), out)
    }

    /// Read the reply to the request `send_fetch` wrote into `out`; the
    /// hits' indices are positions in that request.
    pub fn recv_packed(&mut self, with_cas: bool, out: &mut Packed) -> Result<()> {
        let res = self.read_values_into(with_cas, &mut PackedSink(out));
        self.wbuf.clear();
        self.guard(res)
    }

    /// Run a retrieval command for one key, without a result vector.
    pub fn fetch_one(&mut self, cmd: FetchCmd, key: &[u8]) -> Result<Option<Item>> {
        self.encode_fetch(cmd, &[key])?;
        self.send_fetch()?;
        let mut sink = ItemsSink {
            out: Vec::new(),
            cur: None,
        };
        let res = self.read_values_into(cmd.with_cas(), &mut sink);
        self.wbuf.clear();
        self.guard(res)?;
        Ok(sink.cur.map(|(_, item)| item))
    }

    /// Run a retrieval command: one entry per key, `None` for a miss.
    pub fn fetch(&mut self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.encode_fetch(cmd, keys)?;
        self.send_fetch()?;
        self.recv_fetch(cmd.with_cas())
    }

    // ---- storage ---------------------------------------------------------

    #[allow(clippy::too_many_arguments)] // one argument per protocol field
    fn encode_store(
        &mut self,
        cmd: &str,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        cas: Option<u64>,
        noreply: bool,
    ) -> Result<()> {
        self.check_value_len(value.len())?;
        request::check_exptime("expire", expire)?;
        let mut k = std::mem::take(&mut self.key_scratch);
        let res = self.rules.write_key(key, &mut k);
        if res.is_ok() {
            request::store_header(
                &mut self.wbuf,
                cmd,
                &k,
                flags,
                expire,
                value.len(),
                cas,
                noreply,
            );
        }
        k.clear();
        self.key_scratch = k;
        res
    }

    /// Run one storage command; true if stored.
    pub fn store(
        &mut self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        let noreply = resolve(noreply, self.default_noreply);
        let r = self.store_one(cmd.name(), key, value, flags, expire, None, noreply)?;
        Ok(r == StoreReply::Stored)
    }

    /// `cas`: store only if the CAS unique still matches.
    pub fn cas(
        &mut self,
        key: &[u8],
        value: &[u8],
        cas: u64,
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<CasOutcome> {
        let noreply = resolve(noreply, false);
        match self.store_one("cas", key, value, flags, expire, Some(cas), noreply)? {
            StoreReply::Stored => Ok(CasOutcome::Stored),
            StoreReply::Exists | StoreReply::NotStored => Ok(CasOutcome::Exists),
            StoreReply::NotFound => Ok(CasOutcome::NotFound),
        }
    }

    #[allow(clippy::too_many_arguments)] // one argument per protocol field
    fn store_one(
        &mut self,
        cmd: &str,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        cas: Option<u64>,
        noreply: bool,
    ) -> Result<StoreReply> {
        self.wbuf.clear();
        self.encode_store(cmd, key, value, flags, expire, cas, noreply)?;
        if value.len() <= COPY_VALUE_MAX {
            self.wbuf.extend_from_slice(value);
            self.wbuf.extend_from_slice(b"\r\n");
            self.send(None)?;
        } else {
            self.send(Some(value))?;
        }
        if noreply {
            return Ok(StoreReply::Stored);
        }
        self.reply(reply::store_reply)
    }

    /// The noreply a storage command, delete or flush_all uses for `noreply`.
    pub fn default_noreply(&self, noreply: Option<bool>) -> bool {
        resolve(noreply, self.default_noreply)
    }

    /// Check every key and value of a batch, so that nothing is sent if any
    /// item is illegal.
    pub fn check_items(&self, items: &[(&[u8], &[u8])]) -> Result<()> {
        for (key, value) in items {
            self.rules.check(key)?;
            self.check_value_len(value.len())?;
        }
        Ok(())
    }

    /// Check every key of a list.
    pub fn check_keys(&self, keys: &[&[u8]]) -> Result<()> {
        self.rules.check_all(keys)
    }

    /// Send `set` for every item of `batch` (at most `PIPELINE_BATCH` items
    /// when replies are awaited); the replies are read by
    /// `recv_store_replies`.
    pub fn send_set_batch(
        &mut self,
        batch: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: bool,
    ) -> Result<()> {
        self.wbuf.clear();
        for (key, value) in batch {
            self.encode_store("set", key, value, flags, expire, None, noreply)?;
            if value.len() <= COPY_VALUE_MAX {
                self.wbuf.extend_from_slice(value);
                self.wbuf.extend_from_slice(b"\r\n");
            } else {
                self.send(Some(value))?;
            }
            if self.wbuf.len() >= NOREPLY_FLUSH {
                self.send(None)?;
            }
        }
        if !self.wbuf.is_empty() {
            self.send(None)?;
        }
        Ok(())
    }

    /// Read `n` storage replies; the positions (plus `base`) of the items
    /// that were not stored are pushed to `failed`.
    pub fn recv_store_replies(
        &mut self,
        n: usize,
        base: usize,
        failed: &mut Vec<usize>,
    ) -> Result<()> {
        for i in 0..n {
            if self.reply(reply::store_reply)? != StoreReply::Stored {
                failed.push(base + i);
            }
        }
        Ok(())
    }

    /// Set many items, pipelined; returns the indices of items not stored.
    pub fn set_many(
        &mut self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        let noreply = self.default_noreply(noreply);
        self.check_items(items)?;
        request::check_exptime("expire", expire)?;
        let mut failed = Vec::new();
        for (batch_no, batch) in items.chunks(PIPELINE_BATCH).enumerate() {
            self.send_set_batch(batch, flags, expire, noreply)?;
            if !noreply {
                self.recv_store_replies(batch.len(), batch_no * PIPELINE_BATCH, &mut failed)?;
            }
        }
        Ok(failed)
    }

    // ---- keys ------------------------------------------------------------

    fn key_command(&mut self, key: &[u8], encode: impl FnOnce(&mut Vec<u8>, &[u8])) -> Result<()> {
        self.wbuf.clear();
        let mut k = std::mem::take(&mut self.key_scratch);
        let res = self.rules.write_key(key, &mut k);
        if res.is_ok() {
            encode(&mut self.wbuf, &k);
        }
        k.clear();
        self.key_scratch = k;
        res
    }

    /// `delete`: true if the key was there.
    pub fn delete(&mut self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        let noreply = resolve(noreply, self.default_noreply);
        self.key_command(key, |out, k| request::delete(out, k, noreply))?;
        self.send(None)?;
        if noreply {
            return Ok(true);
        }
        self.reply(|l| reply::found_reply(l, b"DELETED"))
    }

    /// Send `delete` for every key of `batch` (at most `PIPELINE_BATCH`
    /// keys when replies are awaited); replies are read by
    /// `recv_delete_replies`.
    pub fn send_delete_batch(&mut self, batch: &[&[u8]], noreply: bool) -> Result<()> {
        self.wbuf.clear();
        for key in batch {
            self.wbuf.extend_from_slice(b"delete ");
            self.rules.write_key(key, &mut self.wbuf)?;
            self.wbuf
                .extend_from_slice(if noreply { b" noreply\r\n" } else { b"\r\n" });
        }
        self.send(None)
    }

    /// Read `n` delete replies; how many keys were found.
    pub fn recv_delete_replies(&mut self, n: usize) -> Result<usize> {
        let mut deleted = 0;
        for _ in 0..n {
            if self.reply(|l| reply::found_reply(l, b"DELETED"))? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Delete many keys, pipelined; how many were deleted (keys sent, with
    /// noreply).
    pub fn delete_many(&mut self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        let noreply = self.default_noreply(noreply);
        self.check_keys(keys)?;
        let mut deleted = 0;
        for batch in keys.chunks(PIPELINE_BATCH) {
            self.send_delete_batch(batch, noreply)?;
            deleted += if noreply {
                batch.len()
            } else {
                self.recv_delete_replies(batch.len())?
            };
        }
        Ok(deleted)
    }

    /// `incr` or `decr`: the new value, or `None` if missing or noreply.
    pub fn incr_decr(
        &mut self,
        incr: bool,
        key: &[u8],
        delta: u64,
        noreply: Option<bool>,
    ) -> Result<Option<u64>> {
        let noreply = resolve(noreply, false);
        self.key_command(key, |out, k| {
            request::incr_decr(out, incr, k, delta, noreply)
        })?;
        self.send(None)?;
        if noreply {
            return Ok(None);
        }
        self.reply(reply::counter_reply)
    }

    /// `touch`: true if the key was there.
    pub fn touch(&mut self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        let noreply = resolve(noreply, self.default_noreply);
        request::check_exptime("expire", expire)?;
        self.key_command(key, |out, k| request::touch(out, k, expire, noreply))?;
        self.send(None)?;
        if noreply {
            return Ok(true);
        }
        self.reply(|l| reply::found_reply(l, b"TOUCHED"))
    }

    // ---- server ----------------------------------------------------------

    /// `stats [args...]`.
    pub fn stats(&mut self, args: &[&str]) -> Result<ServerStats> {
        self.wbuf.clear();
        for a in args {
            Self::check_arg("a stats argument", a.as_bytes())?;
        }
        self.wbuf.extend_from_slice(b"stats");
        for a in args {
            self.wbuf.push(b' ');
            self.wbuf.extend_from_slice(a.as_bytes());
        }
        self.wbuf.extend_from_slice(b"\r\n");
        self.send(None)?;
        // `stats sizes_enable|sizes_disable` answer one STAT line and no END.
        let one_line = matches!(args, ["sizes_enable"] | ["sizes_disable"]);
        let mut stats = Vec::new();
        let res = (|| {
            let conn = self.conn()?;
            loop {
                let line = conn.read_line()?;
                match line {
                    b"END" | b"OK" | b"RESET" => return Ok(()),
                    _ => {
                        let (name, value) = reply::stat_line(line)?;
                        stats.push(Stat::new(name, value));
                        if one_line {
                            return Ok(());
                        }
                    }
                }
            }
        })();
        self.guard(res)?;
        Ok(ServerStats {
            server: self.addr.node_name(),
            stats,
        })
    }

    /// `version`: the version string after "VERSION ".
    pub fn version(&mut self) -> Result<String> {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(b"version\r\n");
        self.send(None)?;
        self.reply(|l| match l.strip_prefix(b"VERSION ") {
            Some(v) => Ok(String::from_utf8_lossy(v).into_owned()),
            None => Err(reply::unexpected(l)),
        })
    }

    /// `flush_all [delay]`.
    pub fn flush_all(&mut self, delay: i64, noreply: Option<bool>) -> Result<()> {
        let noreply = resolve(noreply, self.default_noreply);
        request::check_exptime("delay", delay)?;
        self.wbuf.clear();
        request::flush_all(&mut self.wbuf, delay, noreply);
        self.simple_ok(noreply)
    }

    /// `cache_memlimit <megabytes>`.
    pub fn cache_memlimit(&mut self, megabytes: u64) -> Result<()> {
        self.wbuf.clear();
        self.wbuf
            .extend_from_slice(format!("cache_memlimit {megabytes}\r\n").as_bytes());
        self.simple_ok(false)
    }

    fn simple_ok(&mut self, noreply: bool) -> Result<()> {
        self.send(None)?;
        if noreply {
            return Ok(());
        }
        self.reply(|l| {
            if l == b"OK" {
                Ok(())
            } else {
                Err(reply::unexpected(l))
            }
        })
    }

    /// Send one command line and read until `end_token`.
    pub fn raw_command(&mut self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>> {
        if command.is_empty() || command.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::IllegalInput(
                "raw command must be one non-empty line without \\r, \\n or NUL".into(),
            ));
        }
        if end_token.is_empty() {
            return Err(Error::IllegalInput("end token is empty".into()));
        }
        self.wbuf.clear();
        self.wbuf.extend_from_slice(command);
        self.wbuf.extend_from_slice(b"\r\n");
        self.send(None)?;
        let max = self.max_value_len;
        let res = self
            .conn()
            .and_then(|c| c.read_until(end_token, max, true))
            .and_then(|out| {
                if out.starts_with(b"ERROR")
                    || out.starts_with(b"CLIENT_ERROR")
                    || out.starts_with(b"SERVER_ERROR")
                {
                    let line = out.split(|&b| b == b'\r').next().unwrap_or(&out);
                    Err(reply::unexpected(line))
                } else {
                    Ok(out)
                }
            });
        self.guard(res)
    }

    /// `shutdown [graceful]`: success is the server closing the connection.
    pub fn shutdown(&mut self, graceful: bool) -> Result<()> {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(if graceful {
            b"shutdown graceful\r\n"
        } else {
            b"shutdown\r\n"
        });
        self.send(None)?;
        let res = self.conn().and_then(|c| c.read_line().map(|l| l.to_vec()));
        self.conn = None;
        match res {
            Err(Error::UnexpectedClose { .. }) => Ok(()),
            Err(e) => Err(e.at(&self.name)),
            Ok(line) if line == b"OK" => Ok(()),
            Ok(line) => Err(reply::unexpected(&line).at(&self.name)),
        }
    }

    /// `quit`, then close.
    pub fn quit(&mut self) -> Result<()> {
        if self.conn.is_some() {
            self.wbuf.clear();
            self.wbuf.extend_from_slice(b"quit\r\n");
            let res = self.send(None);
            self.conn = None;
            res?;
        }
        Ok(())
    }
}
