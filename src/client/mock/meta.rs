//! The mock's meta commands (`mg`, `ms`, `md`, `ma`) as memcached 1.6.18
//! runs them, and the mock's batches: the classic commands of a batch run
//! through the mock's own commands, stampede reads, invalidations and
//! generic meta commands through this module, each reply mapped to its
//! result by the same code as a real server's reply (`apply_meta_reply`).
//!
//! Supported: every flag memcached 1.6.18 documents for the four commands
//! (`b c C D f F h I J k l L M N O P q R s t T u v`; `E` and `x` came
//! later and are invalid flags there, as here), with stampede
//! leases (`N`/`R` win `W`, `md I` marks stale `X`, `Z` once a win was
//! sent), TTLs and CAS checks. An unknown flag fails the
//! command with `CLIENT_ERROR invalid flag` naming the flag, as a server
//! fails it (without the name).

use super::{MockClient, Outcome, State, TOO_LARGE};
use crate::client::batch::{Batch, MetaCmd, Ops, Outs};
use crate::client::server::batch_io::meta_only_flags;
use crate::client::server::{apply_meta_reply, MetaValue};
use crate::client::StoreCmd;
use crate::error::{Error, Result};
use crate::protocol::meta;
use crate::protocol::reply::parse_u64;
use crate::protocol::request::{push_i64, push_u64};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// Every flag memcached 1.6.18 accepts on a meta command.
const KNOWN_FLAGS: &[u8] = b"bcCDfFhIJklLMNOPqRstTuv";
/// Flags that take a numeric token.
const NUMERIC_FLAGS: &[u8] = b"CDFJNRT";

/// A meta reply: return code, return flags (space separated, as a server
/// sends them) and the data block of `VA`.
#[derive(Debug)]
pub(super) struct MetaReply {
    code: [u8; 2],
    flags: Vec<u8>,
    value: Option<Vec<u8>>,
}

/// A command's flags, in request order.
struct Flags<'a>(Vec<(u8, &'a [u8])>);

impl<'a> Flags<'a> {
    /// Split and check flag tokens as memcached's flag pre-parse does.
    fn parse(tokens: &'a [u8]) -> Result<Flags<'a>> {
        let mut list: Vec<(u8, &[u8])> = Vec::new();
        for t in tokens.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
            let (f, arg) = (t[0], &t[1..]);
            if !KNOWN_FLAGS.contains(&f) {
                return Err(client_error(&format!(
                    "invalid flag {:?} (the mock runs memcached 1.6.18's meta flags {})",
                    String::from_utf8_lossy(t),
                    String::from_utf8_lossy(KNOWN_FLAGS)
                )));
            }
            if list.iter().any(|(g, _)| *g == f) {
                return Err(client_error(&format!("duplicate flag {}", f as char)));
            }
            if NUMERIC_FLAGS.contains(&f) && !numeric(f, arg) {
                return Err(client_error(&format!(
                    "bad token in command line format (flag {})",
                    f as char
                )));
            }
            list.push((f, arg));
        }
        Ok(Flags(list))
    }

    fn has(&self, f: u8) -> bool {
        self.0.iter().any(|(g, _)| *g == f)
    }

    fn token(&self, f: u8) -> Option<&'a [u8]> {
        self.0.iter().find(|(g, _)| *g == f).map(|(_, t)| *t)
    }

    /// An unsigned numeric token (checked by `parse`).
    fn unsigned(&self, f: u8) -> Option<u64> {
        self.token(f).and_then(parse_u64)
    }

    /// A TTL token (memcached reads it as a 32-bit signed number).
    fn ttl(&self, f: u8) -> Option<i64> {
        self.token(f).and_then(parse_i64)
    }
}

