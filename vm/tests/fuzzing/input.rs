//! Decoding a fuzz input into operations (with the `arbitrary` crate). Values are drawn from
//! the shapes that matter: addresses near the map's edges and the page-table boundaries,
//! unaligned addresses, sizes near 2^64 and the map's size, alignment masks of every width,
//! every protection bit pattern; a few raw 64-bit values on top.

use crate::common::{MAX, MIN};
use arbitrary::{Arbitrary, Result, Unstructured};
use machvm::{Behavior, Inherit, NewMemory, Prot, PAGE_SIZE};

const PAGE: u64 = PAGE_SIZE;

/// Bases of the addresses the operations use: the map's bottom, page-table boundaries
/// (2 MiB, 1 GiB, 512 GiB), the map's top, and places outside the map (0, the first address
/// past it, the top of the 64-bit space).
const BASES: [u64; 8] = [MIN, 0x20_0000 - 8 * PAGE, 0x4000_0000 - 4 * PAGE, 0x80_0000_0000 - 4 * PAGE, MAX - 32 * PAGE, 0, MAX, 0xffff_ffff_ffff_0000];

/// Byte sizes no map can hold (or that wrap).
const HUGE_SIZES: [u64; 12] = [
    u64::MAX,
    u64::MAX - 0xffe,
    u64::MAX - PAGE + 1,
    u64::MAX - 2 * PAGE + 1,
    1 << 63,
    MAX - MIN,
    MAX - MIN + 1,
    MAX - MIN + PAGE,
    MAX,
    MAX + 1,
    1 << 47,
    0u64.wrapping_sub(MAX),
];

/// Page counts no map can hold (or whose byte size wraps).
const HUGE_COUNTS: [u64; 10] = [
    u64::MAX,
    u64::MAX / PAGE,
    u64::MAX / PAGE + 1,
    1 << 52,
    (MAX - MIN) / PAGE,
    (MAX - MIN) / PAGE + 1,
    1 << 35,
    1 << 40,
    u32::MAX as u64,
    (u64::MAX - MIN) / PAGE + 1,
];

/// Most pages a small count gives.
pub const SMALL: u64 = 40;

/// An address.
#[derive(Clone, Copy, Debug)]
pub enum Addr {
    /// `BASES[base] + (page - 8) pages + offset`.
    Near { base: u8, page: u8, offset: u16 },
    Raw(u64),
}

impl<'a> Arbitrary<'a> for Addr {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tag: u8 = u.arbitrary()?;
        if tag >= 248 {
            return Ok(Self::Raw(u.arbitrary()?));
        }
        // Mostly page-aligned: an offset only when the tag says so.
        let offset = if tag & 1 == 1 { u.arbitrary::<u16>()? % PAGE as u16 } else { 0 };
        Ok(Self::Near { base: tag >> 1, page: u.arbitrary()?, offset })
    }
}

impl Addr {
    pub fn resolve(self) -> u64 {
        match self {
            Self::Near { base, page, offset } => {
                let pages = i64::from(page % 48) - 8;
                BASES[usize::from(base) % BASES.len()].wrapping_add_signed(pages * PAGE as i64).wrapping_add(u64::from(offset))
            }
            Self::Raw(addr) => addr,
        }
    }
}

/// A size in bytes.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    Pages(u8),
    Bytes(u16),
    Huge(u8),
    Raw(u64),
}

impl<'a> Arbitrary<'a> for Size {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            tag @ 0..=159 => Self::Pages(tag),
            160..=219 => Self::Bytes(u.arbitrary()?),
            tag @ 220..=247 => Self::Huge(tag),
            _ => Self::Raw(u.arbitrary()?),
        })
    }
}

impl Size {
    pub fn resolve(self) -> u64 {
        match self {
            Self::Pages(n) => u64::from(n) % SMALL * PAGE,
            Self::Bytes(n) => u64::from(n),
            Self::Huge(n) => HUGE_SIZES[usize::from(n) % HUGE_SIZES.len()],
            Self::Raw(n) => n,
        }
    }

    /// The size, for operations that need a buffer of it (at most `limit` bytes).
    pub fn resolve_within(self, limit: u64) -> u64 {
        self.resolve() % (limit + 1)
    }
}

/// A number of pages.
#[derive(Clone, Copy, Debug)]
pub enum Count {
    Small(u8),
    Huge(u8),
    Raw(u64),
}

impl<'a> Arbitrary<'a> for Count {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            tag @ 0..=215 => Self::Small(tag),
            tag @ 216..=251 => Self::Huge(tag),
            _ => Self::Raw(u.arbitrary()?),
        })
    }
}

impl Count {
    pub fn resolve(self) -> u64 {
        match self {
            Self::Small(n) => u64::from(n) % SMALL,
            Self::Huge(n) => HUGE_COUNTS[usize::from(n) % HUGE_COUNTS.len()],
            Self::Raw(n) => n,
        }
    }
}

