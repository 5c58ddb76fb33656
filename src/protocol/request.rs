//! Request encoding. Every function appends one complete command line to
//! `out`; keys must already be checked and prefixed by `key::KeyRules`.

use std::io::Write;

/// The storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCmd {
    /// Store unconditionally.
    Set,
    /// Store only if the key is absent.
    Add,
    /// Store only if the key is present.
    Replace,
    /// Append to an existing value.
    Append,
    /// Prepend to an existing value.
    Prepend,
}

impl StoreCmd {
    /// The command word.
    pub fn name(self) -> &'static str {
        match self {
            StoreCmd::Set => "set",
            StoreCmd::Add => "add",
            StoreCmd::Replace => "replace",
            StoreCmd::Append => "append",
            StoreCmd::Prepend => "prepend",
        }
    }
}

/// The retrieval commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchCmd {
    /// `get`: values and flags.
    Get,
    /// `gets`: values, flags and CAS uniques.
    Gets,
    /// `gat <exptime>`: get and touch.
    Gat(i64),
    /// `gats <exptime>`: get and touch, with CAS uniques.
    Gats(i64),
}

impl FetchCmd {
    /// Whether the reply carries CAS uniques.
    pub fn with_cas(self) -> bool {
        matches!(self, FetchCmd::Gets | FetchCmd::Gats(_))
    }
}

/// Append the decimal digits of `n` (faster than `write!`).
#[inline]
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    // Flags, expiry 0, deltas and batch positions: mostly one to three
    // digits, pushed without the general loop.
    if n < 10 {
        out.push(b'0' + n as u8);
    } else if n < 100 {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
    } else if n < 1000 {
        out.extend_from_slice(&[
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ]);
    } else {
        push_u64_long(out, n);
    }
}

fn push_u64_long(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Append the decimal digits of `n`, with a '-' when negative.
pub fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

fn noreply_suffix(out: &mut Vec<u8>, noreply: bool) {
    if noreply {
        out.extend_from_slice(b" noreply");
    }
    out.extend_from_slice(b"\r\n");
}

/// Start a retrieval command; keys follow, each after a space, then `\r\n`.
pub fn fetch_start(out: &mut Vec<u8>, cmd: FetchCmd) {
    match cmd {
        FetchCmd::Get => out.extend_from_slice(b"get"),
        FetchCmd::Gets => out.extend_from_slice(b"gets"),
        FetchCmd::Gat(t) => {
            let _ = write!(out, "gat {t}");
        }
        FetchCmd::Gats(t) => {
            let _ = write!(out, "gats {t}");
        }
    }
}

/// memcached reads an expiry (and flush_all's delay) as a signed 32-bit
/// number; a value outside that range would be read as another time (2^32
/// as 0, never; 2^31 as negative, at once), so it is refused before
/// anything is sent.
pub fn check_exptime(what: &str, t: i64) -> crate::error::Result<()> {
    if i32::try_from(t).is_ok() {
        return Ok(());
    }
    Err(exptime_out_of_range(what, t))
}

#[cold]
fn exptime_out_of_range(what: &str, t: i64) -> crate::error::Error {
    crate::error::Error::IllegalInput(format!(
        "{what} {t} is outside memcached's range -2147483648..=2147483647 \
         (0: never; negative: at once; up to 2592000: seconds from now; above: a unix time)"
    ))
}

/// The header line of a storage command (the data block follows); `cas`
/// turns it into a `cas` command's header.
#[allow(clippy::too_many_arguments)] // one argument per protocol field
pub fn store_header(
    out: &mut Vec<u8>,
    cmd: &str,
    key: &[u8],
    flags: u32,
    expire: i64,
    len: usize,
    cas: Option<u64>,
    noreply: bool,
) {
    out.extend_from_slice(cmd.as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b' ');
    push_u64(out, u64::from(flags));
    out.push(b' ');
    push_i64(out, expire);
    out.push(b' ');
    push_u64(out, len as u64);
    if let Some(c) = cas {
        out.push(b' ');
        push_u64(out, c);
    }
    noreply_suffix(out, noreply);
}

/// `delete <key> [noreply]`.
pub fn delete(out: &mut Vec<u8>, key: &[u8], noreply: bool) {
    out.extend_from_slice(b"delete ");
    out.extend_from_slice(key);
    noreply_suffix(out, noreply);
}

/// `incr|decr <key> <delta> [noreply]`.
pub fn incr_decr(out: &mut Vec<u8>, incr: bool, key: &[u8], delta: u64, noreply: bool) {
    out.extend_from_slice(if incr { b"incr " } else { b"decr " });
    out.extend_from_slice(key);
    let _ = write!(out, " {delta}");
    noreply_suffix(out, noreply);
}

/// `touch <key> <exptime> [noreply]`.
pub fn touch(out: &mut Vec<u8>, key: &[u8], expire: i64, noreply: bool) {
    out.extend_from_slice(b"touch ");
    out.extend_from_slice(key);
    let _ = write!(out, " {expire}");
    noreply_suffix(out, noreply);
}

/// `flush_all [delay] [noreply]`.
pub fn flush_all(out: &mut Vec<u8>, delay: i64, noreply: bool) {
    let _ = write!(out, "flush_all {delay}");
    noreply_suffix(out, noreply);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits() {
        let mut out = Vec::new();
        for n in [0, 7, 9, 10, 99, 100, 999, 1000, 12345, u64::MAX] {
            out.clear();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
        for n in [0, -1, 42, i64::MIN, i64::MAX] {
            out.clear();
            push_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        store_header(&mut out, "set", b"k", 5, 10, 3, None, false);
        store_header(&mut out, "cas", b"k", 0, 0, 1, Some(99), true);
        delete(&mut out, b"k", true);
        incr_decr(&mut out, false, b"n", 7, false);
        touch(&mut out, b"t", -1, false);
        flush_all(&mut out, 0, false);
        fetch_start(&mut out, FetchCmd::Gats(30));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "set k 5 10 3\r\ncas k 0 0 1 99 noreply\r\ndelete k noreply\r\n\
             decr n 7\r\ntouch t -1\r\nflush_all 0\r\ngats 30"
        );
    }
}
