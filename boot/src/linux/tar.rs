//! Taking one file out of a tar stream (ustar or GNU, as `dpkg-deb --fsys-tarfile` writes),
//! without a tar tool. Checksums are not verified: the stream comes from dpkg-deb, which has
//! checked the package.

use std::io::{self, Read};

const BLOCK: usize = 512;

/// The name and bytes of the first regular file whose name `wanted` accepts, or `None` when
/// the archive ends without one.
///
/// # Errors
///
/// If reading fails, or the stream ends inside an entry or holds a malformed size.
pub fn find_file(mut input: impl Read, wanted: impl Fn(&str) -> bool) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut header = [0u8; BLOCK];
    while read_header(&mut input, &mut header)? {
        let name = entry_name(&header);
        let size = entry_size(&header).ok_or_else(|| invalid(format!("bad size field for `{name}`")))?;
        let regular = matches!(header[156], b'0' | 0);
        if regular && wanted(&name) {
            let mut data = Vec::new();
            (&mut input).take(size).read_to_end(&mut data)?;
            if data.len() as u64 != size {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("`{name}` is cut short")));
            }
            return Ok(Some((name, data)));
        }
        let padded = size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64);
        if io::copy(&mut (&mut input).take(padded), &mut io::sink())? != padded {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("`{name}` is cut short")));
        }
    }
    Ok(None)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads the next header; false at the end of the archive (end of stream or a zero block).
fn read_header(input: &mut impl Read, header: &mut [u8; BLOCK]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < BLOCK {
        match input.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a tar header is cut short")),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(header.iter().any(|&b| b != 0))
}

/// The text of a NUL-padded field.
fn field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn entry_name(header: &[u8; BLOCK]) -> String {
    let name = field(&header[0..100]);
    let prefix = if &header[257..262] == b"ustar" { field(&header[345..500]) } else { String::new() };
    if prefix.is_empty() { name } else { format!("{prefix}/{name}") }
}

/// The size field: octal digits, or GNU's base-256 (high bit of the first byte set).
fn entry_size(header: &[u8; BLOCK]) -> Option<u64> {
    let bytes = &header[124..136];
    if bytes[0] & 0x80 != 0 {
        let value = bytes[1..].iter().try_fold(u64::from(bytes[0] & 0x7f), |v, &b| v.checked_mul(256)?.checked_add(u64::from(b)));
        return value;
    }
    let text = field(bytes);
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: u64, kind: u8) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    fn archive(entries: &[(&str, &[u8], u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data, kind) in entries {
            out.extend_from_slice(&header(name, data.len() as u64, *kind));
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out.extend_from_slice(&[0; 2 * BLOCK]);
        out
    }

    #[test]
    fn the_wanted_file_is_found_past_others() {
        let tar = archive(&[("./boot/", b"", b'5'), ("./boot/config-1", &[7; 700], b'0'), ("./boot/vmlinuz-1", b"kernel", b'0')]);
        let found = find_file(&tar[..], |n| n.ends_with("vmlinuz-1")).unwrap();
        assert_eq!(found, Some(("./boot/vmlinuz-1".to_string(), b"kernel".to_vec())));
        assert_eq!(find_file(&tar[..], |n| n == "nothing").unwrap(), None);
        assert_eq!(find_file(&tar[..], |n| n == "./boot/").unwrap(), None, "directories are not files");
    }

    #[test]
    fn prefixes_and_base256_sizes_are_read() {
        let mut h = header("vmlinuz-1", 0, b'0');
        h[345..349].copy_from_slice(b"boot");
        assert_eq!(entry_name(&h), "boot/vmlinuz-1");
        h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(entry_size(&h), Some(258));
        h[124..136].copy_from_slice(&[0xff; 12]);
        assert_eq!(entry_size(&h), None, "too large");
    }

    #[test]
    fn bad_streams_are_errors_not_panics() {
        let tar = archive(&[("./boot/vmlinuz-1", b"kernel", b'0')]);
        assert!(find_file(&tar[..515], |_| true).is_err(), "cut inside the data");
        assert!(find_file(&tar[..100], |_| true).is_err(), "cut inside a header");
        assert_eq!(find_file(&[][..], |_| true).unwrap(), None);
        let mut bad = tar.clone();
        bad[124..136].copy_from_slice(b"12x45678901\0");
        assert!(find_file(&bad[..], |_| true).is_err(), "not octal");
        let mut huge = archive(&[("a", b"", b'0')]);
        huge[124..136].copy_from_slice(&[0xff; 12]);
        assert!(find_file(&huge[..], |_| false).is_err());
    }
}
