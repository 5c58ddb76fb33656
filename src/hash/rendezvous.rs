//! Rendezvous (highest random weight) hashing, as pymemcache's
//! `RendezvousHash`: each node scores murmur3_32("{node}-{key}"), the
//! highest wins, and a tie goes to the lexicographically larger name.

use super::{murmur3_32_text, NodeHasher};

/// pymemcache's default HashClient hasher.
#[derive(Debug, Clone, Default)]
pub struct RendezvousHash {
    nodes: Vec<String>,
    seed: u32,
}

impl RendezvousHash {
    /// A hasher over `nodes` with pymemcache's seed (0).
    pub fn new<S: AsRef<str>>(nodes: &[S]) -> Self {
        RendezvousHash {
            nodes: nodes.iter().map(|n| n.as_ref().to_string()).collect(),
            seed: 0,
        }
    }

    /// murmur3_32 of "{node}-{key}", joined in a per-thread buffer that is
    /// reused, so hashing allocates and zeroes nothing.
    fn score(&self, node: &str, key: &[u8]) -> u32 {
        thread_local! {
            static JOINED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        JOINED.with(|j| {
            let mut buf = j.borrow_mut();
            buf.clear();
            buf.extend_from_slice(node.as_bytes());
            buf.push(b'-');
            buf.extend_from_slice(key);
            murmur3_32_text(&buf, self.seed)
        })
    }
}

impl NodeHasher for RendezvousHash {
    fn add_node(&mut self, name: &str) {
        self.nodes.push(name.to_string());
    }

    fn remove_node(&mut self, name: &str) {
        self.nodes.retain(|n| n != name);
    }

    fn get_node_index(&self, key: &[u8]) -> Option<usize> {
        let mut best: Option<(u32, usize)> = None;
        for (i, node) in self.nodes.iter().enumerate() {
            let score = self.score(node, key);
            best = match best {
                None => Some((score, i)),
                Some((s, _)) if score > s => Some((score, i)),
                Some((s, w)) if score == s && node.as_str() > self.nodes[w].as_str() => {
                    Some((score, i))
                }
                keep => keep,
            };
        }
        best.map(|(_, i)| i)
    }

    fn nodes(&self) -> &[String] {
        &self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::murmur3_32;

    #[test]
    fn ascii_and_masked_unicode() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32_text(b"foo", 0), 4138058784);
        // U+0161 masks to 0x61 ('a'): the same hash as the ASCII text.
        assert_eq!(
            murmur3_32_text("\u{161}b".as_bytes(), 0),
            murmur3_32(b"ab", 0)
        );
    }

    #[test]
    fn tie_goes_to_the_larger_name() {
        let h = RendezvousHash::new(&["a", "a"]);
        assert_eq!(h.get_node(b"k"), Some("a"));
        assert_eq!(RendezvousHash::default().get_node(b"k"), None);
    }
}
