//! Turning a caller's `(address, size)` into a range the VM can trust, by the spec's range
//! rules, computed once.
//!
//! | situation | result |
//! |---|---|
//! | size 0 | [`Sanitized::Empty`] (the call decides: success, or an error for `vm_map`) |
//! | `address + size` overflows, or the end rounded up to a page wraps | [`RangeError::Overflow`] |
//! | rounded range not inside the map | [`RangeError::OutsideMap`] |
//! | address not page-aligned | truncated; the end is rounded up |

use crate::{Page, PageRange, PAGE_SIZE};

/// Lowest user address: page 0 is never mappable.
pub const USER_MIN: u64 = 0x1000;
/// First address past the user map.
pub const USER_MAX: u64 = 0x0000_7fff_ffff_f000;

/// A non-empty, page-aligned range inside a map; only [`sanitize`] makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRange(PageRange);

impl MapRange {
    /// First page.
    pub fn start(self) -> Page {
        self.0.start()
    }

    /// First page past the range.
    pub fn end(self) -> Page {
        self.0.end()
    }

    /// Number of pages (at least one).
    pub fn len_pages(self) -> u64 {
        self.0.len_pages()
    }

    /// The pages.
    pub fn pages(self) -> PageRange {
        self.0
    }
}

/// A sanitized range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sanitized {
    /// The size was 0.
    Empty,
    /// Every page the caller's bytes touch.
    Range(MapRange),
}

/// Why a range was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// `address + size`, or its rounding up to a page, passes 2^64.
    Overflow,
    /// The rounded range is not inside `[min, max)`.
    OutsideMap,
}

impl core::fmt::Display for RangeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Overflow => "the range passes the end of the address space",
            Self::OutsideMap => "the range is not inside the map",
        })
    }
}

impl core::error::Error for RangeError {}

/// Sanitizes `(address, size)` for a map over `[min, max)` (page-aligned bounds).
///
/// ```
/// use machvm::api::{sanitize, RangeError, Sanitized, USER_MAX, USER_MIN};
/// // Unaligned: the start is truncated and the end rounded up, to two pages.
/// let Ok(Sanitized::Range(range)) = sanitize(0x1_0ff0, 0x20, USER_MIN, USER_MAX) else { panic!() };
/// assert_eq!((range.start().addr(), range.end().addr()), (0x1_0000, 0x1_2000));
/// assert_eq!(sanitize(u64::MAX - 4, 8, USER_MIN, USER_MAX), Err(RangeError::Overflow));
/// assert_eq!(sanitize(0, 1, USER_MIN, USER_MAX), Err(RangeError::OutsideMap));
/// assert_eq!(sanitize(0x1_0000, 0, USER_MIN, USER_MAX), Ok(Sanitized::Empty));
/// ```
pub fn sanitize(address: u64, size: u64, min: u64, max: u64) -> Result<Sanitized, RangeError> {
    if size == 0 {
        return Ok(Sanitized::Empty);
    }
    let end = address.checked_add(size).ok_or(RangeError::Overflow)?;
    let end = end.checked_next_multiple_of(PAGE_SIZE).ok_or(RangeError::Overflow)?;
    let start = address - address % PAGE_SIZE;
    if start < min || end > max {
        return Err(RangeError::OutsideMap);
    }
    let range = PageRange::new(Page::containing(start), Page::containing(end)).ok_or(RangeError::Overflow)?;
    Ok(Sanitized::Range(MapRange(range)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(address: u64, size: u64) -> Result<(u64, u64), RangeError> {
        match sanitize(address, size, USER_MIN, USER_MAX)? {
            Sanitized::Range(r) => Ok((r.start().addr(), r.end().addr())),
            Sanitized::Empty => panic!("empty"),
        }
    }

    #[test]
    fn size_zero_is_empty_even_out_of_the_map() {
        assert_eq!(sanitize(u64::MAX, 0, USER_MIN, USER_MAX), Ok(Sanitized::Empty));
    }

    #[test]
    fn unaligned_ranges_cover_every_page_they_touch() {
        assert_eq!(range(0x1001, 1), Ok((0x1000, 0x2000)));
        assert_eq!(range(0x1fff, 2), Ok((0x1000, 0x3000)));
        assert_eq!(range(0x2000, 0x1001), Ok((0x2000, 0x4000)));
    }

    #[test]
    fn overflow_in_any_step_is_refused() {
        // address + size wraps.
        assert_eq!(range(0x2000, u64::MAX), Err(RangeError::Overflow));
        // address + size fits, rounding the end up wraps to 0 ("Smith").
        assert_eq!(range(0xffff_ffff_ffff_f001, 0xffe), Err(RangeError::Overflow));
        assert_eq!(range(u64::MAX - 1, 1), Err(RangeError::Overflow));
    }

    #[test]
    fn ranges_outside_the_map_are_refused() {
        assert_eq!(range(0, 0x1000), Err(RangeError::OutsideMap));
        assert_eq!(range(0xfff, 2), Err(RangeError::OutsideMap));
        assert_eq!(range(USER_MAX - 0x1000, 0x1001), Err(RangeError::OutsideMap));
        assert_eq!(range(USER_MAX - 0x1000, 0x1000), Ok((USER_MAX - 0x1000, USER_MAX)));
    }
}
