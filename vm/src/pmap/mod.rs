//! The contract between the machine-independent VM and a machine's page tables.
//!
//! # The pmap is a cache
//!
//! As in BSD's pmap(9), the physical map is a *cache* of the VM maps: the maps and objects say
//! what memory a task has, the pmap only says what the MMU currently translates. Every
//! translation the pmap holds can be dropped and rebuilt by a page fault, **except wired
//! mappings**, which the VM has promised will not fault; a pmap must keep those until they are
//! removed or unwired.
//!
//! # Who calls what
//!
//! | method | called by | may defer |
//! |---|---|---|
//! | [`create`](Pmap::create) / [`destroy`](Pmap::destroy) | task creation and teardown | — |
//! | [`enter`](Pmap::enter) | the fault handler, wiring, `map_now` allocation | the TLB shootdown of a replaced mapping (returned as a [`TlbFlush`]) |
//! | [`remove`](Pmap::remove) | deallocation, entry replacement, copy-on-write setup | the TLB shootdown and the release of freed table frames |
//! | [`protect`](Pmap::protect) | `vm_protect`, copy-on-write setup (`needs_copy`) | the TLB shootdown |
//! | [`page_protect`](Pmap::page_protect) | the object layer: copy-on-write of a shared page, page removal | the TLB shootdown |
//! | [`extract`](Pmap::extract) | copies to and from user memory, consistency checks, tests | — |
//! | [`referenced`](Pmap::referenced) / [`modified`](Pmap::modified) and their `clear_` | page-out and statistics | the shootdown after a clear |
//! | [`unwire`](Pmap::unwire) | `vm_wire` with no access, deallocation of wired memory | — |
//! | [`activate`](Pmap::activate) | the scheduler, on every switch to a thread of another task | — |
//! | [`flush`](Pmap::flush) | whoever received a [`TlbFlush`], before relying on the change | — |
//! | [`zero_page`](Pmap::zero_page) / [`copy_page`](Pmap::copy_page) | zero-fill and copy-on-write faults | — |
//! | [`counts`](Pmap::counts) / [`space_counts`](Pmap::space_counts) | frame accounting, statistics, consistency checks | — |
//! | [`tables_needed`](Pmap::tables_needed) | operations that reserve memory before changing anything (wiring) | — |
//!
//! # Protections
//!
//! A pmap maps a page with *at most* the rights asked for, except where the hardware cannot
//! express less: on x86 every present page is readable, so [`Prot::WRITE`] or
//! [`Prot::EXECUTE`] alone still allow reads ([`Translation::prot`] reports what the hardware
//! grants). [`Prot::NONE`] means "not mapped". `protect` and `page_protect` only ever *lower*
//! rights (the new rights are the intersection of old and new); raising them is done by a
//! fault that calls `enter` again.
//!
//! # Failure
//!
//! Only `create` and `enter` can fail, and only for lack of a frame for a page table
//! ([`PmapError::OutOfMemory`]) or for an address the machine cannot map in a user address
//! space ([`PmapError::InvalidAddress`]). A failed call leaves the pmap as it was: no mapping
//! changed, no table frame kept.
//!
//! # TLB invalidation is a value
//!
//! Every change that can leave a stale translation in a TLB returns a [`TlbFlush`], marked
//! `#[must_use]`. The change is complete only once the flush has been passed to
//! [`Pmap::flush`]. Frames that must not be reused while a stale translation may still point at
//! them (page-table frames emptied by the change, data frames the caller is giving up) ride in
//! the flush and are released to the [`FrameAllocator`] only after the invalidation.
//!
//! # Porting
//!
//! A port implements [`Pmap`] over its page tables; the kernel lends it frames through
//! [`FrameAllocator`] and byte access through [`PhysMemory`]. `pmap-x86` is the x86_64 port;
//! the tests of this crate use a software model.

mod flush;

