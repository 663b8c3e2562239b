//! Page-granular address types. A value of these types is aligned by construction.

use core::fmt;
use core::ops::Range;

/// Bytes in a page (and in a physical frame).
pub const PAGE_SIZE: u64 = 4096;
const PAGE_MASK: u64 = PAGE_SIZE - 1;

/// A page-aligned virtual address: the first byte of a virtual page.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Page(u64);

impl Page {
    /// The page that holds `addr`.
    pub const fn containing(addr: u64) -> Self {
        Self(addr & !PAGE_MASK)
    }

    /// `addr` as a page, if it is page-aligned.
    pub const fn from_aligned(addr: u64) -> Option<Self> {
        if addr & PAGE_MASK == 0 {
            Some(Self(addr))
        } else {
            None
        }
    }

    /// The address of the page's first byte.
    pub const fn addr(self) -> u64 {
        self.0
    }

    /// The page `count` pages above this one, if that does not wrap.
    pub fn checked_add(self, count: u64) -> Option<Self> {
        count.checked_mul(PAGE_SIZE).and_then(|n| self.0.checked_add(n)).map(Self)
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Page({:#x})", self.0)
    }
}

/// A physical frame: the page-aligned physical address of 4 KiB of memory.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frame(u64);

impl Frame {
    /// The frame that holds physical address `addr`.
    pub const fn containing(addr: u64) -> Self {
        Self(addr & !PAGE_MASK)
    }

    /// `addr` as a frame, if it is page-aligned.
    pub const fn from_aligned(addr: u64) -> Option<Self> {
        if addr & PAGE_MASK == 0 {
            Some(Self(addr))
        } else {
            None
        }
    }

    /// Physical address of the frame's first byte.
    pub const fn addr(self) -> u64 {
        self.0
    }

    /// The frame number (`addr / PAGE_SIZE`).
    pub const fn number(self) -> u64 {
        self.0 / PAGE_SIZE
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({:#x})", self.0)
    }
}

/// A non-wrapping range of whole pages `[start, end)`; it may be empty.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRange {
    start: Page,
    end: Page,
}

impl PageRange {
    /// The pages from `start` up to, not including, `end`; `None` if `end < start`.
    pub fn new(start: Page, end: Page) -> Option<Self> {
        (start <= end).then_some(Self { start, end })
    }

    /// `count` pages from `start`; `None` if the end would wrap past 2^64.
    pub fn from_start(start: Page, count: u64) -> Option<Self> {
        start.checked_add(count).map(|end| Self { start, end })
    }

    /// The one page `page`, if the page is not the last of the address space.
    pub fn single(page: Page) -> Option<Self> {
        Self::from_start(page, 1)
    }

    /// First page.
    pub fn start(self) -> Page {
        self.start
    }

    /// First page past the range.
    pub fn end(self) -> Page {
        self.end
    }

    /// Number of pages.
    pub fn len_pages(self) -> u64 {
        (self.end.0 - self.start.0) / PAGE_SIZE
    }

    /// Whether the range holds no page.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// Whether `page` lies in the range.
    pub fn contains(self, page: Page) -> bool {
        self.start <= page && page < self.end
    }

    /// The range as byte addresses.
    pub fn bytes(self) -> Range<u64> {
        self.start.0..self.end.0
    }

    /// The pages of the range, lowest first.
    pub fn pages(self) -> impl DoubleEndedIterator<Item = Page> + ExactSizeIterator {
        (0..self.len_pages() as usize).map(move |i| Page(self.start.0 + i as u64 * PAGE_SIZE))
    }
}

impl fmt::Debug for PageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start.0, self.end.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_frames_are_aligned() {
        assert_eq!(Page::containing(0x1fff).addr(), 0x1000);
        assert_eq!(Page::from_aligned(0x1001), None);
        assert_eq!(Frame::containing(0x2345).number(), 2);
        assert_eq!(Frame::from_aligned(0x3000).map(Frame::addr), Some(0x3000));
    }

    #[test]
    fn ranges_never_wrap() {
        let last = Page::containing(u64::MAX);
        assert!(PageRange::single(last).is_none());
        assert!(Page(0).checked_add(u64::MAX / PAGE_SIZE + 1).is_none());
        assert!(PageRange::new(Page(0x2000), Page(0x1000)).is_none());
        let range = PageRange::from_start(Page(0x1000), 3).unwrap();
        assert_eq!(range.len_pages(), 3);
        assert_eq!(range.pages().map(Page::addr).collect::<Vec<_>>(), [0x1000, 0x2000, 0x3000]);
        assert!(range.contains(Page(0x3000)) && !range.contains(Page(0x4000)));
    }
}
