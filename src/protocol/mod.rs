//! The memcached ASCII text protocol: request encoding and reply parsing.
//! Pure functions over byte buffers; the socket lives in `conn`.

pub mod meta;
pub mod reply;
pub mod request;
pub mod scan;
