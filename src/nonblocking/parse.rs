//! Reply parsing on a read buffer that may hold a partial reply: each parser
//! says "incomplete" without consuming, or how many bytes one whole reply
//! took and what it meant.

use crate::error::Error;
use crate::protocol::meta::{self, MetaLine};
use crate::protocol::reply::{found_reply, store_reply, value_header, value_item, StoreReply};
use crate::protocol::scan::find_byte;

/// The longest reply line accepted before its `\n` arrives; more is a
/// broken peer, not a slow one.
const MAX_LINE: usize = 8 * 1024;

/// What a reply meant for the operation it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// A get hit: the value lies at `data..data + len` of the parsed bytes.
    Hit {
        /// The item's flags.
        flags: u32,
        /// Offset of the value in the buffer given to the parser.
        data: usize,
        /// Length of the value.
        len: usize,
    },
    /// A get found nothing.
    Miss,
    /// A storage command stored.
    Stored,
    /// A storage command did not store.
    NotStored,
    /// cas mismatch.
    Exists,
    /// delete: deleted.
    Deleted,
    /// delete (or cas): no such item.
    NotFound,
    /// A batch's replies on one server, the whole parsed span up to `MN`.
    Batch,
}

/// The outcome of looking at the front of a read buffer.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Not a whole reply yet: read more.
    Incomplete,
    /// One whole reply of `used` bytes: its meaning, or the error the
    /// server answered with (the connection stays usable).
    Done {
        /// Bytes the reply took.
        used: usize,
        /// What it meant.
        reply: Result<Reply, Error>,
    },
    /// The stream cannot be followed any further (unparsable, a value over
    /// the limit, another key than asked): the connection must be closed.
    Broken(Error),
}

/// The first line of `b` (without `\r\n`) and the bytes it takes with its
/// end, or `Err` when the line is incomplete (`Ok(None)`) or too long.
fn line(b: &[u8]) -> Result<Option<(&[u8], usize)>, Error> {
    match find_byte(b, b'\n') {
        Some(nl) => {
            let l = &b[..nl];
            Ok(Some((l.strip_suffix(b"\r").unwrap_or(l), nl + 1)))
        }
        None if b.len() > MAX_LINE => Err(broken("a reply line without an end")),
        None => Ok(None),
    }
}

fn broken(text: &str) -> Error {
    Error::UnknownError {
        text: text.into(),
        server: Default::default(),
    }
}

/// The reply to `get <key>` (`key` as sent, prefix included).
pub(crate) fn get(b: &[u8], key: &[u8], max: usize) -> Parsed {
    if b.starts_with(b"END\r\n") {
        return Parsed::Done {
            used: 5,
            reply: Ok(Reply::Miss),
        };
    }
    // The fast path: a whole item for this key.
    let (flags, data, len, end) = if let Some(it) = value_item(b, key, false, max) {
        (it.flags, it.data, it.len, it.end)
    } else {
        let (l, after) = match line(b) {
            Ok(Some(x)) => x,
            Ok(None) => return Parsed::Incomplete,
            Err(e) => return Parsed::Broken(e),
        };
        if !l.starts_with(b"VALUE ") {
            if l == b"END" {
                return Parsed::Done {
                    used: after,
                    reply: Ok(Reply::Miss),
                };
            }
            return error_line(l, after);
        }
        let h = match value_header(l) {
            Ok(h) => h,
            Err(e) => return Parsed::Broken(e),
        };
        if h.key != key {
            return Parsed::Broken(broken("a value for another key than asked"));
        }
        if h.len > max as u64 {
            return Parsed::Broken(Error::TooLarge {
                len: h.len,
                max: max as u64,
                server: Default::default(),
            });
        }
        let len = h.len as usize;
        let end = after + len + 2;
        if b.len() < end {
            return Parsed::Incomplete;
        }
        if &b[end - 2..end] != b"\r\n" {
            return Parsed::Broken(broken("a data block without its \\r\\n"));
        }
        (h.flags, after, len, end)
    };
    match b.get(end..end + 5) {
        None if b"END\r\n".starts_with(&b[end..]) => Parsed::Incomplete,
        Some(b"END\r\n") => Parsed::Done {
            used: end + 5,
            reply: Ok(Reply::Hit { flags, data, len }),
        },
        _ => Parsed::Broken(broken("a get reply without END")),
    }
}

/// An error line (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`) answers
/// the operation; anything else breaks the stream.
fn error_line(l: &[u8], after: usize) -> Parsed {
    if l == b"ERROR" || l.starts_with(b"CLIENT_ERROR") || l.starts_with(b"SERVER_ERROR") {
        Parsed::Done {
            used: after,
            reply: Err(Error::from_reply_line(l)),
        }
    } else {
        Parsed::Broken(Error::from_reply_line(l))
    }
}

