//! `newc` cpio archives (the initramfs format), uncompressed: written here so that no root
//! rights (for `/dev/console`) and no cpio tool are needed.

use std::io;

/// What an archive entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A directory (mode 0755).
    Directory,
    /// A character device node (mode 0600).
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// An executable file (mode 0755) with these bytes.
    Executable(&'a [u8]),
}

/// One entry: a path (without a leading `/`) and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The path.
    pub name: &'a str,
    /// What it is.
    pub kind: Kind<'a>,
}

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";

/// The archive of `entries`, then the trailer.
///
/// # Errors
///
/// `InvalidInput` if a file or a name is too large for the format's 32-bit fields.
pub fn archive(entries: &[Entry<'_>]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (ino, entry) in (1u32..).zip(entries) {
        let (mode, nlink, rdev, data): (u32, u32, (u32, u32), &[u8]) = match entry.kind {
            Kind::Directory => (0o040_755, 2, (0, 0), &[]),
            Kind::CharDevice { major, minor } => (0o020_600, 1, (major, minor), &[]),
            Kind::Executable(bytes) => (0o100_755, 1, (0, 0), bytes),
        };
        push(&mut out, &Header { ino, mode, nlink, rdev }, entry.name, data)?;
    }
    push(&mut out, &Header { ino: 0, mode: 0, nlink: 1, rdev: (0, 0) }, TRAILER, &[])?;
    Ok(out)
}

/// An initramfs whose `/init` is `init`, with `/dev/console` for its output and the mount
/// points `/proc` and `/sys`.
///
/// # Errors
///
/// As [`archive`].
pub fn initramfs(init: &[u8]) -> io::Result<Vec<u8>> {
    archive(&[
        Entry { name: "dev", kind: Kind::Directory },
        Entry { name: "dev/console", kind: Kind::CharDevice { major: 5, minor: 1 } },
        Entry { name: "proc", kind: Kind::Directory },
        Entry { name: "sys", kind: Kind::Directory },
        Entry { name: "init", kind: Kind::Executable(init) },
    ])
}

struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
}

fn push(out: &mut Vec<u8>, h: &Header, name: &str, data: &[u8]) -> io::Result<()> {
    let too_large = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{what} too large for cpio: {name}"));
    let size = u32::try_from(data.len()).map_err(|_| too_large("file"))?;
    let name_size = u32::try_from(name.len() + 1).map_err(|_| too_large("name"))?;
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    let fields = [h.ino, h.mode, 0, 0, h.nlink, 0, size, 0, 0, h.rdev.0, h.rdev.1, name_size, 0];
    out.extend_from_slice(MAGIC.as_bytes());
    for value in fields {
        out.extend_from_slice(format!("{value:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(data);
    pad(out);
    Ok(())
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads an archive back: (name, mode, rdev major, rdev minor, data) per entry.
    fn read(mut bytes: &[u8]) -> Vec<(String, u32, u32, u32, Vec<u8>)> {
        let total = bytes.len();
        let mut entries = Vec::new();
        loop {
            assert_eq!((total - bytes.len()) % 4, 0, "entries start 4-aligned");
            assert_eq!(&bytes[..6], MAGIC.as_bytes());
            let field = |i: usize| u32::from_str_radix(std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap();
            let (mode, size, major, minor, name_size) = (field(1), field(6) as usize, field(9), field(10), field(11) as usize);
            let name = std::str::from_utf8(&bytes[110..110 + name_size - 1]).unwrap().to_string();
            assert_eq!(bytes[110 + name_size - 1], 0);
            let data_at = (110 + name_size).next_multiple_of(4);
            let data = bytes[data_at..data_at + size].to_vec();
            bytes = &bytes[(data_at + size).next_multiple_of(4)..];
            if name == TRAILER {
                assert!(bytes.is_empty(), "the trailer ends the archive");
                return entries;
            }
            entries.push((name, mode, major, minor, data));
        }
    }

    #[test]
    fn an_initramfs_reads_back() {
        let entries = read(&initramfs(b"\x7fELF12345").unwrap());
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["dev", "dev/console", "proc", "sys", "init"]);
        assert_eq!(entries[1].1, 0o020_600);
        assert_eq!((entries[1].2, entries[1].3), (5, 1));
        assert_eq!(entries[0].1, 0o040_755);
        assert_eq!((entries[4].1, entries[4].4.as_slice()), (0o100_755, &b"\x7fELF12345"[..]));
    }

    #[test]
    fn every_length_pads_to_four() {
        for len in 0..9 {
            let data = vec![0xab; len];
            let name = "x".repeat(len + 1);
            let entries = read(&archive(&[Entry { name: &name, kind: Kind::Executable(&data) }]).unwrap());
            assert_eq!((entries[0].0.as_str(), entries[0].4.len()), (name.as_str(), len));
        }
    }
}
