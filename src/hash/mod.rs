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

/// MurmurHash3 x86 32-bit of raw bytes. The same function as the
/// `murmur3` crate's `murmur3_32` (a test checks them against each other),
/// over a slice in one pass: the crate reads through `io::Read` four bytes
/// at a time, which made it the hash client's largest cost.
pub fn murmur3_32(bytes: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let mut blocks = bytes.chunks_exact(4);
    for b in &mut blocks {
        h ^= mix(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        h ^= mix(k);
    }
    h ^= bytes.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_the_murmur3_crate() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut data = Vec::new();
        for len in 0..300 {
            data.clear();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.push((x >> 32) as u8);
            }
            for seed in [0, 1, 0xdead_beef] {
                let want = murmur3::murmur3_32(&mut &data[..], seed).unwrap();
                assert_eq!(murmur3_32(&data, seed), want, "len {len} seed {seed}");
            }
        }
    }
}