/// The reply to a storage command.
pub(crate) fn store(b: &[u8]) -> Parsed {
    let (l, after) = match line(b) {
        Ok(Some(x)) => x,
        Ok(None) => return Parsed::Incomplete,
        Err(e) => return Parsed::Broken(e),
    };
    match store_reply(l) {
        Ok(r) => Parsed::Done {
            used: after,
            reply: Ok(match r {
                StoreReply::Stored => Reply::Stored,
                StoreReply::NotStored => Reply::NotStored,
                StoreReply::Exists => Reply::Exists,
                StoreReply::NotFound => Reply::NotFound,
            }),
        },
        Err(_) => error_line(l, after),
    }
}

/// The reply to `delete`.
pub(crate) fn delete(b: &[u8]) -> Parsed {
    let (l, after) = match line(b) {
        Ok(Some(x)) => x,
        Ok(None) => return Parsed::Incomplete,
        Err(e) => return Parsed::Broken(e),
    };
    match found_reply(l, b"DELETED") {
        Ok(true) => Parsed::Done {
            used: after,
            reply: Ok(Reply::Deleted),
        },
        Ok(false) => Parsed::Done {
            used: after,
            reply: Ok(Reply::NotFound),
        },
        Err(_) => error_line(l, after),
    }
}

/// The replies to a batch's meta commands, up to and including `MN`; the
/// batch code reads them once they are all here.
pub(crate) fn batch(b: &[u8], max: usize) -> Parsed {
    let mut at = 0;
    loop {
        let (l, after) = match line(&b[at..]) {
            Ok(Some(x)) => x,
            Ok(None) => return Parsed::Incomplete,
            Err(e) => return Parsed::Broken(e),
        };
        let next = at + after;
        match meta::parse_line(l) {
            Some(m) if m.code == *b"MN" => {
                return Parsed::Done {
                    used: next,
                    reply: Ok(Reply::Batch),
                }
            }
            Some(MetaLine { len: Some(len), .. }) => {
                if len > max {
                    return Parsed::Broken(Error::TooLarge {
                        len: len as u64,
                        max: max as u64,
                        server: Default::default(),
                    });
                }
                at = next + len + 2;
                if b.len() < at {
                    return Parsed::Incomplete;
                }
            }
            Some(_) => at = next,
            None if l.starts_with(b"CLIENT_ERROR") || l.starts_with(b"SERVER_ERROR") => at = next,
            None => return Parsed::Broken(Error::from_reply_line(l)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(p: Parsed) -> (usize, Reply) {
        match p {
            Parsed::Done { used, reply } => (used, reply.unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_replies_whole_and_cut() {
        let full = b"VALUE k 5 3\r\nabc\r\nEND\r\nSTORED\r\n";
        let (used, r) = done(get(full, b"k", 100));
        assert_eq!(used, 23);
        assert_eq!(
            r,
            Reply::Hit {
                flags: 5,
                data: 13,
                len: 3
            }
        );
        for cut in 0..23 {
            assert!(
                matches!(get(&full[..cut], b"k", 100), Parsed::Incomplete),
                "cut at {cut}"
            );
        }
        assert_eq!(done(get(b"END\r\n", b"k", 100)), (5, Reply::Miss));
        assert!(matches!(
            get(b"VALUE k 0 300\r\n", b"k", 100),
            Parsed::Broken(Error::TooLarge { .. })
        ));
        assert!(matches!(
            get(b"VALUE j 0 1\r\nx\r\nEND\r\n", b"k", 100),
            Parsed::Broken(_)
        ));
        match get(b"SERVER_ERROR out of memory\r\n", b"k", 100) {
            Parsed::Done { used: 28, reply } => {
                assert!(matches!(reply, Err(Error::ServerError { .. })))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn store_and_delete_replies() {
        assert_eq!(done(store(b"STORED\r\n")), (8, Reply::Stored));
        assert_eq!(done(store(b"NOT_STORED\r\n")), (12, Reply::NotStored));
        assert!(matches!(store(b"STOR"), Parsed::Incomplete));
        assert_eq!(done(delete(b"DELETED\r\n")), (9, Reply::Deleted));
        assert_eq!(done(delete(b"NOT_FOUND\r\n")), (11, Reply::NotFound));
        assert!(matches!(delete(b"WHAT\r\n"), Parsed::Broken(_)));
    }
}
