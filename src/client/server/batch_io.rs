//! Batches on one server: every command encoded as a meta command (quiet
//! where the outcome can be told from silence) tagged with its position as
//! the opaque token, `mn` after the last, one write; then the replies read
//! up to `MN`, each matched to its command by the opaque token.

use super::{ServerConn, PIPELINE_BATCH};
use crate::client::batch::{Batch, Lease, MetaCmd, OpKind, OpStatus, Ops, Outs};
use crate::client::StoreCmd;
use crate::error::{Error, Result};
use crate::protocol::meta;
use crate::protocol::reply::{self, parse_u64};
use crate::protocol::request::{check_exptime, push_i64, push_u64};
use crate::protocol::scan::find_byte;

/// Commands of a batch refused before sending, with the reason.
pub(crate) type Rejected = Vec<(usize, Error)>;

/// The error for a server that answers meta commands with `ERROR`.
#[cold]
fn no_meta_support() -> Error {
    Error::UnknownCommand {
        text: "the server does not understand the meta protocol (mg/ms/md/ma/mn need \
               memcached 1.6.10 or later)"
            .into(),
        server: Default::default(),
    }
}

#[cold]
fn protocol_error(text: &str) -> Error {
    Error::UnknownError {
        text: text.into(),
        server: Default::default(),
    }
}

impl ServerConn {
    /// Run every command of `batch` (already `start`ed) on this server, in
    /// rounds of at most `PIPELINE_BATCH` commands. An error is one of the
    /// connection: the commands still pending are the caller's to fail.
    pub(crate) fn run_batch(&mut self, batch: &mut Batch) -> Result<()> {
        let n = batch.len();
        for start in (0..n).step_by(PIPELINE_BATCH) {
            let chunk = start..n.min(start + PIPELINE_BATCH);
            let rejected = self.send_batch(&batch.ops, chunk)?;
            self.recv_batch(&batch.ops, &mut batch.out, rejected)?;
        }
        Ok(())
    }

    /// Encode and write the commands `indices` of `ops`, then `mn`.
    /// Commands with illegal arguments are left out and returned.
    pub(crate) fn send_batch(
        &mut self,
        ops: &Ops,
        indices: impl IntoIterator<Item = usize>,
    ) -> Result<Rejected> {
        self.wbuf.clear();
        self.batch_sent.clear();
        let mut rejected = Vec::new();
        for i in indices {
            let start = self.wbuf.len();
            match self.encode_op(ops, i) {
                Ok(()) => self.batch_sent.push(i),
                Err(e) => {
                    self.wbuf.truncate(start);
                    rejected.push((i, e));
                }
            }
        }
        if self.batch_sent.is_empty() {
            self.wbuf.clear();
            return Ok(rejected);
        }
        self.wbuf.extend_from_slice(b"mn\r\n");
        self.send(None)?;
        Ok(rejected)
    }

    /// Append command `i` of `ops` to the request buffer.
    fn encode_op(&mut self, ops: &Ops, i: usize) -> Result<()> {
        encode_op(&mut self.wbuf, &self.rules, self.max_value_len, ops, i)
    }

    /// Read the replies to what `send_batch` sent, up to `MN`, into `out`;
    /// the refused commands get their errors.
    pub(crate) fn recv_batch(
        &mut self,
        ops: &Ops,
        out: &mut Outs,
        rejected: Rejected,
    ) -> Result<()> {
        for (i, e) in rejected {
            out.fail(i, e);
        }
        if self.batch_sent.is_empty() {
            return Ok(());
        }
        let sent = std::mem::take(&mut self.batch_sent);
        let res = self.read_batch(ops, out, &sent);
        tag_errors(out, &sent, &self.name);
        self.batch_sent = sent;
        self.key_scratch.clear(); // the line copy, if an error cut it short
        self.guard(res)
    }