pub use flush::{TlbFlush, TlbFlushTargets, FLUSH_BATCH};

use crate::addr::{Frame, Page, PageRange};
use crate::prot::Prot;
use core::fmt;

/// Identifies one address space of a [`Pmap`]. Handed out by [`Pmap::create`], valid until
/// [`Pmap::destroy`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SpaceId(pub u32);

/// Whether a mapping is wired (never dropped by the pmap, never faulting).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wiring {
    /// An ordinary mapping: the pmap may drop it; a fault rebuilds it.
    Pageable,
    /// A wired mapping: kept until removed or unwired.
    Wired,
}

/// What [`Pmap::extract`] finds for a virtual address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Translation {
    /// The frame the page maps.
    pub frame: Frame,
    /// The rights the hardware grants (see "Protections" above).
    pub prot: Prot,
    /// Whether the mapping is wired.
    pub wiring: Wiring,
    /// How the processor caches accesses through it.
    pub cache: Cache,
}

/// How the processor caches accesses to a mapping: memory is write-back; device memory
/// (registers, a frame buffer) is mapped uncached or write-combining.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Cache {
    /// Ordinary memory: cached, written back.
    #[default]
    WriteBack,
    /// Writes gathered into bursts, reads uncached: frame buffers.
    WriteCombining,
    /// Every access goes to the device, in order: registers.
    Uncached,
}

/// Why a pmap operation failed. A failed operation changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PmapError {
    /// No frame was available for a page table.
    OutOfMemory,
    /// The address is outside the user part of an address space on this machine.
    InvalidAddress,
}

impl fmt::Display for PmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory => f.write_str("no memory for a page table"),
            Self::InvalidAddress => f.write_str("address outside the user address space"),
        }
    }
}

impl core::error::Error for PmapError {}

/// The machine-dependent physical map: every address space's page tables, and the reverse
/// map from frames to the mappings of them.
///
/// # Concurrency
///
/// Methods taking `&mut self` change the pmap's structure or many spaces at once; the VM
/// calls them only with the VM held exclusively. Methods taking `&self` may be called from
/// several processors at once (the faults that run side by side with the VM shared call
/// [`enter`], [`flush`] and [`extract`]; a scheduler calls [`activate`]), and an
/// implementation locks inside, **per address space**: a call on one space never waits for
/// a call on another, except for short sections on what two spaces share (the reverse map
/// of a frame mapped in both, the counters). Those locks come after every VM lock, and
/// nothing is locked under them but the frame allocator.
///
/// Space ids passed in must come from [`create`] and not yet have been destroyed; anything
/// else is a bug in the caller and panics.
///
/// [`create`]: Pmap::create
/// [`enter`]: Pmap::enter
/// [`flush`]: Pmap::flush
/// [`extract`]: Pmap::extract
/// [`activate`]: Pmap::activate
pub trait Pmap {
    /// A new, empty user address space (the kernel half, where the machine has one, is shared
    /// by every space).
    ///
    /// # Errors
    ///
    /// [`PmapError::OutOfMemory`] when no frame is left for the top-level table.
    fn create(&mut self) -> Result<SpaceId, PmapError>;

    /// Removes every mapping of `space` and releases its tables; `space` must not be active.
    fn destroy(&mut self, space: SpaceId) -> TlbFlush;

    /// Maps `page` to `frame` with `prot` (which must not be [`Prot::NONE`]), replacing any
    /// existing mapping of `page`.
    ///
    /// # Errors
    ///
    /// [`PmapError::OutOfMemory`] when a page table is needed and no frame is left;
    /// [`PmapError::InvalidAddress`] when `page` is not a user address. Nothing changes.
    fn enter(
        &self,
        space: SpaceId,
        page: Page,
        frame: Frame,
        prot: Prot,
        wiring: Wiring,
    ) -> Result<TlbFlush, PmapError>;

