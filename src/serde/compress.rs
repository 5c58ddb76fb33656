//! zlib compression as pymemcache's CompressedSerde does it (zlib format,
//! default level), with decompression bounded so that a hostile stream
//! cannot allocate more than the caller allows.

use crate::error::{Error, Result};
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// zlib-compress `data` at the default level (Python's `zlib.compress`).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        Compression::default(),
    );
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Decompress a zlib stream of at most `max` output bytes.
pub fn decompress(data: &[u8], max: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity((data.len() * 4).min(max));
    let mut dec = ZlibDecoder::new(data).take(max as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| Error::Corrupt(format!("zlib stream: {e}")))?;
    if out.len() > max {
        return Err(Error::Corrupt(format!(
            "zlib stream expands beyond {max} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let data = b"abc".repeat(1000);
        let z = compress(&data);
        assert!(z.len() < 100);
        assert_eq!(&z[..2], b"\x78\x9c", "zlib header, default level");
        assert_eq!(decompress(&z, 3000).unwrap(), data);
        assert!(matches!(decompress(&z, 2999), Err(Error::Corrupt(_))));
        assert!(matches!(
            decompress(b"not zlib", 100),
            Err(Error::Corrupt(_))
        ));
        let mut cut = z.clone();
        cut.truncate(z.len() / 2);
        assert!(matches!(decompress(&cut, 3000), Err(Error::Corrupt(_))));
    }
}