    fn read_batch(&mut self, ops: &Ops, out: &mut Outs, sent: &[usize]) -> Result<()> {
        let max = self.max_value_len;
        let conn = self.conn.as_mut().ok_or_else(|| Error::UnexpectedClose {
            server: Default::default(),
        })?;
        // Commands before `next` are settled.
        let mut next = 0;
        // The slow path's copy of a reply line (the key scratch buffer is
        // free while a batch runs).
        let line_buf = &mut self.key_scratch;
        loop {
            // Fast path: a whole reply, value included, already read.
            let b = conn.buffered();
            if let Some(nl) = find_byte(b, b'\n') {
                let line = &b[..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(m) = meta::parse_line(line) {
                    let end = match m.len {
                        None => Some(nl + 1),
                        Some(len) if len <= max => {
                            let end = nl + 1 + len + 2;
                            (b.len() >= end && &b[end - 2..end] == b"\r\n").then_some(end)
                        }
                        Some(_) => None,
                    };
                    if let Some(end) = end {
                        if m.code == *b"MN" {
                            conn.consume(end);
                            return silent(ops, out, sent, next, sent.len());
                        }
                        let value = match m.len {
                            Some(len) => Value::Bytes(&b[nl + 1..nl + 1 + len]),
                            None => Value::None,
                        };
                        apply(ops, out, sent, &mut next, &m, value)?;
                        conn.consume(end);
                        continue;
                    }
                }
            }
            let line = conn.read_line()?;
            let Some(m) = meta::parse_line(line) else {
                error_line(ops, out, sent, &mut next, line)?;
                continue;
            };
            if m.code == *b"MN" {
                return silent(ops, out, sent, next, sent.len());
            }
            // The line lives in the connection's buffer: keep a copy while
            // the value is read.
            line_buf.clear();
            line_buf.extend_from_slice(line);
            let m = meta::parse_line(line_buf).ok_or_else(|| protocol_error("a meta reply"))?;
            let value = match m.len {
                Some(len) if len > max => {
                    return Err(Error::TooLarge {
                        len: len as u64,
                        max: max as u64,
                        server: Default::default(),
                    })
                }
                Some(len) => {
                    // Straight into the results' buffer: a large value is
                    // copied once.
                    let start = out.data.len();
                    conn.read_block(len, &mut out.data)?;
                    out.data.push(0);
                    Value::Placed(start, len)
                }
                None => Value::None,
            };
            let res = apply(ops, out, sent, &mut next, &m, value);
            line_buf.clear();
            res?;
        }
    }
}

/// Append the flags of meta-only command `i` to `w`, each after a space,
/// and give its meta command: a stampede read's `v f c t N<ttl> [R<t>]`,
/// an invalidation's `I T<ttl>`, a generic command's own tokens (checked).
/// `None` for the other kinds. The pipeline encoder and the mock both use
/// it, so both run stampede control with the same flags.
pub(crate) fn meta_only_flags(w: &mut Vec<u8>, ops: &Ops, i: usize) -> Result<Option<MetaCmd>> {
    let flag_num = |w: &mut Vec<u8>, flag: &[u8], n: i64| {
        w.extend_from_slice(flag);
        push_i64(w, n);
    };
    Ok(Some(match ops.reqs[i].kind {
        OpKind::GetOrLock {
            lock_ttl,
            recache_below,
        } => {
            check_exptime("lock ttl", lock_ttl)?;
            check_exptime("recache time", recache_below)?;
            w.extend_from_slice(b" v f c t");
            flag_num(w, b" N", lock_ttl);
            if recache_below > 0 {
                flag_num(w, b" R", recache_below);
            }
            MetaCmd::Get
        }
        OpKind::Invalidate(t) => {
            check_exptime("stale ttl", t)?;
            flag_num(w, b" I T", t);
            MetaCmd::Delete
        }
        OpKind::Meta(cmd) => {
            let tokens = ops.tokens(i);
            meta::check_tokens(tokens).map_err(Error::IllegalInput)?;
            if !tokens.is_empty() {
                w.push(b' ');
                w.extend_from_slice(tokens);
            }
            cmd
        }
        _ => return Ok(None),
    }))
}

/// Append command `i` of `ops` to `w` as a meta command tagged with `i` as
/// its opaque token (`rules` check and prefix the key; values over `max`
/// are refused). On an error `w` may hold a partial command: the caller
/// truncates it.
pub(crate) fn encode_op(
    w: &mut Vec<u8>,
    rules: &crate::key::KeyRules,
    max: usize,
    ops: &Ops,
    i: usize,
) -> Result<()> {
    let req = ops.reqs[i];
    let kind = req.kind;
    w.extend_from_slice(match kind {
        OpKind::Meta(cmd) => cmd.code(),
        OpKind::Store(_) | OpKind::Cas(_) => b"ms",
        OpKind::Delete | OpKind::Invalidate(_) => b"md",
        OpKind::Incr(_) | OpKind::Decr(_) => b"ma",
        _ => b"mg",
    });
    w.push(b' ');
    rules.write_meta_key(ops.key(i), ops.base64_key(i), w)?;
    let value = ops.value(i);
    if kind.has_value() {
        if value.len() > max {
            return Err(Error::TooLarge {
                len: value.len() as u64,
                max: max as u64,
                server: Default::default(),
            });
        }
        w.push(b' ');
        push_u64(w, value.len() as u64);
    }
    let flag_num = |w: &mut Vec<u8>, flag: &[u8], n: i64| {
        w.extend_from_slice(flag);
        push_i64(w, n);
    };
    match kind {
        OpKind::Get => w.extend_from_slice(b" v f"),
        OpKind::Gets => w.extend_from_slice(b" v f c"),
        OpKind::Gat(t) | OpKind::Gats(t) => {
            check_exptime("expire", t)?;
            w.extend_from_slice(if matches!(kind, OpKind::Gat(_)) {
                b" v f"
            } else {
                b" v f c"
            });
            flag_num(w, b" T", t);
        }
        OpKind::Touch(t) => {
            check_exptime("expire", t)?;
            flag_num(w, b" T", t);
        }
        OpKind::Store(_) | OpKind::Cas(_) => {
            check_exptime("expire", req.expire)?;
            w.extend_from_slice(b" F");
            push_u64(w, u64::from(req.flags));
            flag_num(w, b" T", req.expire);
            match kind {
                OpKind::Cas(c) => {
                    w.extend_from_slice(b" C");
                    push_u64(w, c);
                }
                OpKind::Store(StoreCmd::Add) => w.extend_from_slice(b" ME"),
                OpKind::Store(StoreCmd::Replace) => w.extend_from_slice(b" MR"),
                OpKind::Store(StoreCmd::Append) => w.extend_from_slice(b" MA"),
                OpKind::Store(StoreCmd::Prepend) => w.extend_from_slice(b" MP"),
                _ => {}
            }
        }
        OpKind::Delete => {}
        OpKind::Incr(d) | OpKind::Decr(d) => {
            w.extend_from_slice(b" v D");
            push_u64(w, d);
            if matches!(kind, OpKind::Decr(_)) {
                w.extend_from_slice(b" MD");
            }
        }
        OpKind::GetOrLock { .. } | OpKind::Invalidate(_) | OpKind::Meta(_) => {
            meta_only_flags(w, ops, i)?;
        }
        OpKind::Whole => {
            return Err(Error::IllegalInput(
                "a whole-client command runs alone, not in a pipeline".into(),
            ))
        }
    }
    if kind.quiet() {
        w.extend_from_slice(b" q");
    }
    w.extend_from_slice(b" O");
    push_u64(w, i as u64);
    w.extend_from_slice(b"\r\n");
    if kind.has_value() {
        w.extend_from_slice(value);
        w.extend_from_slice(b"\r\n");
    }
    Ok(())
}

/// Read a batch's complete replies on one server (`region`, up to and
/// including `MN`, as the async client collects them) into `out`, as
/// `recv_batch` reads them from a socket; `sent` are the positions of the
/// commands sent there, in order.
pub(crate) fn apply_replies(
    ops: &Ops,
    out: &mut Outs,
    sent: &[usize],
    region: &[u8],
    max: usize,
) -> Result<()> {
    let mut next = 0;
    let mut at = 0;
    while let Some(nl) = find_byte(&region[at..], b'\n') {
        let line = &region[at..at + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += nl + 1;
        let Some(m) = meta::parse_line(line) else {
            error_line(ops, out, sent, &mut next, line)?;
            continue;
        };
        if m.code == *b"MN" {
            return silent(ops, out, sent, next, sent.len());
        }
        let value = match m.len {
            Some(len) if len > max => {
                return Err(Error::TooLarge {
                    len: len as u64,
                    max: max as u64,
                    server: Default::default(),
                })
            }
            Some(len) => {
                let v = region
                    .get(at..at + len)
                    .ok_or_else(|| protocol_error("a cut meta reply"))?;
                at += len + 2;
                Value::Bytes(v)
            }
            None => Value::None,
        };
        apply(ops, out, sent, &mut next, &m, value)?;
    }
    Err(protocol_error("batch replies without MN"))
}

/// Name `server` in the errors its replies settled on commands `sent`
/// (CLIENT_ERROR/SERVER_ERROR lines carry no address), as the single calls
/// name it.
pub(crate) fn tag_errors(out: &mut Outs, sent: &[usize], server: &std::sync::Arc<str>) {
    for &i in sent {
        if let Some(e) = out.results[i].error.take() {
            out.results[i].error = Some(e.at(server));
        }
    }
}

/// A reply line that is not a meta reply: `ERROR` (no meta protocol), or a
/// `CLIENT_ERROR`/`SERVER_ERROR` settled on its command; anything else is
/// unparsable.
fn error_line(
    ops: &Ops,
    out: &mut Outs,
    sent: &[usize],
    next: &mut usize,
    line: &[u8],
) -> Result<()> {
    if line == b"ERROR" || line.starts_with(b"ERROR ") {
        return Err(no_meta_support());
    }
    if !(line.starts_with(b"CLIENT_ERROR") || line.starts_with(b"SERVER_ERROR")) {
        return Err(reply::unexpected(line));
    }
    // An error line carries no opaque token: it answers the first command
    // still unsettled that is not quiet, or one of the quiet ones before it
    // (quiet commands answer only hits and errors). Keys and arguments are
    // checked before sending, so quiet commands (reads, touch, delete) are
    // not refused in practice: the error is the non-quiet command's (a store
    // too large, out of memory), else the first one's.
    let quiet = |p: usize| ops.reqs[sent[p]].kind.quiet();
    let err = Error::from_reply_line(line);
    let end = (*next..sent.len())
        .find(|&p| !quiet(p))
        .map_or(sent.len(), |p| p + 1);
    if *next == end {
        return Err(protocol_error(
            "an error reply after every command was answered",
        ));
    }
    let at = if quiet(end - 1) { *next } else { end - 1 };
    silent(ops, out, sent, *next, at)?;
    out.fail(sent[at], err);
    *next = at + 1;
    Ok(())
}

/// Settle commands `from..to` of `sent` that got no reply: quiet ones by
/// their silent outcome; a command that always answers cannot be silent.
fn silent(ops: &Ops, out: &mut Outs, sent: &[usize], from: usize, to: usize) -> Result<()> {
    for &i in &sent[from..to] {
        let kind = ops.reqs[i].kind;
        if !kind.quiet() {
            return Err(protocol_error("a meta command got no reply"));
        }
        out.set_status(i, kind.silent_outcome());
    }
    Ok(())
}

/// The data block of a reply.
pub(crate) enum Value<'a> {
    /// No data block.
    None,
    /// The bytes, to copy into the results.
    Bytes(&'a [u8]),
    /// Already in the results' buffer at (start, length), NUL after.
    Placed(usize, usize),
}

/// Record one meta reply (`m`, with its data block `value`): the commands
/// before it that got no reply are settled as silent, `*next` moves past it.
pub(crate) fn apply(
    ops: &Ops,
    out: &mut Outs,
    sent: &[usize],
    next: &mut usize,
    m: &meta::MetaLine<'_>,
    value: Value<'_>,
) -> Result<()> {
    // Everything needed from the line, before the value is read.
    let (mut flags, mut cas, mut ttl, mut op) = (0u32, None, None, None);
    let (mut won, mut stale, mut sent_win) = (false, false, false);
    for (f, token) in meta::flags(m.flags) {
        match f {
            b'O' => op = parse_u64(token),
            b'f' => {
                flags = parse_u64(token)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| protocol_error("a bad f flag in a meta reply"))?
            }
            b'c' => cas = parse_u64(token),
            b't' => {
                ttl = if token == b"-1" {
                    Some(-1)
                } else {
                    parse_u64(token).and_then(|n| i64::try_from(n).ok())
                }
            }
            b'W' => won = true,
            b'X' => stale = true,
            b'Z' => sent_win = true,
            _ => {}
        }
    }
    let op = op.ok_or_else(|| protocol_error("a meta reply without the opaque token"))?;
    let pos = sent[*next..]
        .iter()
        .position(|&i| i as u64 == op)
        .ok_or_else(|| protocol_error("a meta reply out of order or for no command"))?;
    silent(ops, out, sent, *next, *next + pos)?;
    let i = sent[*next + pos];
    *next += pos + 1;
    let kind = ops.reqs[i].kind;
    if let OpKind::Meta(_) = kind {
        let start = out.data.len();
        for (n, t) in meta::without_opaque(m.flags).enumerate() {
            if n > 0 {
                out.data.push(b' ');
            }
            out.data.extend_from_slice(t);
        }
        let r = &mut out.results[i];
        r.code = m.code;
        r.ret_flags = (start, out.data.len() - start);
    }
    let code = m.code;
    match value {
        Value::Bytes(v) => {
            let start = out.data.len();
            out.data.extend_from_slice(v);
            out.data.push(0);
            out.results[i].value = (start, v.len());
        }
        Value::Placed(start, len) => out.results[i].value = (start, len),
        Value::None => {}
    }
    let status = match &code {
        b"VA" | b"HD" => OpStatus::Ok,
        b"EN" => OpStatus::Miss,
        b"NF" => match kind {
            OpKind::Get | OpKind::Gets | OpKind::Gat(_) | OpKind::Gats(_) => OpStatus::Miss,
            OpKind::Meta(MetaCmd::Get) => OpStatus::Miss,
            _ => OpStatus::NotFound,
        },
        b"NS" => OpStatus::NotStored,
        b"EX" => OpStatus::Exists,
        _ => return Err(protocol_error("an unexpected meta return code")),
    };
    let (vs, vl) = out.results[i].value;
    let number = match kind {
        OpKind::Incr(_) | OpKind::Decr(_) if status == OpStatus::Ok => Some(
            parse_u64(&out.data[vs..vs + vl])
                .ok_or_else(|| protocol_error("ma returned a value that is not a number"))?,
        ),
        _ => None,
    };
    let lease = match kind {
        OpKind::GetOrLock { .. } if status == OpStatus::Ok => Some(if won {
            if stale || vl > 0 {
                Lease::StaleWon
            } else {
                Lease::MissWon
            }
        } else if stale {
            Lease::Stale
        } else if sent_win && vl == 0 {
            Lease::MissBusy
        } else {
            Lease::Hit
        }),
        _ => None,
    };
    let r = &mut out.results[i];
    r.status = status;
    r.flags = flags;
    r.cas = cas;
    r.ttl = ttl;
    r.number = number;
    r.lease = lease;
    Ok(())
}
