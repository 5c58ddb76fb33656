//! Byte scans eight bytes at a time (SWAR): finding a byte in a reply,
//! checking that a key is printable ASCII. The hot loops of parsing.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

fn word(chunk: &[u8]) -> u64 {
    u64::from_le_bytes(chunk.try_into().expect("an 8-byte chunk"))
}

/// True where some byte of `x` is zero (exact for the lowest such byte).
fn has_zero(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The position of the first `needle` in `hay`.
pub fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let hit = has_zero(word(c) ^ pattern);
        if hit != 0 {
            return Some(base + (hit.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| base + i)
}

/// Nonzero when some byte of `x` is not printable: below 0x21 (low), or
/// 0x7f and above (adding 1 carries it into the high bit, which a byte of
/// 0x80 and above has already).
fn unprintable(x: u64) -> u64 {
    let low = x.wrapping_sub(ONES * 0x21) & !x & HIGHS;
    let high = (x.wrapping_add(ONES) | x) & HIGHS;
    low | high
}

/// True when every byte is printable ASCII: above space, below DEL.
#[inline]
pub fn all_printable(bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().all(|&b| b > b' ' && b < 0x7f);
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut bad = 0;
    for c in &mut chunks {
        bad |= unprintable(word(c));
    }
    // The tail as the last eight bytes, overlapping words already seen.
    bad |= unprintable(word(&bytes[bytes.len() - 8..]));
    bad == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_agrees_with_position() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        for needle in 0..=255u8 {
            for start in 0..20 {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(h, needle),
                    h.iter().position(|&b| b == needle),
                    "{needle} from {start}"
                );
            }
        }
        assert_eq!(find_byte(b"", b'\n'), None);
        assert_eq!(find_byte(b"VALUE k 0 1\r\n", b'\n'), Some(12));
    }

    #[test]
    fn printable_agrees_with_bytewise() {
        for b in 0..=255u8 {
            for pos in 0..17 {
                let mut key = vec![b'a'; 17];
                key[pos] = b;
                let want = key.iter().all(|&x| x > b' ' && x < 0x7f);
                assert_eq!(all_printable(&key), want, "byte {b:#x} at {pos}");
            }
        }
        assert!(all_printable(b""));
    }
}
