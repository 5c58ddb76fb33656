//! Reply parsing: one line at a time, as `conn::Conn` hands them out.

use super::scan::find_byte;
use crate::error::{Error, Result};

/// A parsed `VALUE <key> <flags> <bytes> [<cas>]` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueHeader<'a> {
    /// The key as the server sent it (prefix included).
    pub key: &'a [u8],
    /// The item's flags.
    pub flags: u32,
    /// Length of the data block that follows.
    pub len: u64,
    /// CAS unique, present for gets/gats.
    pub cas: Option<u64>,
}

/// Parse a decimal number made of ASCII digits only.
pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

fn unparsable(line: &[u8]) -> Error {
    let cut = &line[..line.len().min(64)];
    Error::UnknownError {
        text: String::from_utf8_lossy(cut).into_owned(),
        server: Default::default(),
    }
}

/// Turn a line that is not the expected reply into its error: the server's
/// `ERROR`/`CLIENT_ERROR`/`SERVER_ERROR`, or unparsable.
pub fn unexpected(line: &[u8]) -> Error {
    Error::from_reply_line(line)
}

/// Read the decimal number at `*at` in `b`, which must end at a space or
/// the end of `b`; step past the space.
fn number_field(b: &[u8], at: &mut usize) -> Option<u64> {
    let start = *at;
    let mut n: u64 = 0;
    while *at < b.len() && b[*at] != b' ' {
        let d = b[*at].wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
        *at += 1;
    }
    if *at == start || *at - start > 20 {
        return None;
    }
    if *at < b.len() {
        *at += 1; // the space
        if *at == b.len() {
            return None; // a trailing space
        }
    }
    Some(n)
}

/// Parse a `VALUE <key> <flags> <bytes> [<cas>]` header line; anything
/// else is an error.
pub fn value_header(line: &[u8]) -> Result<ValueHeader<'_>> {
    let rest = line
        .strip_prefix(b"VALUE ")
        .ok_or_else(|| unexpected(line))?;
    let key_end = find_byte(rest, b' ')
        .filter(|&e| e > 0)
        .ok_or_else(|| unparsable(line))?;
    let mut at = key_end + 1;
    let flags = number_field(rest, &mut at)
        .and_then(|f| u32::try_from(f).ok())
        .ok_or_else(|| unparsable(line))?;
    let len = number_field(rest, &mut at).ok_or_else(|| unparsable(line))?;
    let cas = if at < rest.len() {
        let c = number_field(rest, &mut at).ok_or_else(|| unparsable(line))?;
        if at < rest.len() {
            return Err(unparsable(line));
        }
        Some(c)
    } else {
        None
    };
    Ok(ValueHeader {
        key: &rest[..key_end],
        flags,
        len,
        cas,
    })
}

/// A whole `VALUE` item found in a buffer by [`value_item`]: header,
/// data block and the `\r\n` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueItem {
    /// The item's flags.
    pub flags: u32,
    /// CAS unique, when asked for.
    pub cas: Option<u64>,
    /// Where the data block starts in the buffer.
    pub data: usize,
    /// Length of the data block.
    pub len: usize,
    /// Bytes the item takes, up to and including its final `\r\n`.
    pub end: usize,
}

/// The decimal number at `*at` (1 to 19 digits, so it cannot overflow),
/// stepping `*at` to the byte after it, which must be present.
#[inline(always)]
fn digits(b: &[u8], at: &mut usize) -> Option<u64> {
    let start = *at;
    let mut n: u64 = 0;
    while let Some(&c) = b.get(*at) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if *at - start == 19 {
            return None; // a 20th digit could overflow: the line parser decides
        }
        n = n * 10 + u64::from(d);
        *at += 1;
    }
    (*at > start && *at < b.len()).then_some(n)
}