/// Where new memory goes.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    /// Anywhere, aligned by `2^bits` (a mask of the form `2^k - 1`; `bits` 64: all ones).
    Aligned { bits: u8 },
    /// Anywhere, with a mask of any shape.
    RawMask(u64),
    Fixed(Addr),
}

impl<'a> Arbitrary<'a> for Place {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=95 => Self::Aligned { bits: 0 },
            96..=127 => Self::Aligned { bits: u.arbitrary::<u8>()? % 65 },
            128..=135 => Self::RawMask(u.arbitrary()?),
            _ => Self::Fixed(u.arbitrary()?),
        })
    }
}

impl Place {
    /// The mask of an `Aligned` placement.
    pub fn mask(bits: u8) -> u64 {
        if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        }
    }
}

/// A range of pages for the range operations.
#[derive(Clone, Copy, Debug)]
pub enum Range {
    /// `count` pages from the page holding `start` (the end clipped to the last page of the
    /// 64-bit space), passed to the VM directly.
    Pages { start: Addr, count: Count },
    /// A caller's `(address, size)`, through `machvm::api::sanitize` as a system call would.
    Bytes { addr: Addr, size: Size },
}

impl<'a> Arbitrary<'a> for Range {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=199 => Self::Pages { start: u.arbitrary()?, count: u.arbitrary()? },
            _ => Self::Bytes { addr: u.arbitrary()?, size: u.arbitrary()? },
        })
    }
}

/// Attributes of new memory.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub struct Memory {
    pub prot: u8,
    /// Mostly `ALL`: only values with the top bit set choose the maximum.
    pub max: u8,
    pub inherit: u8,
}

impl Memory {
    pub fn resolve(self) -> NewMemory {
        let max_protection = if self.max & 0x80 == 0 { Prot::ALL } else { prot(self.max) };
        NewMemory { protection: prot(self.prot), max_protection, inheritance: inherit(self.inherit) }
    }
}

/// Any of the eight protections.
pub fn prot(bits: u8) -> Prot {
    Prot::from_bits_truncate(u32::from(bits & 7))
}

pub fn inherit(value: u8) -> Inherit {
    Inherit::from_raw(u32::from(value % 3)).expect("0, 1 or 2")
}

pub fn behavior(value: u8) -> Behavior {
    [Behavior::Default, Behavior::Random, Behavior::Sequential, Behavior::WillNeed, Behavior::DontNeed][usize::from(value % 5)]
}

/// One step of a sequence. Maps, named entries and copies are chosen by index among the live
/// ones (a named entry or copy index of 255 names a handle that was never valid).
#[derive(Clone, Debug, Arbitrary)]
pub enum Op {
    Allocate { map: u8, place: Place, pages: Count, memory: Memory },
    Deallocate { map: u8, range: Range },
    Protect { map: u8, range: Range, maximum: bool, prot: u8 },
    Inherit { map: u8, range: Range, inherit: u8 },
    Behavior { map: u8, range: Range, behavior: u8 },
    Wire { map: u8, range: Range, access: u8 },
    Unwire { map: u8, range: Range },
    Populate { map: u8, range: Range },
    Write { map: u8, at: Addr, byte: u8 },
    Read { map: u8, at: Addr },
    Execute { map: u8, at: Addr },
    WriteBytes { map: u8, at: Addr, len: Size, seed: u8 },
    ReadBytes { map: u8, at: Addr, len: Size, peek: bool },
    Region { map: u8, at: Addr },
    Fork { map: u8 },
    Exit { map: u8 },
    Copyin { map: u8, at: Addr, len: Size, destroy: bool },
    Copyout { map: u8, copy: u8, place: Place },
    CopyOverwrite { map: u8, at: Addr, copy: u8 },
    CopyDiscard { copy: u8 },
    NewNamed { pages: u8, prot: u8 },
    NewFrozen { pages: u8, at: u16, len: u16, seed: u8, prot: u8 },
    MakeNamed { map: u8, range: Range, prot: u8 },
    SubNamed { named: u8, offset: Count, pages: Count, prot: u8 },
    ReleaseNamed { named: u8 },
    MapNamed { map: u8, place: Place, pages: Count, named: u8, offset: Count, copy: bool, memory: Memory },
    Remap { target: u8, place: Place, source: u8, range: Range, copy: bool, inherit: u8 },
}

/// Most operations in one sequence.
pub const MAX_OPS: usize = 64;

/// A decoded input: how contents are compared after each step, and the operations.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// Whether each comparison also reads every readable page through a user load (faulting
    /// pages in); otherwise contents are read through the objects without faulting.
    pub faulted: bool,
    pub ops: Vec<Op>,
}

/// Decodes `data` (never fails: a short input gives a short sequence).
pub fn decode(data: &[u8]) -> Sequence {
    let mut u = Unstructured::new(data);
    let faulted = u.arbitrary::<u8>().map(|b| b & 1 == 1).unwrap_or(false);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    Sequence { faulted, ops }
}

/// The bytes `WriteBytes` and `NewFrozen` write: a pattern from `seed`.
pub fn pattern(len: u64, seed: u8) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add((i as u8).wrapping_mul(31)) | 1).collect()
}
