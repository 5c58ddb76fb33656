//! Key-to-server placement. `RendezvousHash` (the default) places keys
//! exactly where pymemcache's HashClient does; other schemes (ketama, for
//! libmemcached-compatible placement) plug in through `NodeHasher`.

mod rendezvous;

pub use rendezvous::RendezvousHash;

#[cfg(test)]
mod repr_tests {
    use super::python_bytes_repr;

    fn repr(key: &[u8]) -> String {
        let mut buf = vec![0u8; 4 * key.len() + 3];
        let n = python_bytes_repr(key, &mut buf);
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn as_python_writes_it() {
        // Each expectation is what CPython 3.11 prints for repr(bytes).
        assert_eq!(repr(b"key1"), "b'key1'");
        assert_eq!(repr(b""), "b''");
        assert_eq!(repr(b"it's"), "b\"it's\"");
        assert_eq!(repr(b"it's \"q\""), "b'it\\'s \"q\"'");
        assert_eq!(
            repr(b"a\\b\t\n\r\x00\x7f\x80\xff"),
            "b'a\\\\b\\t\\n\\r\\x00\\x7f\\x80\\xff'"
        );
        assert_eq!(repr("caf\u{e9}".as_bytes()), "b'caf\\xc3\\xa9'");
    }
}

/// How the Python services of a fleet pass their keys to pymemcache's
/// HashClient, which hashes `f"{node}-{key}"`: for a `str` key that is the
/// text, for a `bytes` key Python's repr of it (`b'user:1'`), so the two
/// forms place the same key on different nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyForm {
    /// Keys are `str` (the default): the key's text is hashed.
    #[default]
    Text,
    /// Keys are `bytes`: Python's `repr()` of the key is hashed.
    PythonBytes,
}

/// The longest key whose repr fits the stack buffer of `MAX_REPR_LEN`.
pub(crate) const MAX_REPR_KEY: usize = 256;
/// `b'` + four bytes per key byte at most (`\xNN`) + `'`.
pub(crate) const MAX_REPR_LEN: usize = 4 * MAX_REPR_KEY + 3;

/// Write Python's `repr()` of the bytes `key` (`b'...'`) into `out`, which
/// holds at least `4 * key.len() + 3` bytes; returns the length written.
/// As CPython: single quotes unless the key holds `'` and no `"`; `\`,
/// the quote, `\t`, `\n`, `\r` escaped by a backslash; every other byte
/// outside 0x20..=0x7e as `\xNN` (lower-case hex).
pub fn python_bytes_repr(key: &[u8], out: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let quote = if key.contains(&b'\'') && !key.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        out[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    put(&[b'b', quote]);
    for &c in key {
        match c {
            b'\\' => put(b"\\\\"),
            b'\t' => put(b"\\t"),
            b'\n' => put(b"\\n"),
            b'\r' => put(b"\\r"),
            _ if c == quote => put(&[b'\\', c]),
            0x20..=0x7e => put(&[c]),
            _ => put(&[
                b'\\',
                b'x',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ]),
        }
    }
    put(&[quote]);
    n
}

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
    /// The position of the node `key` belongs to among the nodes `skip`
    /// does not exclude: the key's next choice when its first is skipped.
    /// The default knows the first choice only (`None` when it is skipped).
    fn get_node_index_excluding(&self, key: &[u8], skip: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.get_node_index(key).filter(|&i| !skip(i))
    }
}

/// MurmurHash3 x86 32-bit of `data` as pymemcache computes it over a text:
/// one byte per character, the character's code point masked to its low 8
/// bits. ASCII text hashes as its bytes; invalid UTF-8 hashes as raw bytes.
pub fn murmur3_32_text(data: &[u8], seed: u32) -> u32 {
    let mut m = Murmur3::new(seed);
    m.update_text(data);
    m.finish()
}

/// MurmurHash3 x86 32-bit of raw bytes. The same function as the
/// `murmur3` crate's `murmur3_32` (a test checks them against each other),
/// over a slice in one pass: the crate reads through `io::Read` four bytes
/// at a time, which made it the hash client's largest cost.
pub fn murmur3_32(bytes: &[u8], seed: u32) -> u32 {
    let mut m = Murmur3::new(seed);
    m.update(bytes);
    m.finish()
}