    /// As [`enter`](Pmap::enter), for a frame of device memory (never one the frame allocator
    /// hands out) with the caching `cache`: the VM's device mappings.
    ///
    /// # Errors
    ///
    /// As [`enter`](Pmap::enter).
    fn enter_device(&self, space: SpaceId, page: Page, frame: Frame, prot: Prot, cache: Cache) -> Result<TlbFlush, PmapError>;

    /// Removes every mapping in `range` (holes are fine), wired or not. Page tables left empty
    /// are freed once the returned flush is applied.
    fn remove(&mut self, space: SpaceId, range: PageRange) -> TlbFlush;

    /// Lowers the rights of every mapping in `range` to their intersection with `prot`;
    /// mappings left with [`Prot::NONE`] are removed.
    fn protect(&mut self, space: SpaceId, range: PageRange, prot: Prot) -> TlbFlush;

    /// Raises to `prot` (which must not be [`Prot::NONE`]) every mapping in `range` for which
    /// `allowed(page, frame)` is true, visiting the present mappings in address order; wiring
    /// and the referenced and modified bits are kept. The VM calls it for the pages a fault
    /// would map with `prot`, so that raising a protection does not cost a fault per page.
    /// Raising needs no invalidation (a stale stricter TLB entry can at most raise a spurious
    /// fault, which resolves to the same translation), so nothing is returned.
    fn raise(&mut self, space: SpaceId, range: PageRange, prot: Prot, allowed: &mut dyn FnMut(Page, Frame) -> bool);

    /// The translation of the page holding `addr`, if mapped.
    fn extract(&self, space: SpaceId, addr: u64) -> Option<Translation>;

    /// Lowers the rights of every mapping of `frame`, in every space, to their intersection
    /// with `prot`; [`Prot::NONE`] removes them all.
    fn page_protect(&mut self, frame: Frame, prot: Prot) -> TlbFlush;

    /// Every mapping of `frame`: its space and page (the reverse map, for consistency checks
    /// and debuggers). Empty for an untracked frame.
    fn mappings_of(&self, frame: Frame) -> alloc::vec::Vec<(SpaceId, Page)>;

    /// Stops keeping the reverse map of `frame` (which must not be mapped yet): a frame the
    /// caller maps read-only in many places and never page-protects, the VM's shared zero
    /// page. Entering and removing its mappings then costs nothing extra;
    /// [`mappings_of`](Pmap::mappings_of) and [`page_protect`](Pmap::page_protect) no longer
    /// see them ([`remove_frame_in`](Pmap::remove_frame_in) does).
    fn untrack_frame(&mut self, frame: Frame);

    /// Removes the mappings of `frame` in `range` of `space` (costs the tables present).
    fn remove_frame_in(&mut self, space: SpaceId, range: PageRange, frame: Frame) -> TlbFlush;

    /// The translations in `range` of `space`, in order (for consistency checks; costs the
    /// tables present).
    fn translations_in(&self, space: SpaceId, range: PageRange) -> alloc::vec::Vec<(Page, Translation)>;

    /// Removes every mapping of `frame`, in every space, that is not wired. (Wired mappings are
    /// not a cache: their owner decides when they go.)
    fn page_remove_pageable(&mut self, frame: Frame) -> TlbFlush;

    /// Whether any mapping of `frame` has been accessed since the last clear.
    fn referenced(&self, frame: Frame) -> bool;

    /// Clears the referenced state of every mapping of `frame`.
    fn clear_referenced(&mut self, frame: Frame) -> TlbFlush;

    /// Whether any mapping of `frame` has been written since the last clear.
    fn modified(&self, frame: Frame) -> bool;

    /// Clears the modified state of every mapping of `frame`.
    fn clear_modified(&mut self, frame: Frame) -> TlbFlush;

    /// Makes the existing mapping of `page` wired (no invalidation: wiring changes no
    /// translation). Returns whether there was a mapping.
    fn wire(&mut self, space: SpaceId, page: Page) -> bool;

