//! Key rules, checked before anything is written to a socket, exactly as
//! pymemcache checks a `bytes` key: the prefix is prepended, the result is at
//! most 250 bytes and holds no ASCII whitespace (space, \t, \n, \r, \v, \f)
//! and no NUL. Every other byte (control bytes, non-ASCII, invalid UTF-8) is
//! sent as it is, since pymemcache sends it and memcached stores it. A key
//! given as text (`check_text`) is first held to pymemcache's `str` rule:
//! ASCII only unless unicode keys are allowed.

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
    /// Accept text keys (`check_text`) with non-ASCII characters; bytes keys
    /// are never checked for it, as in pymemcache.
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

    /// Check a meta command's key and append the key the server gets:
    /// `write_key` for a plain key; for a key given base64-encoded (flag
    /// `b`) with a prefix, the prefix and the decoded key base64-encoded
    /// as a whole, so the command touches the same item as a plain command
    /// for the decoded key (prepending the prefix to the base64 text would
    /// name another item, or no valid base64 at all).
    #[inline]
    pub fn write_meta_key(&self, key: &[u8], base64: bool, out: &mut Vec<u8>) -> Result<()> {
        if !base64 || self.prefix.is_empty() {
            return self.write_key(key, out);
        }
        self.write_prefixed_base64_key(key, out)
    }

    /// `write_meta_key` for a base64 key with a prefix (the rare case, kept
    /// out of line).
    #[cold]
    fn write_prefixed_base64_key(&self, key: &[u8], out: &mut Vec<u8>) -> Result<()> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut full = self.prefix.clone();
        engine.decode_vec(key, &mut full).map_err(|e| {
            Error::IllegalInput(format!(
                "key given base64-encoded (flag b) is not base64: {e}"
            ))
        })?;
        let encoded = engine.encode(&full);
        self.check_bytes(encoded.as_bytes(), encoded.len())?;
        out.extend_from_slice(encoded.as_bytes());
        Ok(())
    }

    /// Check every key of a list: nothing is sent if any is illegal.
    pub fn check_all(&self, keys: &[&[u8]]) -> Result<()> {
        keys.iter().try_for_each(|k| self.check(k))
    }

    /// Check a key (without prefix) against every rule. An empty key is
    /// refused unless there is a prefix (pymemcache then stores the prefix
    /// itself as the key; without one it would send a command memcached
    /// cannot parse).
    #[inline]
    pub fn check(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() && self.prefix.is_empty() {
            return Err(empty_key());
        }
        self.check_bytes(key, self.prefix.len() + key.len())
    }

    /// Check a key given as text, as pymemcache checks a `str` key: ASCII
    /// only unless unicode keys are allowed, then its UTF-8 bytes by the
    /// rules of `check`.
    pub fn check_text(&self, key: &str) -> Result<()> {
        if !self.allow_unicode && !key.is_ascii() {
            return Err(Error::IllegalInput(
                "key contains non-ASCII characters and allow_unicode_keys is off".into(),
            ));
        }
        self.check(key.as_bytes())
    }

    #[inline]
    fn check_bytes(&self, key: &[u8], total_len: usize) -> Result<()> {
        // The common case in one branch-free pass: printable ASCII only.
        if total_len <= MAX_KEY_LEN && crate::protocol::scan::all_printable(key) {
            return Ok(());
        }
        self.refuse_long_or_spaced(key, total_len)
    }

    /// The rest of `check_bytes`, out of the hot path: a key that is too
    /// long, or holds a byte that is not printable ASCII, which is refused
    /// only if it is ASCII whitespace or NUL (what splits or ends a command).
    #[cold]
    #[inline(never)]
    fn refuse_long_or_spaced(&self, key: &[u8], total_len: usize) -> Result<()> {
        if total_len > MAX_KEY_LEN {
            return Err(Error::IllegalInput(format!(
                "key is too long: {total_len} bytes with prefix, the limit is {MAX_KEY_LEN}"
            )));
        }
        if let Some(pos) = key.iter().position(|&b| is_space_or_nul(b)) {
            let what = if key[pos] == 0 {
                "a null byte"
            } else {
                "whitespace"
            };
            return Err(Error::IllegalInput(format!(
                "key contains {what} (0x{:02x}) at byte {pos}",
                key[pos]
            )));
        }
        Ok(())
    }
}

