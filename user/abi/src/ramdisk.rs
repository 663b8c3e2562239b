//! The ramdisk that carries user programs to the kernel: written by the runner (`boot`), read
//! by the kernel at boot. The first program is the init task.
//!
//! ```text
//! magic "MVMRD\0\0\1" (8 bytes), count: u32
//! count × { name_len: u32, name: name_len bytes (UTF-8), size: u64,
//!             zero padding to a multiple of 16 bytes from the start, data: size bytes }
//! ```
//!
//! Integers are little-endian. Data is aligned (the ramdisk itself is page-aligned in
//! memory), so ELF images can be parsed in place.

/// The first eight bytes of a ramdisk.
pub const MAGIC: [u8; 8] = *b"MVMRD\0\0\x01";

/// One program in a ramdisk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its ELF image.
    pub image: &'a [u8],
}

/// Why a ramdisk could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamdiskError {
    /// The magic number is wrong.
    BadMagic,
    /// A length points past the end.
    Truncated,
    /// A name is not UTF-8.
    BadName,
}

/// Alignment of program data from the start of the ramdisk.
const DATA_ALIGN: usize = 16;

struct Reader<'a> {
    rest: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], RamdiskError> {
        let n = usize::try_from(n).map_err(|_| RamdiskError::Truncated)?;
        if n > self.rest.len() {
            return Err(RamdiskError::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        self.at += n;
        Ok(head)
    }

    fn align(&mut self) -> Result<(), RamdiskError> {
        self.take((self.at.next_multiple_of(DATA_ALIGN) - self.at) as u64).map(|_| ())
    }

    fn u32(&mut self) -> Result<u32, RamdiskError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, RamdiskError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
}

/// Calls `f` for each program of `bytes`, in order, after checking the whole ramdisk.
///
/// # Errors
///
/// [`RamdiskError`] if the ramdisk is malformed; `f` is then never called.
pub fn for_each<'a>(bytes: &'a [u8], mut f: impl FnMut(Program<'a>)) -> Result<(), RamdiskError> {
    let count = check(bytes)?;
    let mut r = Reader { rest: &bytes[MAGIC.len() + 4..], at: MAGIC.len() + 4 };
    for _ in 0..count {
        f(next(&mut r)?);
    }
    Ok(())
}

/// Checks the ramdisk and returns its program count.
fn check(bytes: &[u8]) -> Result<u32, RamdiskError> {
    let mut r = Reader { rest: bytes, at: 0 };
    if r.take(MAGIC.len() as u64)? != MAGIC {
        return Err(RamdiskError::BadMagic);
    }
    let count = r.u32()?;
    for _ in 0..count {
        next(&mut r)?;
    }
    Ok(count)
}

fn next<'a>(r: &mut Reader<'a>) -> Result<Program<'a>, RamdiskError> {
    let name_len = r.u32()?;
    let name = core::str::from_utf8(r.take(u64::from(name_len))?).map_err(|_| RamdiskError::BadName)?;
    let size = r.u64()?;
    r.align()?;
    Ok(Program { name, image: r.take(size)? })
}

/// Calls `out` with the bytes of a ramdisk holding `programs`, in order.
pub fn write(programs: &[Program<'_>], mut out: impl FnMut(&[u8])) {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out(bytes);
        at += bytes.len();
        at
    };
    put(&MAGIC);
    put(&(programs.len() as u32).to_le_bytes());
    for p in programs {
        put(&(p.name.len() as u32).to_le_bytes());
        put(p.name.as_bytes());
        let end = put(&(p.image.len() as u64).to_le_bytes());
        put(&[0; DATA_ALIGN][..end.next_multiple_of(DATA_ALIGN) - end]);
        put(p.image);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn disk(programs: &[Program<'_>]) -> Vec<u8> {
        let mut bytes = Vec::new();
        write(programs, |b| bytes.extend_from_slice(b));
        bytes
    }

    #[test]
    fn programs_round_trip_in_order() {
        let programs = [Program { name: "init", image: b"\x7fELF1" }, Program { name: "two", image: b"" }];
        let bytes = disk(&programs);
        let mut seen = Vec::new();
        for_each(&bytes, |p| seen.push(p)).unwrap();
        assert_eq!(seen, programs);
        for p in &seen {
            assert_eq!((p.image.as_ptr() as usize - bytes.as_ptr() as usize) % DATA_ALIGN, 0, "aligned data");
        }
    }

    #[test]
    fn malformed_ramdisks_are_refused_whole() {
        let good = disk(&[Program { name: "a", image: b"xyz" }, Program { name: "b", image: b"q" }]);
        let mut calls = 0;
        assert_eq!(for_each(&good[..good.len() - 1], |_| calls += 1), Err(RamdiskError::Truncated));
        assert_eq!(calls, 0, "nothing is reported from a truncated ramdisk");
        assert_eq!(for_each(b"NOTMAGIC\0\0\0\0", |_| ()), Err(RamdiskError::BadMagic));
        let mut bad_name = disk(&[Program { name: "a", image: b"" }]);
        bad_name[16] = 0xff;
        assert_eq!(for_each(&bad_name, |_| ()), Err(RamdiskError::BadName));
        let mut huge = disk(&[Program { name: "a", image: b"" }]);
        let at = huge.len() - 8;
        huge[at..].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(for_each(&huge, |_| ()), Err(RamdiskError::Truncated));
    }
}