/// The fast path of multi-key reads: if `b` starts with a complete
/// `VALUE <key> <flags> <len>[ <cas>]\r\n<data>\r\n` for exactly `key`,
/// with a CAS unique if and only if `with_cas`, and `len <= max`, where it
/// lies. `None` means "not that simple" (another key, a partial buffer, a
/// lone `\n`, a long number, any error): the caller then takes the line by
/// line path, which accepts or reports everything. Nothing here accepts
/// what that path would refuse.
#[inline(always)]
pub fn value_item(b: &[u8], key: &[u8], with_cas: bool, max: usize) -> Option<ValueItem> {
    let key_end = 6 + key.len();
    if b.len() <= key_end || b[..6] != *b"VALUE " || b[6..key_end] != *key || b[key_end] != b' ' {
        return None;
    }
    let mut at = key_end + 1;
    let flags = u32::try_from(digits(b, &mut at)?).ok()?;
    if b[at] != b' ' {
        return None;
    }
    at += 1;
    let len = usize::try_from(digits(b, &mut at)?).ok()?;
    let cas = if with_cas {
        if b[at] != b' ' {
            return None;
        }
        at += 1;
        Some(digits(b, &mut at)?)
    } else {
        None
    };
    if len > max || b.get(at..at + 2)? != b"\r\n" {
        return None;
    }
    let data = at + 2;
    let end = data.checked_add(len)?.checked_add(2)?;
    if b.get(end - 2..end)? != b"\r\n" {
        return None;
    }
    Some(ValueItem {
        flags,
        cas,
        data,
        len,
        end,
    })
}

/// The outcomes of storage and cas commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreReply {
    /// `STORED`
    Stored,
    /// `NOT_STORED`
    NotStored,
    /// `EXISTS` (cas mismatch)
    Exists,
    /// `NOT_FOUND` (cas on a missing key)
    NotFound,
}

/// Parse the reply to a storage command.
pub fn store_reply(line: &[u8]) -> Result<StoreReply> {
    match line {
        b"STORED" => Ok(StoreReply::Stored),
        b"NOT_STORED" => Ok(StoreReply::NotStored),
        b"EXISTS" => Ok(StoreReply::Exists),
        b"NOT_FOUND" => Ok(StoreReply::NotFound),
        _ => Err(unexpected(line)),
    }
}

/// Parse a reply that is either `yes` or `NOT_FOUND` (delete, touch).
pub fn found_reply(line: &[u8], yes: &[u8]) -> Result<bool> {
    if line == yes {
        Ok(true)
    } else if line == b"NOT_FOUND" {
        Ok(false)
    } else {
        Err(unexpected(line))
    }
}

/// Parse the reply to incr/decr: the new value, or `None` for `NOT_FOUND`.
pub fn counter_reply(line: &[u8]) -> Result<Option<u64>> {
    if line == b"NOT_FOUND" {
        return Ok(None);
    }
    // memcached pads decr results with spaces when the length shrinks.
    match parse_u64(line.trim_ascii_end()) {
        Some(n) => Ok(Some(n)),
        None => Err(unexpected(line)),
    }
}