fn parse_i64(t: &[u8]) -> Option<i64> {
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// Whether `arg` is a valid numeric token for flag `f`.
fn numeric(f: u8, arg: &[u8]) -> bool {
    match f {
        b'N' | b'T' | b'R' => parse_i64(arg).is_some_and(|n| i32::try_from(n).is_ok()),
        _ => parse_u64(arg).is_some(),
    }
}

fn client_error(text: &str) -> Error {
    Error::ClientError {
        text: text.into(),
        server: Default::default(),
    }
}

/// Appends return flags, space separated.
struct Out(Vec<u8>);

impl Out {
    fn flag(&mut self, f: u8) -> &mut Vec<u8> {
        if !self.0.is_empty() {
            self.0.push(b' ');
        }
        self.0.push(f);
        &mut self.0
    }

    fn num(&mut self, f: u8, n: i64) {
        push_i64(self.flag(f), n);
    }

    fn unum(&mut self, f: u8, n: u64) {
        push_u64(self.flag(f), n);
    }

    /// The `O`, `k` and `b` flags every command returns (the only ones on a
    /// miss or a failure), in request order.
    fn common(&mut self, fl: &Flags<'_>, key: &[u8], f: u8, arg: &[u8]) {
        match f {
            b'O' => self.flag(b'O').extend_from_slice(arg),
            b'k' => {
                if fl.has(b'b') {
                    let k = BASE64.encode(key);
                    self.flag(b'k').extend_from_slice(k.as_bytes());
                    self.flag(b'b');
                } else {
                    self.flag(b'k').extend_from_slice(key);
                }
            }
            _ => {}
        }
    }

    fn only_common(fl: &Flags<'_>, key: &[u8]) -> Vec<u8> {
        let mut out = Out(Vec::new());
        for &(f, arg) in &fl.0 {
            out.common(fl, key, f, arg);
        }
        out.0
    }
}

fn reply(code: &[u8; 2], flags: Vec<u8>, value: Option<Vec<u8>>) -> MetaReply {
    MetaReply {
        code: *code,
        flags,
        value,
    }
}

impl State {
    /// Seconds left to live, -1 for never (the `t` flag).
    fn ttl_left(&self, exptime: u32) -> i64 {
        if exptime == 0 {
            -1
        } else {
            i64::from(exptime) - i64::from(self.now)
        }
    }
}

impl MockClient {
    /// Run one meta command on the store: `key` is the full key (decoded
    /// here with `b`), `tokens` the request's flags, `value` the data block
    /// of `ms`.
    pub(super) fn meta_locked(
        &self,
        st: &mut State,
        cmd: MetaCmd,
        key: &[u8],
        tokens: &[u8],
        value: &[u8],
    ) -> Result<MetaReply> {
        let fl = Flags::parse(tokens)?;
        let decoded;
        let key = if fl.has(b'b') {
            decoded = BASE64
                .decode(key)
                .map_err(|_| client_error("error decoding key"))?;
            &decoded[..]
        } else {
            key
        };
        match cmd {
            MetaCmd::Get => Ok(self.meta_get(st, key, &fl)),
            MetaCmd::Set => self.meta_set(st, key, &fl, value),
            MetaCmd::Delete => Ok(self.meta_delete(st, key, &fl)),
            MetaCmd::Arithmetic => self.meta_arithmetic(st, key, &fl),
        }
    }

    /// `mg`: read, touch, vivify on a miss, win recaches.
    fn meta_get(&self, st: &mut State, key: &[u8], fl: &Flags<'_>) -> MetaReply {
        let now = st.now;
        let new_ttl = fl.ttl(b'T').map(|t| st.realtime(t));
        let viv_ttl = fl.ttl(b'N').map(|t| st.realtime(t));
        st.stats.cmd_get += 1;
        if new_ttl.is_some() {
            st.stats.cmd_touch += 1;
        }
        let created = if st.live(key).is_some() {
            st.stats.get_hits += 1;
            if new_ttl.is_some() {
                st.stats.touch_hits += 1;
            }
            false
        } else {
            st.stats.get_misses += 1;
            if new_ttl.is_some() {
                st.stats.touch_misses += 1;
            }
            let Some(exptime) = viv_ttl else {
                return reply(b"EN", Out::only_common(fl, key), None);
            };
            st.link(key.to_vec(), Vec::new(), 0, exptime);
            true
        };
        let Some(it) = st.items.get_mut(key) else {
            return reply(b"EN", Out::only_common(fl, key), None);
        };
        let (fetched, atime) = (it.fetched, it.atime);
        let mut out = Out(Vec::new());
        let mut win = false;
        for &(f, arg) in &fl.0 {
            match f {
                b'T' => it.exptime = new_ttl.unwrap_or(it.exptime),
                b'N' if created => {
                    it.exptime = viv_ttl.unwrap_or(it.exptime);
                    win = true;
                }
                b'R' => {
                    let below = fl.ttl(b'R').unwrap_or(0);
                    if !it.token_sent
                        && !created
                        && it.exptime != 0
                        && i64::from(it.exptime) < i64::from(now) + below
                    {
                        win = true;
                    }
                }
                b's' => out.unum(b's', it.value.len() as u64),
                b't' => {
                    let left = if it.exptime == 0 {
                        -1
                    } else {
                        i64::from(it.exptime) - i64::from(now)
                    };
                    out.num(b't', left)
                }
                b'c' => out.unum(b'c', it.cas),
                b'f' => out.unum(b'f', u64::from(it.flags)),
                b'l' => out.unum(b'l', u64::from(now.saturating_sub(atime))),
                b'h' => out.unum(b'h', u64::from(fetched)),
                _ => out.common(fl, key, f, arg),
            }
        }
        if it.token_sent {
            out.flag(b'Z');
        }
        if it.stale {
            out.flag(b'X');
            win |= !it.token_sent;
        }
        if win {
            out.flag(b'W');
            it.token_sent = true;
        }
        if !fl.has(b'u') {
            it.fetched = true;
            it.atime = now;
        }
        let cas_matches = fl.unsigned(b'C').is_some_and(|c| c == it.cas);
        if fl.has(b'v') && !cas_matches {
            reply(b"VA", out.0, Some(it.value.clone()))
        } else {
            reply(b"HD", out.0, None)
        }
    }

    /// `ms`: the storage commands by mode, with CAS and invalidation.
    fn meta_set(
        &self,
        st: &mut State,
        key: &[u8],
        fl: &Flags<'_>,
        value: &[u8],
    ) -> Result<MetaReply> {
        let cmd = match fl.token(b'M') {
            None => StoreCmd::Set,
            Some(m) => match m {
                b"S" | b"s" => StoreCmd::Set,
                b"E" | b"e" => StoreCmd::Add,
                b"A" | b"a" => StoreCmd::Append,
                b"P" | b"p" => StoreCmd::Prepend,
                b"R" | b"r" => StoreCmd::Replace,
                _ => return Err(client_error("invalid mode for ms STORE")),
            },
        };
        // memcached reads the flags into 64 bits and keeps the low 32.
        let flags = fl.unsigned(b'F').unwrap_or(0) as u32;
        let expire = fl.ttl(b'T').unwrap_or(0);
        let cas_in = fl.unsigned(b'C');
        let live_cas = st.live(key).map(|it| it.cas);
        // (`N`, append autovivification, came after 1.6.18: ignored.)
        let outcome = match (cas_in, live_cas) {
            // I: a CAS older than the item's is stored, marked stale.
            (Some(c), Some(cur)) if fl.has(b'I') && c < cur => {
                let r = self.store_locked(st, StoreCmd::Set, key, value, flags, expire, None);
                if r == Outcome::Stored {
                    if let Some(it) = st.items.get_mut(key) {
                        it.stale = true;
                    }
                }
                r
            }
            _ => self.store_locked(st, cmd, key, value, flags, expire, cas_in),
        };
        let code = match outcome {
            Outcome::Stored => b"HD",
            Outcome::NotStored => b"NS",
            Outcome::Exists => b"EX",
            Outcome::NotFound => b"NF",
            Outcome::TooLarge => return Err(self.server_error(TOO_LARGE)),
        };
        let stored = outcome == Outcome::Stored;
        let item = st.items.get(key).filter(|_| stored);
        let mut out = Out(Vec::new());
        for &(f, arg) in &fl.0 {
            match f {
                b'c' => out.unum(b'c', item.map_or(0, |it| it.cas)),
                b's' if stored => out.unum(b's', item.map_or(0, |it| it.value.len() as u64)),
                _ => out.common(fl, key, f, arg),
            }
        }
        Ok(reply(code, out.0, None))
    }

    /// `md`: delete, or mark stale (`I`, with a new TTL `T`); `C` compares
    /// the CAS first. (`x` came after 1.6.18: an invalid flag.)
    fn meta_delete(&self, st: &mut State, key: &[u8], fl: &Flags<'_>) -> MetaReply {
        let flags = Out::only_common(fl, key);
        let new_ttl = fl.ttl(b'T').map(|t| st.realtime(t));
        let Some(cur) = st.live(key).map(|it| it.cas) else {
            st.stats.delete_misses += 1;
            return reply(b"NF", flags, None);
        };
        if fl.unsigned(b'C').is_some_and(|c| c != cur) {
            return reply(b"EX", flags, None);
        }
        st.stats.delete_hits += 1;
        if !fl.has(b'I') {
            st.items.remove(key);
            return reply(b"HD", flags, None);
        }
        let cas = st.next_cas();
        if let Some(it) = st.items.get_mut(key) {
            if let Some(t) = new_ttl {
                it.exptime = t;
            }
            it.stale = true;
            it.token_sent = false;
            it.cas = cas;
        }
        reply(b"HD", flags, None)
    }

    /// `ma`: incr/decr by mode, autovivify with `N`/`J`, CAS check, TTL.
    fn meta_arithmetic(&self, st: &mut State, key: &[u8], fl: &Flags<'_>) -> Result<MetaReply> {
        let incr = match fl.token(b'M') {
            None | Some(b"I" | b"i" | b"+") => true,
            Some(b"D" | b"d" | b"-") => false,
            Some(_) => return Err(client_error("invalid mode for ma M token")),
        };
        let delta = fl.unsigned(b'D').unwrap_or(1);
        let new_ttl = fl.ttl(b'T').map(|t| st.realtime(t));
        let cur = st.live(key).map(|it| it.cas);
        let number = match cur {
            None => {
                if incr {
                    st.stats.incr_misses += 1;
                } else {
                    st.stats.decr_misses += 1;
                }
                let Some(n) = fl.ttl(b'N') else {
                    return Ok(reply(b"NF", Out::only_common(fl, key), None));
                };
                let initial = fl.unsigned(b'J').unwrap_or(0);
                let exptime = st.realtime(n);
                st.link(key.to_vec(), initial.to_string().into_bytes(), 0, exptime);
                initial
            }
            Some(c) if fl.unsigned(b'C').is_some_and(|want| want != c) => {
                return Ok(reply(b"EX", Out::only_common(fl, key), None));
            }
            Some(_) => match self.delta_locked(st, key, incr, delta) {
                Ok(Some(n)) => {
                    if let (Some(t), Some(it)) = (new_ttl, st.items.get_mut(key)) {
                        it.exptime = t;
                    }
                    n
                }
                Ok(None) => return Ok(reply(b"NF", Out::only_common(fl, key), None)),
                Err(text) => return Err(client_error(text)),
            },
        };
        let (cas, exptime) = st.items.get(key).map_or((0, 0), |it| (it.cas, it.exptime));
        let mut out = Out(Vec::new());
        for &(f, arg) in &fl.0 {
            match f {
                b't' => out.num(b't', st.ttl_left(exptime)),
                b'c' => out.unum(b'c', cas),
                _ => out.common(fl, key, f, arg),
            }
        }
        let value = fl.has(b'v').then(|| number.to_string().into_bytes());
        let code = if value.is_some() { b"VA" } else { b"HD" };
        Ok(reply(code, out.0, value))
    }

    /// Run `batch` on the mock (see the module doc).
    pub(super) fn run_batch(&self, batch: &mut Batch) {
        batch.run_each_with(self, |ops, out, i| self.run_meta_op(ops, out, i));
    }

    /// Run meta-only command `i` and record its result; with metrics on it
    /// is a request and a hit, a miss or an error of its class, as a real
    /// client counts a batch's commands (`Outs::count_outcomes`).
    fn run_meta_op(&self, ops: &Ops, out: &mut Outs, i: usize) {
        let Some(m) = &self.metrics else {
            return self.run_meta_op_uncounted(ops, out, i);
        };
        m.begin();
        let started = std::time::Instant::now();
        self.run_meta_op_uncounted(ops, out, i);
        m.end(started.elapsed(), None);
        out.count_outcomes(ops, [i], m);
    }

    /// `run_meta_op` without the metrics.
    fn run_meta_op_uncounted(&self, ops: &Ops, out: &mut Outs, i: usize) {
        let res = self.meta_op_reply(ops, i).and_then(|r| {
            if let Some(v) = r.value.as_ref().filter(|v| v.len() > self.max_value_len) {
                return Err(Error::TooLarge {
                    len: v.len() as u64,
                    max: self.max_value_len as u64,
                    server: Default::default(),
                });
            }
            // The reply line a server would send, read as a server's is.
            let mut line = r.code.to_vec();
            if let Some(v) = &r.value {
                line.push(b' ');
                push_u64(&mut line, v.len() as u64);
            }
            if !r.flags.is_empty() {
                line.push(b' ');
                line.extend_from_slice(&r.flags);
            }
            line.extend_from_slice(b" O");
            push_u64(&mut line, i as u64);
            let m = meta::parse_line(&line).ok_or_else(|| Error::UnknownError {
                text: "the mock made a bad meta reply".into(),
                server: Default::default(),
            })?;
            let value = match &r.value {
                Some(v) => MetaValue::Bytes(v),
                None => MetaValue::None,
            };
            apply_meta_reply(ops, out, &[i], &mut 0, &m, value)
        });
        if let Err(e) = res {
            out.fail(i, e.at(&self.name));
        }
    }

    /// The reply to meta-only command `i`, encoded as a server gets it.
    fn meta_op_reply(&self, ops: &Ops, i: usize) -> Result<MetaReply> {
        let mut tokens = Vec::new();
        let cmd = meta_only_flags(&mut tokens, ops, i)?
            .ok_or_else(|| client_error("not a meta command"))?;
        let mut key = Vec::with_capacity(self.rules.prefix.len() + ops.key(i).len());
        self.rules
            .write_meta_key(ops.key(i), ops.base64_key(i), &mut key)?;
        let value = if cmd == MetaCmd::Set {
            let v = ops.value(i);
            self.check_value_len(v.len())?;
            v
        } else {
            &[][..]
        };
        let mut st = self.state.lock();
        st.begin();
        self.meta_locked(&mut st, cmd, &key, &tokens, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientOptions;

    fn run(m: &MockClient, cmd: &[u8; 2], key: &[u8], tokens: &[u8], value: &[u8]) -> MetaReply {
        let mut st = m.state.lock();
        st.begin();
        let cmd = MetaCmd::from_code(cmd).unwrap();
        m.meta_locked(&mut st, cmd, key, tokens, value).unwrap()
    }

    fn text(r: &MetaReply) -> String {
        format!(
            "{} {}",
            String::from_utf8_lossy(&r.code),
            String::from_utf8_lossy(&r.flags)
        )
    }

    #[test]
    fn leases_follow_memcached() {
        let m = MockClient::new(&ClientOptions::default()).unwrap();
        assert_eq!(text(&run(&m, b"mg", b"k", b"v N30 t", b"")), "VA t30 W");
        assert_eq!(text(&run(&m, b"mg", b"k", b"v N30", b"")), "VA Z");
        assert_eq!(text(&run(&m, b"ms", b"k", b"T0 F3", b"x")), "HD ");
        assert_eq!(text(&run(&m, b"mg", b"k", b"f t", b"")), "HD f3 t-1");
        assert_eq!(text(&run(&m, b"md", b"k", b"I T30 k", b"")), "HD kk");
        assert_eq!(text(&run(&m, b"mg", b"k", b"s", b"")), "HD s1 X W");
        assert_eq!(text(&run(&m, b"mg", b"k", b"s", b"")), "HD s1 Z X");
        assert_eq!(text(&run(&m, b"md", b"none", b"O9 q", b"")), "NF O9");
        let e = {
            let mut st = m.state.lock();
            m.meta_locked(&mut st, MetaCmd::Get, b"k", b"v z", b"")
                .unwrap_err()
        };
        assert!(e.to_string().contains("\"z\""), "{e}");
    }

    #[test]
    fn arithmetic_and_base64() {
        let m = MockClient::new(&ClientOptions::default()).unwrap();
        let r = run(&m, b"ma", b"n", b"N0 J7 v", b"");
        assert_eq!(r.value.as_deref(), Some(&b"7"[..]));
        let r = run(&m, b"ma", b"n", b"D5 v t", b"");
        assert_eq!(
            (r.value.as_deref(), text(&r)),
            (Some(&b"12"[..]), "VA t-1".into())
        );
        assert_eq!(text(&run(&m, b"ma", b"none", b"", b"")), "NF ");
        run(&m, b"ms", b"YQ==", b"b", b"bin");
        assert_eq!(m.peek(b"a").unwrap().unwrap().value, b"bin");
        assert_eq!(text(&run(&m, b"mg", b"YQ==", b"b k", b"")), "HD kYQ== b");
    }
}
