//! pymemcache-rs: a memcached client with pymemcache's API and semantics,
//! in Rust, shipped as a C-ABI library (`include/pymemcache.h`).
//!
//! ```no_run
//! use pymemcache::{Client, ClientOptions, Memcache};
//! let client = Client::new("127.0.0.1:11211", &ClientOptions::default())?;
//! client.set(b"greeting", b"hello", 0, 0, Some(false))?;
//! let item = client.get(b"greeting")?.expect("just stored");
//! assert_eq!(item.value, b"hello");
//! # Ok::<(), pymemcache::Error>(())
//! ```
#![deny(missing_docs)]

pub mod addr;
pub mod client;
pub mod conn;
pub mod error;
pub mod ffi;
pub mod hash;
pub mod key;
pub mod metrics;
pub mod nonblocking;
pub mod pool;
pub mod protocol;
pub mod serde;
mod ticks;
pub mod tls;

pub use addr::ServerAddr;
pub use client::{
    Batch, CasOutcome, Client, ClientOptions, FailureTracking, FallbackClient, FetchCmd,
    HashClient, HashOptions, Item, Lease, Memcache, MetaCmd, MockClient, NodeHealth, NodeState,
    OpKind, OpResult, OpStatus, PooledClient, Reply, Request, RetryOptions, RetryingClient,
    ServerStats, Stat, StatValue, StateCallback, StateCause, StateEvent, StoreCmd,
};
pub use error::{Error, ErrorKind, Result};
pub use hash::KeyForm;
pub use metrics::{CallStart, MetricsSnapshot, ServerMetrics, ServerSnapshot};
pub use nonblocking::{AsyncClient, Completion, Outcome, Watch};
pub use pool::{PoolOptions, PoolStats};
