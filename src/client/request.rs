//! The command set as data: one `Request` value per command with its
//! arguments (borrowed from the caller, nothing allocated), and one `Reply`
//! value per kind of answer. A `Batch` holds any requests
//! (`Batch::request`, copied into its buffers) and `Memcache::execute`, the
//! one command method a client implements, runs it; `Memcache::call` runs
//! one request as a batch of one, which goes on the wire as its classic
//! command. The named methods (`get`, `set`, ...) build the request and
//! unpack the reply, so a wrapper client implements `execute` once instead
//! of every command.

use super::{CasOutcome, FetchCmd, Item, ServerStats, StoreCmd};
use crate::error::{Error, Result};

/// One command and its arguments. `noreply: None` follows the client's
/// default for that command (see `Memcache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// A retrieval command for `keys` (reply: `Items`).
    Fetch {
        /// get / gets / gat / gats.
        cmd: FetchCmd,
        /// The keys, in order.
        keys: &'a [&'a [u8]],
    },
    /// One storage command (reply: `Bool`, true if stored).
    Store {
        /// set / add / replace / append / prepend.
        cmd: StoreCmd,
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// The flags.
        flags: u32,
        /// The expiry.
        expire: i64,
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `set` of many items (reply: `Indices`, those not stored).
    SetMany {
        /// (key, value) pairs.
        items: &'a [(&'a [u8], &'a [u8])],
        /// The flags of every item.
        flags: u32,
        /// The expiry of every item.
        expire: i64,
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `cas` (reply: `Cas`).
    Cas {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// The CAS unique the item must still have.
        cas: u64,
        /// The flags.
        flags: u32,
        /// The expiry.
        expire: i64,
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `delete` (reply: `Bool`, true if it was there).
    Delete {
        /// The key.
        key: &'a [u8],
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `delete` of many keys (reply: `Count`, how many were deleted).
    DeleteMany {
        /// The keys.
        keys: &'a [&'a [u8]],
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `incr` (reply: `Counter`).
    Incr {
        /// The key.
        key: &'a [u8],
        /// What to add.
        delta: u64,
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `decr` (reply: `Counter`).
    Decr {
        /// The key.
        key: &'a [u8],
        /// What to subtract.
        delta: u64,
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `touch` (reply: `Bool`, true if the key was there).
    Touch {
        /// The key.
        key: &'a [u8],
        /// The new expiry.
        expire: i64,
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `stats` with optional arguments (reply: `Stats`).
    Stats {
        /// The arguments.
        args: &'a [&'a str],
    },
    /// `version` (reply: `Text`).
    Version,
    /// `flush_all` (reply: `Done`).
    FlushAll {
        /// Seconds before the flush.
        delay: i64,
        /// Whether to ask for no reply.
        noreply: Option<bool>,
    },
    /// `cache_memlimit` (reply: `Done`).
    CacheMemlimit {
        /// The new limit in megabytes.
        megabytes: u64,
    },
    /// One command line as given (reply: `Bytes`, up to `end_token`).
    Raw {
        /// The command line.
        command: &'a [u8],
        /// Where the reply ends.
        end_token: &'a [u8],
    },
    /// `shutdown` (reply: `Done`).
    Shutdown {
        /// `shutdown graceful`.
        graceful: bool,
    },
    /// `quit` (reply: `Done`).
    Quit,
}

/// The answer to a `Request`; which variant follows from the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// One entry per key, `None` for a miss (`Fetch`).
    Items(Vec<Option<Item>>),
    /// Stored / deleted / touched (`Store`, `Delete`, `Touch`).
    Bool(bool),
    /// Indices of the items not stored (`SetMany`).
    Indices(Vec<usize>),
    /// What a `cas` did (`Cas`).
    Cas(CasOutcome),
    /// How many keys were deleted (`DeleteMany`).
    Count(usize),
    /// A counter's new value, `None` for a miss (`Incr`, `Decr`).
    Counter(Option<u64>),
    /// One entry per server (`Stats`).
    Stats(Vec<ServerStats>),
    /// A version string (`Version`).
    Text(String),
    /// A raw reply (`Raw`).
    Bytes(Vec<u8>),
    /// Nothing to report (`FlushAll`, `CacheMemlimit`, `Shutdown`, `Quit`).
    Done,
}

fn mismatch(reply: &Reply) -> Error {
    Error::UnknownError {
        text: format!("a client answered a request with the wrong kind of reply: {reply:?}"),
        server: Default::default(),
    }
}

macro_rules! unpack {
    ($(#[$doc:meta] $name:ident, $variant:ident, $ty:ty;)*) => {
        impl Reply {
            $(
                #[$doc]
                pub fn $name(self) -> Result<$ty> {
                    match self {
                        Reply::$variant(v) => Ok(v),
                        other => Err(mismatch(&other)),
                    }
                }
            )*
        }
    };
}

unpack! {
    /// The items of a `Fetch` reply.
    into_items, Items, Vec<Option<Item>>;
    /// The outcome of a `Store`, `Delete` or `Touch` reply.
    into_bool, Bool, bool;
    /// The indices of a `SetMany` reply.
    into_indices, Indices, Vec<usize>;
    /// The outcome of a `Cas` reply.
    into_cas, Cas, CasOutcome;
    /// The count of a `DeleteMany` reply.
    into_count, Count, usize;
    /// The value of an `Incr` or `Decr` reply.
    into_counter, Counter, Option<u64>;
    /// The stats of a `Stats` reply.
    into_stats, Stats, Vec<ServerStats>;
    /// The text of a `Version` reply.
    into_text, Text, String;
    /// The bytes of a `Raw` reply.
    into_bytes, Bytes, Vec<u8>;
}

impl Reply {
    /// Check that this is `Done`.
    pub fn into_done(self) -> Result<()> {
        match self {
            Reply::Done => Ok(()),
            other => Err(mismatch(&other)),
        }
    }
}

/// A request run on a client with one inherent method per command, named
/// `op_<command>` with the named method's arguments and result (the
/// classic path of the hash client's `execute`).
macro_rules! call_ops {
    ($self:ident, $req:expr) => {
        match $req {
            Request::Fetch { cmd, keys } => $self.op_fetch(cmd, keys).map(Reply::Items),
            Request::Store {
                cmd,
                key,
                value,
                flags,
                expire,
                noreply,
            } => $self
                .op_store(cmd, key, value, flags, expire, noreply)
                .map(Reply::Bool),
            Request::SetMany {
                items,
                flags,
                expire,
                noreply,
            } => $self
                .op_set_many(items, flags, expire, noreply)
                .map(Reply::Indices),
            Request::Cas {
                key,
                value,
                cas,
                flags,
                expire,
                noreply,
            } => $self
                .op_cas(key, value, cas, flags, expire, noreply)
                .map(Reply::Cas),
            Request::Delete { key, noreply } => $self.op_delete(key, noreply).map(Reply::Bool),
            Request::DeleteMany { keys, noreply } => {
                $self.op_delete_many(keys, noreply).map(Reply::Count)
            }
            Request::Incr {
                key,
                delta,
                noreply,
            } => $self.op_incr(key, delta, noreply).map(Reply::Counter),
            Request::Decr {
                key,
                delta,
                noreply,
            } => $self.op_decr(key, delta, noreply).map(Reply::Counter),
            Request::Touch {
                key,
                expire,
                noreply,
            } => $self.op_touch(key, expire, noreply).map(Reply::Bool),
            Request::Stats { args } => $self.op_stats(args).map(Reply::Stats),
            Request::Version => $self.op_version().map(Reply::Text),
            Request::FlushAll { delay, noreply } => {
                $self.op_flush_all(delay, noreply).map(|()| Reply::Done)
            }
            Request::CacheMemlimit { megabytes } => {
                $self.op_cache_memlimit(megabytes).map(|()| Reply::Done)
            }
            Request::Raw { command, end_token } => {
                $self.op_raw_command(command, end_token).map(Reply::Bytes)
            }
            Request::Shutdown { graceful } => $self.op_shutdown(graceful).map(|()| Reply::Done),
            Request::Quit => $self.op_quit().map(|()| Reply::Done),
        }
    };
}
pub(crate) use call_ops;
