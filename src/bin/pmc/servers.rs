//! Server lists in libmemcached's syntax (`--servers`, `MEMCACHED_SERVERS`):
//! comma-separated entries, each `host`, `host:port`, `host:port:weight`,
//! `[v6addr]`, `[v6addr]:port[:weight]`, or a UNIX socket path (starting
//! with `/` or `.`). The port defaults to 11211, as in libmemcached.

/// memcached's and libmemcached's default port.
pub const DEFAULT_PORT: u16 = 11211;

/// The parsed list: addresses as the library takes them ("host:port",
/// "[v6]:port" or a path), in order, and what was ignored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ServerList {
    /// The addresses, each once.
    pub servers: Vec<String>,
    /// Notes for stderr (weights are parsed but not used).
    pub warnings: Vec<String>,
}

impl ServerList {
    /// Add every entry of `list` (one `--servers` value or the variable).
    pub fn add_list(&mut self, list: &str) -> Result<(), String> {
        for entry in list.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(format!("server list {list:?} has an empty entry"));
            }
            let (server, weight) = parse_entry(entry)?;
            if weight.is_some() {
                self.warnings.push(format!(
                    "server {entry}: the weight is ignored (pymemcache's placement has no weights)"
                ));
            }
            if self.servers.contains(&server) {
                return Err(format!("server {server} is listed twice"));
            }
            self.servers.push(server);
        }
        Ok(())
    }
}

/// One entry: the address for the library, and the weight if one was given.
fn parse_entry(entry: &str) -> Result<(String, Option<u32>), String> {
    let bad = |why: &str| format!("server {entry:?}: {why}");
    if entry.starts_with('/') || entry.starts_with('.') {
        return Ok((entry.to_string(), None));
    }
    if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace"));
    }
    // host and the ":port[:weight]" rest
    let (host, rest, bracketed) = if let Some(inner) = entry.strip_prefix('[') {
        let (host, rest) = inner
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
        if !rest.is_empty() && !rest.starts_with(':') {
            return Err(bad("expected ':port' after ']'"));
        }
        (host, rest.strip_prefix(':').unwrap_or(""), true)
    } else {
        match entry.split_once(':') {
            Some((host, rest)) => (host, rest, false),
            None => (entry, "", false),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let mut parts = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(':').collect::<Vec<_>>()
    };
    if parts.len() > 2 {
        return Err(bad(
            "too many ':' (write IPv6 addresses in brackets: [::1]:11211)",
        ));
    }
    let weight = match parts.len() {
        2 => Some(
            parts
                .pop()
                .and_then(|w| w.parse::<u32>().ok())
                .ok_or_else(|| bad("bad weight"))?,
        ),
        _ => None,
    };
    let port = match parts.pop() {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("bad port"))?,
    };
    let server = if bracketed {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok((server, weight))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lists: &[&str]) -> Result<ServerList, String> {
        let mut l = ServerList::default();
        for s in lists {
            l.add_list(s)?;
        }
        Ok(l)
    }

    #[test]
    fn libmemcached_forms() {
        let l = parse(&["a:1,b:2", " c , /run/mc.sock", "[::1]:3,[fe80::1]", "d:4:7"]).unwrap();
        assert_eq!(
            l.servers,
            [
                "a:1",
                "b:2",
                "c:11211",
                "/run/mc.sock",
                "[::1]:3",
                "[fe80::1]:11211",
                "d:4"
            ]
        );
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].contains("d:4:7"));
        assert_eq!(parse(&["./mc.sock"]).unwrap().servers, ["./mc.sock"]);
    }

    #[test]
    fn refuses_bad_entries() {
        for bad in [
            "", "a:1,", ",a:1", "a:0", "a:65536", "a:x", "a:1:x", "a:1:2:3", "::1", "[::1",
            "[::1]x", ":11211", "a b:1",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad:?} accepted");
        }
        let dup = parse(&["a:1", "b:2,a:1"]).unwrap_err();
        assert!(dup.contains("a:1 is listed twice"), "{dup}");
        assert!(parse(&["a", "a:11211"]).is_err());
    }
}
