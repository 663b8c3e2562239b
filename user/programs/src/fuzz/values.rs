//! Hostile values: addresses, sizes, protections, inheritances, flags and the like, mixed
//! with ordinary ones so that calls get past their first checks often enough.

use super::layout::*;
use super::rng::Rng;

/// Addresses at the edges of the map and beyond it.
const EDGE_ADDRESSES: [u64; 20] = [
    0,
    1,
    0xfff,
    0x1000,
    0x1001,
    0x1ff8,
    USER_MAX - PAGE,
    USER_MAX - 8,
    USER_MAX - 1,
    USER_MAX,
    USER_MAX + PAGE,
    0x7fff_ffff_ffff,
    0x8000_0000_0000,
    0x0000_8000_0000_1000,
    0xdead_beef_0000_0000,
    0xffff_8000_0000_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_ffff_f000,
    u64::MAX - 7,
    u64::MAX,
];

/// Sizes at the edges of the arithmetic.
const EDGE_SIZES: [u64; 16] = [
    0,
    1,
    7,
    0xfff,
    0x1000,
    0x1001,
    0x10000,
    1 << 32,
    1 << 47,
    1 << 63,
    u64::MAX,
    u64::MAX - 0xfff,
    u64::MAX - 0x1000,
    USER_MAX,
    USER_MAX - PAGE,
    0x7fff_ffff_ffff,
];

/// An address in the arena: a page, often with an offset into it.
pub fn arena(rng: &mut Rng) -> u64 {
    let page = ARENA + rng.below(ARENA_PAGES) * PAGE;
    if rng.chance(70) { page } else { page + rng.below(PAGE) }
}

/// Any address: mostly the arena, else an edge, a fixture, the image or a random value.
pub fn address(rng: &mut Rng, recent: u64, text: Range) -> u64 {
    match rng.below(20) {
        0..=9 => arena(rng),
        10..=11 => rng.pick(&EDGE_ADDRESSES),
        12 => recent,
        13 => recent.wrapping_add(rng.below(4 * PAGE)),
        14 => FIXTURES + rng.below(FIXTURE_PAGES * PAGE),
        15 => text.start + rng.below(text.end - text.start),
        16 => USER_MIN + rng.below(USER_MAX - USER_MIN),
        17 => (rng.next() & 0x7fff_ffff_f000) | rng.pick(&[0, 1, 0xfff]),
        18 => ARENA + ARENA_PAGES * PAGE - rng.below(PAGE),
        _ => rng.next(),
    }
}

/// A size for a range starting at `address`: mostly small, else an edge, a size that ends
/// exactly at (or just past) the top of the map, or one that wraps.
pub fn size(rng: &mut Rng, address: u64) -> u64 {
    let pages = 1 + rng.below(16);
    match rng.below(20) {
        0..=7 => pages * PAGE,
        8..=9 => (pages * PAGE).wrapping_add(rng.pick(&[1, u64::MAX, 8, 0xff8])),
        10 => rng.below(PAGE),
        11 => (1 + rng.below(256)) * PAGE,
        12..=13 => rng.pick(&EDGE_SIZES),
        14 => USER_MAX.wrapping_sub(address),
        15 => USER_MAX.wrapping_sub(address).wrapping_add(1),
        16 => 0u64.wrapping_sub(address),
        17 => 0u64.wrapping_sub(address).wrapping_sub(1),
        18 => (ARENA + ARENA_PAGES * PAGE).wrapping_sub(address),
        _ => rng.next() >> rng.below(64),
    }
}

/// A size for calls that make memory resident (wiring, `map_now`, copies): small when it can
/// succeed, so that the fuzzer stays fast and leaves memory to the others.
pub fn resident_size(rng: &mut Rng, address: u64) -> u64 {
    let size = size(rng, address);
    if size > 64 * PAGE && size < 1 << 40 { size % (64 * PAGE) } else { size }
}

/// A protection value: mostly valid, else stray bits.
pub fn prot(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=6 => rng.below(8),
        7 => rng.pick(&[8, 0x10, 0xff, 0x8000_0000, 0xffff_ffff, u64::MAX, 1 << 32 | 3]),
        8 => 0x2_0000 | rng.below(8),
        _ => rng.next(),
    }
}

/// An inheritance value.
pub fn inheritance(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0..=5 => rng.below(3),
        6 => rng.pick(&[3, 4, 0xffff_ffff, u64::MAX, 1 << 32]),
        _ => rng.next(),
    }
}

/// A behaviour value.
pub fn behavior(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0..=5 => rng.below(8),
        6 => rng.pick(&[u64::MAX, 0xffff_ffff, 1 << 32 | 1, 100]),
        _ => rng.next(),
    }
}

/// Placement flags (`VM_FLAGS_FIXED` 0, `VM_FLAGS_ANYWHERE` 1).
pub fn flags(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=3 => 0,
        4..=7 => 1,
        8 => rng.pick(&[2, 3, 0x100, 1 << 32, 1 << 32 | 1, u64::MAX]),
        _ => rng.next(),
    }
}

/// A Mach boolean: 0, 1, or any other value (which means true).
pub fn boolean(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=4 => 0,
        5..=8 => 1,
        _ => rng.pick(&[2, 0xffff_ffff, u64::MAX, 1 << 32]),
    }
}

/// An alignment mask for `vm_map`/`vm_remap`.
pub fn mask(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=5 => 0,
        6 => PAGE - 1,
        7 => (1 << (12 + rng.below(30))) - 1,
        8 => rng.pick(&[u64::MAX, 0x7fff_ffff_ffff, 1, 0x1000]),
        _ => rng.next(),
    }
}

/// Garbage for the registers a call does not use.
pub fn garbage(rng: &mut Rng) -> u64 {
    if rng.chance(50) { 0 } else { rng.next() }
}