/// Parse a `STAT <name> <value>` line into its two parts; the
/// `ITEM <key> <info>` lines of `stats cachedump` are taken the same way,
/// as pymemcache does.
pub fn stat_line(line: &[u8]) -> Result<(&[u8], &[u8])> {
    let rest = line
        .strip_prefix(b"STAT ")
        .or_else(|| line.strip_prefix(b"ITEM "))
        .ok_or_else(|| unexpected(line))?;
    match rest.iter().position(|&b| b == b' ') {
        Some(i) => Ok((&rest[..i], &rest[i + 1..])),
        None => Ok((rest, &[][..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_headers() {
        let h = value_header(b"VALUE k 5 10").unwrap();
        assert_eq!((h.key, h.flags, h.len, h.cas), (&b"k"[..], 5, 10, None));
        let h = value_header(b"VALUE k 007 10").unwrap();
        assert_eq!((h.flags, h.len), (7, 10));
        let h = value_header(b"VALUE k 4294967295 0 18446744073709551615").unwrap();
        assert_eq!((h.flags, h.cas), (u32::MAX, Some(u64::MAX)));
        for bad in [
            &b"VALUE k"[..],
            b"VALUE k x 1",
            b"VALUE k 1 -1",
            b"VALUE k 4294967296 1",
            b"VALUE k 1 1 2 3",
            b"VALUE  1 1",
            b"VALUE k 1 2 ",
            b"VALUE k 1",
            b"VALUE k 1 2 3 ",
            b"VALUE k 1 2  3",
            b"VALUE k 1 99999999999999999999999",
            b"VALUE k",
        ] {
            assert!(
                matches!(value_header(bad), Err(Error::UnknownError { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            value_header(b"SERVER_ERROR out of memory"),
            Err(Error::ServerError { .. })
        ));
    }

    #[test]
    fn value_items_only_when_simple_and_whole() {
        let b = b"VALUE k 5 3\r\nabc\r\nEND\r\n";
        let it = value_item(b, b"k", false, 100).unwrap();
        assert_eq!((it.flags, it.cas, it.len), (5, None, 3));
        assert_eq!((&b[it.data..it.data + it.len], it.end), (&b"abc"[..], 18));
        let b = b"VALUE k 0 3 99\r\nabc\r\n";
        assert_eq!(value_item(b, b"k", true, 100).unwrap().cas, Some(99));
        assert_eq!(value_item(b, b"k", false, 100), None); // CAS not asked for
        assert_eq!(value_item(b"VALUE k 0 3\r\nabc\r\n", b"k", true, 100), None);
        let b = b"VALUE k 0 3\r\nabc\r\n";
        assert_eq!(value_item(b, b"k", false, 2), None); // over the limit
        assert_eq!(value_item(b, b"j", false, 100), None);
        assert_eq!(value_item(b, b"kk", false, 100), None);
        for cut in 0..b.len() {
            assert_eq!(value_item(&b[..cut], b"k", false, 100), None, "{cut}");
        }
        for odd in [
            &b"VALUE k 0 3\nabc\r\n"[..],
            b"VALUE k 0 3\r\nabcd\r\n",
            b"VALUE k 0 3 \r\nabc\r\n",
            b"VALUE k  0 3\r\nabc\r\n",
            b"VALUE k 0 -3\r\nabc\r\n",
            b"VALUE k 4294967296 3\r\nabc\r\n",
            b"VALUE k 0 00000000000000000003\r\nabc\r\n",
            b"VALUE k 0 18446744073709551615\r\nabc\r\n",
            b"VALUE k 0 3\r\nabc\n\n",
            b"VALUe k 0 3\r\nabc\r\n",
        ] {
            assert_eq!(value_item(odd, b"k", false, usize::MAX), None, "{odd:?}");
        }
        let b = b"VALUE k 4294967295 0000000000000000003\r\nabc\r\n";
        assert_eq!(value_item(b, b"k", false, 100).unwrap().flags, u32::MAX);
    }

    #[test]
    fn simple_replies() {
        assert_eq!(store_reply(b"STORED").unwrap(), StoreReply::Stored);
        assert_eq!(store_reply(b"EXISTS").unwrap(), StoreReply::Exists);
        assert!(matches!(
            store_reply(b"ERROR"),
            Err(Error::UnknownCommand { .. })
        ));
        match store_reply(b"CLIENT_ERROR bad data chunk") {
            Err(Error::ClientError { text, .. }) => assert_eq!(text, "bad data chunk"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            store_reply(b"STOREDX"),
            Err(Error::UnknownError { .. })
        ));
        assert_eq!(counter_reply(b"42").unwrap(), Some(42));
        assert_eq!(counter_reply(b"9 ").unwrap(), Some(9));
        assert_eq!(counter_reply(b"NOT_FOUND").unwrap(), None);
        assert!(found_reply(b"DELETED", b"DELETED").unwrap());
        assert!(!found_reply(b"NOT_FOUND", b"TOUCHED").unwrap());
        assert_eq!(
            stat_line(b"STAT pid 12").unwrap(),
            (&b"pid"[..], &b"12"[..])
        );
        assert_eq!(
            stat_line(b"STAT libevent 2.1.12-stable x").unwrap().1,
            &b"2.1.12-stable x"[..]
        );
        assert_eq!(parse_u64(b"18446744073709551616"), None);
    }
}
