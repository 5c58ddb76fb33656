//! The C surface (`include/pymemcache.h`): opaque handles, status codes,
//! caller-freed buffers. The only `unsafe` code of the crate lives here.
//! Every exported function runs inside the panic boundary and checks every
//! pointer it is given.

pub mod async_client;
pub mod batch;
pub mod boundary;
pub mod client;
pub mod health;
pub mod metrics;
pub mod options;
pub mod serde;
pub mod status;
pub mod value;
pub mod version;
