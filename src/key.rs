//! Key rules, checked before anything is written to a socket: the prefix is
//! prepended, the result is at most 250 bytes, and it holds no whitespace or
//! control byte. Non-ASCII bytes are accepted only as valid UTF-8 and only
//! when unicode keys are allowed, as pymemcache does.

use crate::error::{Error, Result};

/// The longest key memcached accepts, prefix included.
pub const MAX_KEY_LEN: usize = 250;

#[cold]
fn empty_key() -> Error {
    Error::IllegalInput("key is empty".into())
}

/// How keys are checked and prefixed for one client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRules {
    /// Bytes prepended to every key (checked by the same rules).
    pub prefix: Vec<u8>,
    /// Accept UTF-8 keys with non-ASCII characters.
    pub allow_unicode: bool,
}

impl KeyRules {
    /// Rules with a prefix; the prefix itself must obey the rules.
    pub fn new(prefix: &[u8], allow_unicode: bool) -> Result<Self> {
        let rules = KeyRules {
            prefix: Vec::new(),
            allow_unicode,
        };
        if !prefix.is_empty() {
            rules
                .check_bytes(prefix, prefix.len())
                .map_err(|e| Error::Config(format!("key_prefix: {e}")))?;
        }
        Ok(KeyRules {
            prefix: prefix.to_vec(),
            allow_unicode,
        })
    }

    /// Check `key` and append the prefixed key to `out`.
    #[inline(always)]
    pub fn write_key(&self, key: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.check(key)?;
        if !self.prefix.is_empty() {
            out.extend_from_slice(&self.prefix);
        }
        out.extend_from_slice(key);
        Ok(())
    }

    /// Check every key of a list: nothing is sent if any is illegal.
    pub fn check_all(&self, keys: &[&[u8]]) -> Result<()> {
        keys.iter().try_for_each(|k| self.check(k))
    }

    /// Check a key (without prefix) against every rule.
    #[inline]
    pub fn check(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(empty_key());
        }
        self.check_bytes(key, self.prefix.len() + key.len())
    }

    #[inline]
    fn check_bytes(&self, key: &[u8], total_len: usize) -> Result<()> {
        // The common case in one branch-free pass: printable ASCII only.
        if total_len <= MAX_KEY_LEN && crate::protocol::scan::all_printable(key) {
            return Ok(());
        }
        self.refuse_or_check_unicode(key, total_len)
    }

    /// The rest of `check_bytes`, out of the hot path: what is wrong with
    /// a key that is too long or not plain printable ASCII (unless it is
    /// UTF-8 that unicode keys allow).
    #[cold]
    #[inline(never)]
    fn refuse_or_check_unicode(&self, key: &[u8], total_len: usize) -> Result<()> {
        if total_len > MAX_KEY_LEN {
            return Err(Error::IllegalInput(format!(
                "key is too long: {total_len} bytes with prefix, the limit is {MAX_KEY_LEN}"
            )));
        }
        if let Some(pos) = key.iter().position(|&b| b <= b' ' || b == 0x7f) {
            let what = match key[pos] {
                b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => "whitespace",
                0 => "a null byte",
                _ => "a control byte",
            };
            return Err(Error::IllegalInput(format!(
                "key contains {what} (0x{:02x}) at byte {pos}",
                key[pos]
            )));
        }
        if !key.is_ascii() {
            if !self.allow_unicode {
                return Err(Error::IllegalInput(
                    "key contains non-ASCII bytes and allow_unicode_keys is off".into(),
                ));
            }
            let text = std::str::from_utf8(key)
                .map_err(|_| Error::IllegalInput("key is not valid UTF-8".into()))?;
            if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::IllegalInput(
                    "key contains unicode whitespace or a control character".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(rules: &KeyRules, key: &[u8]) -> bool {
        let mut out = Vec::new();
        rules.write_key(key, &mut out).is_ok()
    }

    #[test]
    fn length_limit_counts_the_prefix() {
        let plain = KeyRules::default();
        assert!(ok(&plain, &[b'a'; 250]));
        assert!(!ok(&plain, &[b'a'; 251]));
        let pre = KeyRules::new(b"app:", false).unwrap();
        assert!(ok(&pre, &[b'a'; 246]));
        assert!(!ok(&pre, &[b'a'; 247]));
        let mut out = Vec::new();
        pre.write_key(b"k", &mut out).unwrap();
        assert_eq!(out, b"app:k");
    }

    #[test]
    fn whitespace_and_control_bytes_are_refused() {
        let r = KeyRules::default();
        for bad in [
            &b"a b"[..],
            b"a\tb",
            b"a\rb",
            b"a\nb",
            b"a\0b",
            b"a\x01b",
            b"a\x7fb",
            b"",
            b"get x\r\nset",
        ] {
            assert!(!ok(&r, bad), "{bad:?} accepted");
        }
        assert!(ok(&r, b"user:42/profile-v1_x.y"));
    }

    #[test]
    fn unicode_needs_opt_in_and_valid_utf8() {
        let off = KeyRules::default();
        let on = KeyRules::new(b"", true).unwrap();
        let key = "caf\u{e9}".as_bytes();
        assert!(!ok(&off, key));
        assert!(ok(&on, key));
        assert!(!ok(&on, b"caf\xe9"));
        assert!(!ok(&on, "a\u{a0}b".as_bytes()));
        assert!(!ok(&on, "a\u{85}b".as_bytes()));
    }

    #[test]
    fn bad_prefix_is_a_config_error() {
        assert!(matches!(
            KeyRules::new(b"a b", false),
            Err(Error::Config(_))
        ));
    }
}
