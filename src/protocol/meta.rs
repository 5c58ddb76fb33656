//! The meta protocol (`mg`, `ms`, `md`, `ma`, `mn`; memcached 1.6.10 and
//! later): reply line parsing and the checks on caller-given flag tokens.
//! Request lines are written by the batch encoder (`client::batch`).

use super::reply::parse_u64;

/// A meta reply line split into its parts: `<RC> [<datalen>] <flags>*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaLine<'a> {
    /// The two-letter return code: `VA`, `HD`, `EN`, `NF`, `NS`, `EX`, `MN`.
    pub code: [u8; 2],
    /// The data length of a `VA` reply.
    pub len: Option<usize>,
    /// The return flags, space separated, as the server sent them.
    pub flags: &'a [u8],
}

/// Parse a meta reply line; `None` if it is not one (an error line, or
/// anything else).
pub fn parse_line(line: &[u8]) -> Option<MetaLine<'_>> {
    if line.len() < 2 || (line.len() > 2 && line[2] != b' ') {
        return None;
    }
    let code = [line[0], line[1]];
    let rest = if line.len() > 3 { &line[3..] } else { &[][..] };
    match &code {
        b"VA" => {
            let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let len = usize::try_from(parse_u64(&rest[..end])?).ok()?;
            let flags = rest.get(end + 1..).unwrap_or(&[]);
            Some(MetaLine {
                code,
                len: Some(len),
                flags,
            })
        }
        b"HD" | b"EN" | b"NF" | b"NS" | b"EX" | b"MN" => Some(MetaLine {
            code,
            len: None,
            flags: rest,
        }),
        _ => None,
    }
}

/// The return flags of a reply, one `(flag, token)` pair at a time.
pub fn flags(flags: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    flags
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .map(|t| (t[0], &t[1..]))
}

/// The token of `flag` in a reply's return flags.
pub fn flag(reply_flags: &[u8], flag: u8) -> Option<&[u8]> {
    flags(reply_flags).find(|(f, _)| *f == flag).map(|(_, t)| t)
}

/// The return flags without the opaque token (the batch's own).
pub fn without_opaque(reply_flags: &[u8]) -> impl Iterator<Item = &[u8]> {
    reply_flags
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty() && t[0] != b'O')
}

/// Check caller-given flag tokens of a generic meta command: printable
/// tokens separated by single spaces, without `O` (the batch matches
/// replies by its own opaque tokens) or `q` (the batch decides quiet mode).
pub fn check_tokens(tokens: &[u8]) -> std::result::Result<(), String> {
    for t in tokens.split(|&b| b == b' ') {
        if t.is_empty() {
            if tokens.is_empty() {
                return Ok(());
            }
            return Err("meta flags must be tokens separated by single spaces".into());
        }
        if !t.iter().all(|&b| b > b' ' && b < 0x7f) {
            return Err("meta flags must be printable ASCII".into());
        }
        if !t[0].is_ascii_alphabetic() {
            return Err(format!(
                "meta flag {:?} does not start with a letter",
                String::from_utf8_lossy(t)
            ));
        }
        if t[0] == b'O' || t[0] == b'q' {
            return Err(format!(
                "meta flag {} is set by the batch itself (opaque tokens and quiet mode)",
                t[0] as char
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reply_lines() {
        let l = parse_line(b"VA 3 f5 c9 O12").unwrap();
        assert_eq!(
            (&l.code, l.len, l.flags),
            (b"VA", Some(3), &b"f5 c9 O12"[..])
        );
        assert_eq!(flag(l.flags, b'O'), Some(&b"12"[..]));
        assert_eq!(flag(l.flags, b'c'), Some(&b"9"[..]));
        assert_eq!(flag(l.flags, b't'), None);
        let l = parse_line(b"HD").unwrap();
        assert_eq!((&l.code, l.len, l.flags), (b"HD", None, &b""[..]));
        assert_eq!(parse_line(b"VA 0").unwrap().len, Some(0));
        assert_eq!(parse_line(b"MN").unwrap().code, *b"MN");
        for bad in [
            &b"VALUE k 0 1"[..],
            b"VA x",
            b"VA",
            b"ERROR",
            b"CLIENT_ERROR bad",
            b"H",
            b"HDX",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
        let kept: Vec<&[u8]> = without_opaque(b"W O1 X").collect();
        assert_eq!(kept, [&b"W"[..], b"X"]);
    }

    #[test]
    fn checks_tokens() {
        assert!(check_tokens(b"").is_ok());
        assert!(check_tokens(b"v f t N30").is_ok());
        assert!(check_tokens(b"v  f").is_err());
        assert!(check_tokens(b"v O1").is_err());
        assert!(check_tokens(b"q").is_err());
        assert!(check_tokens(b"v\r\n").is_err());
        assert!(check_tokens(b"1").is_err());
    }
}