/// murmur3's final avalanche.
fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn mix(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

/// One 4-byte block `k` into the running hash `h`.
#[inline]
fn round(h: u32, k: u32) -> u32 {
    (h ^ mix(k))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// A 4-byte block as murmur3 reads it (little-endian).
#[inline]
fn block_word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The last 0-3 bytes as the little-endian word murmur3 mixes last.
#[inline]
fn tail_word(rest: &[u8]) -> u32 {
    rest.iter()
        .enumerate()
        .fold(0, |t, (i, &b)| t | u32::from(b) << (8 * i))
}

/// MurmurHash3 x86 32-bit fed in pieces: a state can be copied after a
/// common prefix ("{node}-") and finished with each key.
#[derive(Debug, Clone, Copy)]
pub struct Murmur3 {
    h: u32,
    /// Bytes not yet forming a 4-byte block, lowest first.
    tail: u32,
    tail_len: u32,
    len: u32,
}

impl Murmur3 {
    /// A fresh state.
    pub fn new(seed: u32) -> Self {
        Murmur3 {
            h: seed,
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    fn block(&mut self, k: u32) {
        self.h = round(self.h, k);
    }

    /// Feed one byte.
    pub fn update_byte(&mut self, b: u8) {
        self.tail |= u32::from(b) << (8 * self.tail_len);
        self.tail_len += 1;
        self.len = self.len.wrapping_add(1);
        if self.tail_len == 4 {
            let k = self.tail;
            self.tail = 0;
            self.tail_len = 0;
            self.block(k);
        }
    }

    /// Feed bytes.
    #[inline]
    pub fn update(&mut self, mut bytes: &[u8]) {
        while self.tail_len != 0 && !bytes.is_empty() {
            self.update_byte(bytes[0]);
            bytes = &bytes[1..];
        }
        let mut blocks = bytes.chunks_exact(4);
        for b in &mut blocks {
            self.block(block_word(b));
        }
        // The tail was empty or `bytes` is used up: what remains (at most
        // three bytes) becomes the new tail.
        let rest = blocks.remainder();
        self.tail |= tail_word(rest);
        self.tail_len += rest.len() as u32;
        self.len = self.len.wrapping_add(bytes.len() as u32);
    }

    /// Feed text the way pymemcache does: one byte per character, its code
    /// point masked to 8 bits (ASCII text is its bytes; bytes that are not
    /// UTF-8 are fed as they are).
    pub fn update_text(&mut self, text: &[u8]) {
        if text.is_ascii() {
            return self.update(text);
        }
        match std::str::from_utf8(text) {
            Ok(t) => t
                .chars()
                .for_each(|c| self.update_byte((u32::from(c) & 0xff) as u8)),
            Err(_) => self.update(text),
        }
    }

    /// The hash of everything fed.
    #[inline]
    pub fn finish(self) -> u32 {
        let mut h = self.h;
        if self.tail_len != 0 {
            h ^= mix(self.tail);
        }
        fmix(h ^ self.len)
    }

    /// The hash of everything fed followed by `bytes`, leaving this state
    /// as it is (one per node in rendezvous hashing): `update` and
    /// `finish` on a copy, in registers when the state has no tail.
    #[inline]
    pub fn finish_with(&self, bytes: &[u8]) -> u32 {
        if self.tail_len != 0 {
            let mut m = *self;
            m.update(bytes);
            return m.finish();
        }
        let mut h = self.h;
        let mut blocks = bytes.chunks_exact(4);
        for b in &mut blocks {
            h = round(h, block_word(b));
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            h ^= mix(tail_word(rest));
        }
        fmix(h ^ self.len.wrapping_add(bytes.len() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_hash_like_the_whole() {
        let data: Vec<u8> = (0..=255u8).cycle().take(100).collect();
        for cut1 in 0..12 {
            for cut2 in cut1..20 {
                let mut m = Murmur3::new(7);
                m.update(&data[..cut1]);
                m.update(&data[cut1..cut2]);
                m.update(&data[cut2..]);
                assert_eq!(m.finish(), murmur3_32(&data, 7), "{cut1} {cut2}");
            }
        }
        for cut in 0..12 {
            for end in cut..data.len() {
                let mut m = Murmur3::new(7);
                m.update(&data[..cut]);
                let want = murmur3_32(&data[..end], 7);
                assert_eq!(m.finish_with(&data[cut..end]), want, "{cut} {end}");
            }
        }
    }

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