    /// Makes every wired mapping in `range` pageable.
    fn unwire(&mut self, space: SpaceId, range: PageRange);

    /// Makes `space` the address space the CPU translates user addresses with.
    fn activate(&self, space: SpaceId);

    /// Performs the invalidations in `flush`, then releases the frames it carries.
    fn flush(&self, flush: TlbFlush);

    /// Fills `frame` with zeroes.
    fn zero_page(&mut self, frame: Frame);

    /// Copies the contents of `from` into `to`.
    fn copy_page(&mut self, from: Frame, to: Frame);

    /// Counters of the whole pmap, for frame accounting.
    fn counts(&self) -> PmapCounts;

    /// Present leaf mappings of `space`, and how many of them are wired (pmap(9)'s
    /// `pmap_resident_count` and `pmap_wired_count`).
    fn space_counts(&self, space: SpaceId) -> SpaceCounts;

    /// At most how many frames [`enter`](Pmap::enter) would take for page tables to map every
    /// page of `range` in `space` as things stand. Callers that must not fail half way
    /// (wiring) check that this many frames are free before they start.
    fn tables_needed(&self, space: SpaceId, range: PageRange) -> u64;
}

/// What one address space holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpaceCounts {
    /// Present leaf mappings.
    pub resident: u64,
    /// Of those, the wired ones.
    pub wired: u64,
}

/// What a pmap holds, for frame accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmapCounts {
    /// Frames used for page tables.
    pub table_frames: u64,
    /// Present leaf mappings.
    pub mappings: u64,
    /// Of those, the wired ones.
    pub wired: u64,
}

/// The kernel's supply of physical frames. Implementations lock internally, so the pmap and
/// the VM layer can share one.
pub trait FrameAllocator {
    /// A free frame (contents undefined), or `None` when memory is exhausted.
    fn allocate_frame(&self) -> Option<Frame>;

    /// Returns a frame obtained from [`allocate_frame`](FrameAllocator::allocate_frame).
    fn deallocate_frame(&self, frame: Frame);

    /// Returns many frames at once (a removal of touched memory frees one per page): an
    /// implementation that locks can take its lock once. By default, one by one.
    fn deallocate_frames(&self, frames: &[Frame]) {
        frames.iter().for_each(|&frame| self.deallocate_frame(frame));
    }

    /// Frames currently free.
    fn free_frames(&self) -> u64;
}

impl<A: FrameAllocator + ?Sized> FrameAllocator for &A {
    fn allocate_frame(&self) -> Option<Frame> {
        (**self).allocate_frame()
    }

    fn deallocate_frame(&self, frame: Frame) {
        (**self).deallocate_frame(frame)
    }

    fn deallocate_frames(&self, frames: &[Frame]) {
        (**self).deallocate_frames(frames)
    }

    fn free_frames(&self) -> u64 {
        (**self).free_frames()
    }
}

/// Byte access to physical frames, for the VM layer's copies.
///
/// Frames passed in must be allocated from the kernel's [`FrameAllocator`] and owned by the
/// caller; offsets and lengths stay inside the frame (an access past its end panics).
pub trait PhysMemory {
    /// Copies `out.len()` bytes from `frame` at `offset` into `out`.
    fn read(&self, frame: Frame, offset: usize, out: &mut [u8]);

    /// Copies `data` into `frame` at `offset`.
    fn write(&self, frame: Frame, offset: usize, data: &[u8]);

    /// Fills `frame` with zeroes. Called with no lock held but the frame's own (it belongs to
    /// the caller until it is published), so that faults zero pages side by side.
    fn zero(&self, frame: Frame) {
        const CHUNK: [u8; 256] = [0; 256];
        for offset in (0..crate::PAGE_SIZE as usize).step_by(CHUNK.len()) {
            self.write(frame, offset, &CHUNK);
        }
    }
}
