//! Rendezvous (highest random weight) hashing, as pymemcache's
//! `RendezvousHash`: each node scores murmur3_32("{node}-{key}"), the
//! highest wins, and a tie goes to the lexicographically larger name.

use super::{murmur3_32_text, python_bytes_repr, KeyForm, Murmur3, NodeHasher, MAX_REPR_LEN};

/// pymemcache's default HashClient hasher.
#[derive(Debug, Clone, Default)]
pub struct RendezvousHash {
    nodes: Vec<String>,
    /// Each node's hash state after "{node}-", so a key's score costs only
    /// the key's bytes.
    prefixes: Vec<Murmur3>,
    seed: u32,
    key_form: KeyForm,
}

impl RendezvousHash {
    /// A hasher over `nodes` with pymemcache's seed (0), for text keys.
    pub fn new<S: AsRef<str>>(nodes: &[S]) -> Self {
        let mut h = RendezvousHash::default();
        for n in nodes {
            h.add_node(n.as_ref());
        }
        h
    }

    /// A hasher without nodes that places keys as pymemcache does when the
    /// Python callers pass them in `form`.
    pub fn with_key_form(form: KeyForm) -> Self {
        RendezvousHash {
            key_form: form,
            ..RendezvousHash::default()
        }
    }

    /// The node index for the hash input `key` (text as Python formats it).
    fn place(&self, key: &[u8]) -> Option<usize> {
        let kind = key_kind(key);
        if let KeyKind::Ascii = kind {
            // The common case, one tight loop: every node's "{node}-" state
            // finished with the key's bytes.
            let mut best = (0, 0);
            for (i, prefix) in self.prefixes.iter().enumerate() {
                let score = prefix.finish_with(key);
                let (s, w) = best;
                if i == 0 || score > s || (score == s && self.nodes[i] > self.nodes[w]) {
                    best = (score, i);
                }
            }
            return (!self.prefixes.is_empty()).then_some(best.1);
        }
        let mut best: Option<(u32, usize)> = None;
        for (i, node) in self.nodes.iter().enumerate() {
            let score = self.score(i, key, kind);
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

    fn prefix(&self, node: &str) -> Murmur3 {
        let mut m = Murmur3::new(self.seed);
        m.update_text(node.as_bytes());
        m.update_byte(b'-');
        m
    }

    /// murmur3_32 of "{node}-{key}" for node `i`, as pymemcache hashes the
    /// text (see `murmur3_32_text`); `key_kind` is `key_kind(key)`.
    fn score(&self, i: usize, key: &[u8], key_kind: KeyKind) -> u32 {
        let mut m = self.prefixes[i];
        match key_kind {
            KeyKind::Ascii => return m.finish_with(key),
            KeyKind::Text => m.update_text(key),
            KeyKind::Bytes if self.nodes[i].is_ascii() => m.update(key),
            KeyKind::Bytes => {
                // Not text as a whole: hashed as raw bytes, node name included.
                let joined = [self.nodes[i].as_bytes(), b"-", key].concat();
                return murmur3_32_text(&joined, self.seed);
            }
        }
        m.finish()
    }
}

/// How a key is hashed: as its bytes, or as text with masked characters.
#[derive(Clone, Copy)]
enum KeyKind {
    Ascii,
    Text,
    Bytes,
}

fn key_kind(key: &[u8]) -> KeyKind {
    if key.is_ascii() {
        KeyKind::Ascii
    } else if std::str::from_utf8(key).is_ok() {
        KeyKind::Text
    } else {
        KeyKind::Bytes
    }
}

impl NodeHasher for RendezvousHash {
    fn add_node(&mut self, name: &str) {
        self.prefixes.push(self.prefix(name));
        self.nodes.push(name.to_string());
    }

    fn remove_node(&mut self, name: &str) {
        while let Some(i) = self.nodes.iter().position(|n| n == name) {
            self.nodes.remove(i);
            self.prefixes.remove(i);
        }
    }

    fn get_node_index(&self, key: &[u8]) -> Option<usize> {
        if self.nodes.len() == 1 {
            return Some(0); // the only node wins whatever the scores
        }
        match self.key_form {
            KeyForm::Text => self.place(key),
            KeyForm::PythonBytes if key.len() <= super::MAX_REPR_KEY => {
                let mut buf = [0u8; MAX_REPR_LEN];
                let n = python_bytes_repr(key, &mut buf);
                self.place(&buf[..n])
            }
            KeyForm::PythonBytes => {
                let mut buf = vec![0u8; 4 * key.len() + 3];
                let n = python_bytes_repr(key, &mut buf);
                self.place(&buf[..n])
            }
        }
    }

    fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The highest-scoring node not skipped: the key's place were the
    /// skipped nodes removed, so no other key moves.
    fn get_node_index_excluding(&self, key: &[u8], skip: &dyn Fn(usize) -> bool) -> Option<usize> {
        let repr;
        let input: &[u8] = match self.key_form {
            KeyForm::Text => key,
            KeyForm::PythonBytes => {
                let mut buf = vec![0u8; 4 * key.len() + 3];
                let n = python_bytes_repr(key, &mut buf);
                buf.truncate(n);
                repr = buf;
                &repr
            }
        };
        let kind = key_kind(input);
        let mut best: Option<(u32, usize)> = None;
        for i in (0..self.nodes.len()).filter(|&i| !skip(i)) {
            let score = self.score(i, input, kind);
            best = match best {
                None => Some((score, i)),
                Some((s, w)) if score > s || (score == s && self.nodes[i] > self.nodes[w]) => {
                    Some((score, i))
                }
                keep => keep,
            };
        }
        best.map(|(_, i)| i)
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
    fn bytes_form_hashes_the_repr() {
        let nodes = ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"];
        let text = RendezvousHash::new(&nodes);
        let mut bytes = RendezvousHash::with_key_form(KeyForm::PythonBytes);
        for n in nodes {
            bytes.add_node(n);
        }
        for key in [&b"key1"[..], b"it's", b"\xff\x00\\", &[b'x'; 300]] {
            let mut buf = vec![0u8; 4 * key.len() + 3];
            let n = python_bytes_repr(key, &mut buf);
            assert_eq!(bytes.get_node(key), text.get_node(&buf[..n]));
        }
    }

    #[test]
    fn tie_goes_to_the_larger_name() {
        let h = RendezvousHash::new(&["a", "a"]);
        assert_eq!(h.get_node(b"k"), Some("a"));
        assert_eq!(RendezvousHash::default().get_node(b"k"), None);
    }

    #[test]
    fn excluding_a_node_places_keys_as_if_it_were_removed() {
        let names = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
        for form in [KeyForm::Text, KeyForm::PythonBytes] {
            let mut all = RendezvousHash::with_key_form(form);
            let mut rest = RendezvousHash::with_key_form(form);
            for n in names {
                all.add_node(n);
                if n != names[1] {
                    rest.add_node(n);
                }
            }
            for i in 0..500 {
                let key = format!("key:{i}:\u{e9}");
                let k = key.as_bytes();
                let none = all.get_node_index_excluding(k, &|_| false);
                assert_eq!(none, all.get_node_index(k));
                let skip1 = all.get_node_index_excluding(k, &|j| j == 1).unwrap();
                assert_eq!(Some(all.nodes()[skip1].as_str()), rest.get_node(k));
            }
            assert_eq!(all.get_node_index_excluding(b"k", &|_| true), None);
        }
    }
}