/// The bytes a key may not hold: Python's `bytes.split()` whitespace
/// (space, \t, \n, \v, \f, \r) and NUL.
fn is_space_or_nul(b: u8) -> bool {
    matches!(b, 0 | b' ' | b'\t'..=b'\r')
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
    fn base64_meta_keys_get_the_prefix_inside_the_encoding() {
        let pre = KeyRules::new(b"app:", false).unwrap();
        let mut out = Vec::new();
        // "k1" is "azE=", "app:k1" is "YXBwOmsx".
        pre.write_meta_key(b"azE=", true, &mut out).unwrap();
        assert_eq!(out, b"YXBwOmsx");
        out.clear();
        pre.write_meta_key(b"k1", false, &mut out).unwrap();
        assert_eq!(out, b"app:k1");
        out.clear();
        KeyRules::default()
            .write_meta_key(b"azE=", true, &mut out)
            .unwrap();
        assert_eq!(out, b"azE=");
        assert!(pre.write_meta_key(b"not base64!", true, &mut out).is_err());
    }

    #[test]
    fn ascii_whitespace_and_nul_are_refused() {
        let r = KeyRules::default();
        for bad in [
            &b"a b"[..],
            b"a\tb",
            b"a\rb",
            b"a\nb",
            b"a\x0bb",
            b"a\x0cb",
            b"a\0b",
            b"",
            b" ",
            b"k ",
            b"get x\r\nset",
        ] {
            assert!(!ok(&r, bad), "{bad:?} accepted");
        }
        assert!(ok(&r, b"user:42/profile-v1_x.y"));
    }

    #[test]
    fn every_other_byte_is_allowed_in_bytes_keys() {
        // pymemcache sends these and memcached stores them.
        for rules in [KeyRules::default(), KeyRules::new(b"", true).unwrap()] {
            for good in [
                &b"ctl\x01key"[..],
                b"\x1ckey",
                b"del\x7fkey",
                b"\x08\x0e\x1f",
                "caf\u{e9}".as_bytes(),
                b"\xff\xfe",
                b"caf\xe9",
                "a\u{a0}b".as_bytes(),
                "a\u{3000}b".as_bytes(),
                "a\u{85}b".as_bytes(),
            ] {
                assert!(ok(&rules, good), "{good:?} refused");
            }
        }
        for b in 0..=255u8 {
            let key = [b'k', b];
            assert_eq!(
                ok(&KeyRules::default(), &key),
                !is_space_or_nul(b),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn text_keys_need_unicode_opt_in() {
        let off = KeyRules::default();
        let on = KeyRules::new(b"", true).unwrap();
        assert!(off.check_text("cafe").is_ok());
        assert!(off.check_text("caf\u{e9}").is_err());
        assert!(on.check_text("caf\u{e9}").is_ok());
        // Checked as UTF-8 bytes: only ASCII whitespace splits a key.
        assert!(on.check_text("a\u{3000}b").is_ok());
        assert!(on.check_text("a b").is_err());
        assert!(on.check_text("").is_err());
    }

    #[test]
    fn an_empty_key_is_the_prefix_itself() {
        let pre = KeyRules::new(b"app:", false).unwrap();
        let mut out = Vec::new();
        pre.write_key(b"", &mut out).unwrap();
        assert_eq!(out, b"app:");
        assert!(!ok(&KeyRules::default(), b""));
    }

    #[test]
    fn bad_prefix_is_a_config_error() {
        assert!(matches!(
            KeyRules::new(b"a b", false),
            Err(Error::Config(_))
        ));
    }
}
