//! Key-to-server placement. `RendezvousHash` (the default) places keys
//! exactly where pymemcache's HashClient does; other schemes (ketama, for
//! libmemcached-compatible placement) plug in through `NodeHasher`.

mod rendezvous;

pub use rendezvous::RendezvousHash;

/// Chooses the node a key lives on, among the nodes added to it.
pub trait NodeHasher: Send + Sync {
    /// Add a node by name (its order of addition is kept).
    fn add_node(&mut self, name: &str);
    /// Remove a node by name; unknown names are ignored.
    fn remove_node(&mut self, name: &str);
    /// The position in `nodes()` of the node `key` (the caller's key,
    /// without prefix) belongs to, or `None` when there are no nodes.
    fn get_node_index(&self, key: &[u8]) -> Option<usize>;
    /// The node `key` belongs to, or `None` when there are no nodes.
    fn get_node(&self, key: &[u8]) -> Option<&str> {
        self.get_node_index(key).map(|i| self.nodes()[i].as_str())
    }
    /// The nodes, in the order they were added.
    fn nodes(&self) -> &[String];
}

/// MurmurHash3 x86 32-bit of `data` as pymemcache computes it over a text:
/// one byte per character, the character's code point masked to its low 8
/// bits. ASCII text hashes as its bytes; invalid UTF-8 hashes as raw bytes.
pub fn murmur3_32_text(data: &[u8], seed: u32) -> u32 {
    if data.is_ascii() {
        return murmur3_32(data, seed);
    }
    match std::str::from_utf8(data) {
        Ok(text) => {
            let masked: Vec<u8> = text.chars().map(|c| (u32::from(c) & 0xff) as u8).collect();
            murmur3_32(&masked, seed)
        }
        Err(_) => murmur3_32(data, seed),
    }
}

/// MurmurHash3 x86 32-bit of raw bytes (the `murmur3` crate).
pub fn murmur3_32(bytes: &[u8], seed: u32) -> u32 {
    let mut reader = bytes;
    murmur3::murmur3_32(&mut reader, seed).expect("reading from a slice cannot fail")
}
