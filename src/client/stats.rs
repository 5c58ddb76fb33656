//! Typing of `stats` values, as pymemcache types them: known names get their
//! own conversion, every other value becomes an integer when it is one, and
//! stays text otherwise.

/// A typed stat value.
#[derive(Debug, Clone, PartialEq)]
pub enum StatValue {
    /// A whole number.
    Int(i128),
    /// A real number (rusage_*, growth_factor).
    Float(f64),
    /// A flag (cas_enabled, hash_is_expanding, ...).
    Bool(bool),
    /// Anything else, as sent.
    Text(String),
}

/// One `STAT` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// The stat's name.
    pub name: String,
    /// The value exactly as the server sent it.
    pub raw: String,
    /// The value typed as pymemcache types it.
    pub value: StatValue,
}

impl Stat {
    /// Build a stat from a name and the server's text.
    pub fn new(name: &[u8], raw: &[u8]) -> Stat {
        let name = String::from_utf8_lossy(name).into_owned();
        let raw = String::from_utf8_lossy(raw).into_owned();
        let value = type_value(&name, &raw).unwrap_or_else(|| StatValue::Text(raw.clone()));
        Stat { name, raw, value }
    }
}

fn type_value(name: &str, raw: &str) -> Option<StatValue> {
    let int = |s: &str| s.trim().parse::<i128>().ok();
    Some(match name {
        "version" | "inter" | "stat_key_prefix" => StatValue::Text(raw.to_string()),
        "rusage_user" | "rusage_system" => {
            StatValue::Float(raw.replace(':', ".").trim().parse().ok()?)
        }
        "growth_factor" => StatValue::Float(raw.trim().parse().ok()?),
        "umask" => StatValue::Int(i128::from_str_radix(raw.trim(), 8).ok()?),
        "hash_is_expanding"
        | "slab_reassign_running"
        | "detail_enabled"
        | "cas_enabled"
        | "maxconns_fast"
        | "slab_reassign"
        | "slab_automove" => StatValue::Bool(int(raw)? != 0),
        "auth_enabled_sasl" => StatValue::Bool(raw.trim() == "yes"),
        _ => StatValue::Int(int(raw)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_like_pymemcache() {
        let v = |n: &str, r: &str| Stat::new(n.as_bytes(), r.as_bytes()).value;
        assert_eq!(v("pid", "123"), StatValue::Int(123));
        assert_eq!(v("rusage_user", "0:500000"), StatValue::Float(0.5));
        assert_eq!(v("rusage_system", "1.25"), StatValue::Float(1.25));
        assert_eq!(v("version", "1.6.18"), StatValue::Text("1.6.18".into()));
        assert_eq!(v("cas_enabled", "1"), StatValue::Bool(true));
        assert_eq!(v("slab_automove", "0"), StatValue::Bool(false));
        assert_eq!(v("auth_enabled_sasl", "no"), StatValue::Bool(false));
        assert_eq!(v("umask", "700"), StatValue::Int(0o700));
        assert_eq!(v("growth_factor", "1.25"), StatValue::Float(1.25));
        assert_eq!(v("evictions", "on"), StatValue::Text("on".into()));
        assert_eq!(
            v("total_items", "18446744073709551615"),
            StatValue::Int(u64::MAX.into())
        );
        assert_eq!(v("cas_enabled", "x"), StatValue::Text("x".into()));
    }
}
