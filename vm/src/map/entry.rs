//! Map entries: one contiguous range of a map with uniform attributes.

use crate::addr::PAGE_SIZE;
use crate::object::ObjectId;
use crate::types::{Behavior, Inherit};
use crate::Prot;

/// The most times one page may be wired by user requests (`MAX_WIRE_COUNT`).
pub const MAX_WIRE_COUNT: u16 = u16::MAX;

/// One range of a map (seed 000's `vm_map_entry`).
///
/// Submaps are not supported: sharing between maps goes through shared objects (SHARE
/// inheritance, memory entries), which covers what this kernel needs without nested maps.
///
/// Invariants: `start < end`, both page-aligned; `protection ⊆ max_protection`; with an
/// object, `offset + pages() <= object size`; `needs_copy` only with an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    /// First address.
    pub start: u64,
    /// First address past the entry.
    pub end: u64,
    /// The memory behind the entry; `None` until the first fault (zero-fill memory).
    pub object: Option<ObjectId>,
    /// Page offset of `start` in the object.
    pub offset: u64,
    /// Current protection.
    pub protection: Prot,
    /// Maximum protection.
    pub max_protection: Prot,
    /// What a child task gets.
    pub inheritance: Inherit,
    /// Kernel wirings.
    pub wired_count: u16,
    /// User wirings (`vm_wire`); the entry counts as wired while either count is non-zero.
    pub user_wired_count: u16,
    /// The object is shared copy-on-write: writes must first make a private shadow.
    pub needs_copy: bool,
    /// The object is shared with another map (SHARE inheritance or a shared mapping).
    pub is_shared: bool,
    /// Access-pattern hint.
    pub behavior: Behavior,
}

impl MapEntry {
    /// A new zero-fill entry over `[start, end)`.
    pub fn anonymous(start: u64, end: u64, protection: Prot, max_protection: Prot, inheritance: Inherit) -> Self {
        Self {
            start,
            end,
            object: None,
            offset: 0,
            protection,
            max_protection,
            inheritance,
            wired_count: 0,
            user_wired_count: 0,
            needs_copy: false,
            is_shared: false,
            behavior: Behavior::Default,
        }
    }

    /// Size in pages.
    pub fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    /// Whether the entry is wired (by the kernel or the user).
    pub fn is_wired(&self) -> bool {
        self.wired_count > 0 || self.user_wired_count > 0
    }

    /// The object page index of address `addr` (inside the entry).
    pub fn object_index(&self, addr: u64) -> u64 {
        self.offset + (addr - self.start) / PAGE_SIZE
    }

    /// Whether `next` (starting where this entry ends) can merge into this entry: same
    /// attributes and a contiguous view of the same object (or both without one).
    pub fn can_merge(&self, next: &MapEntry) -> bool {
        let contiguous = match (self.object, next.object) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b && self.offset + self.pages() == next.offset,
            _ => false,
        };
        self.end == next.start
            && contiguous
            && self.protection == next.protection
            && self.max_protection == next.max_protection
            && self.inheritance == next.inheritance
            && self.wired_count == next.wired_count
            && self.user_wired_count == next.user_wired_count
            && self.needs_copy == next.needs_copy
            && self.is_shared == next.is_shared
            && self.behavior == next.behavior
    }

    /// Splits the entry at `addr` (strictly inside it): `self` keeps `[start, addr)` and the
    /// returned entry holds `[addr, end)`. The caller accounts for the extra object reference.
    pub fn split_at(&mut self, addr: u64) -> MapEntry {
        debug_assert!(self.start < addr && addr < self.end && addr % PAGE_SIZE == 0);
        let mut tail = self.clone();
        tail.start = addr;
        tail.offset = self.object_index(addr);
        self.end = addr;
        tail
    }
}
