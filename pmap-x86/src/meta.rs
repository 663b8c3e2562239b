//! Per-frame metadata: the reverse map (which pages map a data frame) and the number of live
//! entries of each page-table frame.
//!
//! Frames numbered at or above the limit given at construction are *unmanaged* (device
//! memory, say): they can be mapped, but have no reverse map, so `page_protect` and the
//! referenced/modified queries do not see their mappings.

use alloc::boxed::Box;
use alloc::vec::Vec;
use spin::{Mutex, MutexGuard};
use machvm::pmap::SpaceId;
use machvm::{Frame, Page};

/// One mapping of a frame: the page of a space that maps it.
pub type PvEntry = (SpaceId, Page);

/// What is known about one frame.
///
/// Invariants: a frame is `Table` exactly while it is a page table of some space, with `live`
/// equal to its number of present entries (the kernel half of a root is not counted); a frame
/// is `One` or `Many` exactly while it is mapped by at least one leaf entry, listing each such
/// entry once; `Many` holds two entries or more.
#[derive(Debug, Default)]
pub enum FrameMeta {
    /// Neither a page table nor mapped.
    #[default]
    Unused,
    /// A page table with this many present (user) entries.
    Table { live: u16 },
    /// A data frame mapped once.
    One(PvEntry),
    /// A data frame mapped several times.
    Many(Box<Vec<PvEntry>>),
}

/// The metadata table, indexed by frame number.
///
/// Each frame's record has its own lock, a leaf lock: nothing else is locked or waited for
/// while one is held. A table frame's record is changed only under its space's lock; a data
/// frame's reverse map may be changed by faults entering it into two spaces at once.
pub struct MetaTable {
    frames: Vec<Mutex<FrameMeta>>,
    /// A frame whose mappings are not recorded (the VM's shared zero page): it is mapped in
    /// many places and never needs `page_protect`.
    untracked: Option<Frame>,
}

impl MetaTable {
    /// Metadata for frames `0..limit`.
    pub fn new(limit: u64) -> Self {
        let mut frames = Vec::new();
        frames.resize_with(limit as usize, Mutex::default);
        Self { frames, untracked: None }
    }

    /// The record of a managed, tracked frame, locked.
    fn lock(&self, frame: Frame) -> Option<MutexGuard<'_, FrameMeta>> {
        if Some(frame) == self.untracked {
            return None;
        }
        self.frames.get(frame.number() as usize).map(Mutex::lock)
    }

    /// Whether `frame` has a record (it is managed and tracked).
    pub fn is_tracked(&self, frame: Frame) -> bool {
        Some(frame) != self.untracked && (frame.number() as usize) < self.frames.len()
    }

    /// The live count of a page table, or `None` if `frame` is not one.
    pub fn table_live(&self, frame: Frame) -> Option<u16> {
        match *self.lock(frame)? {
            FrameMeta::Table { live } => Some(live),
            _ => None,
        }
    }

    /// Stops recording the mappings of `frame` (which must have none recorded).
    pub fn untrack(&mut self, frame: Frame) {
        debug_assert!(self.mappings(frame).is_empty(), "{frame:?} has recorded mappings");
        self.untracked = Some(frame);
    }

    /// Starts tracking `frame` as an empty page table.
    ///
    /// # Panics
    ///
    /// If the frame is in use (an allocator handed out a frame twice), or unmanaged.
    pub fn new_table(&self, frame: Frame) {
        let mut meta = self.lock(frame).expect("page tables live in managed memory");
        assert!(matches!(*meta, FrameMeta::Unused), "{frame:?} reused while in use");
        *meta = FrameMeta::Table { live: 0 };
    }

    /// Stops tracking a page table.
    pub fn drop_table(&self, frame: Frame) {
        let mut meta = self.lock(frame).expect("page tables live in managed memory");
        assert!(matches!(*meta, FrameMeta::Table { live: 0 }), "{frame:?} freed while not empty");
        *meta = FrameMeta::Unused;
    }

    /// Adds `delta` to a table's live count and returns the new count.
    pub fn adjust_live(&self, table: Frame, delta: i32) -> u16 {
        let mut meta = self.lock(table);
        match meta.as_deref_mut() {
            Some(FrameMeta::Table { live }) => {
                *live = u16::try_from(i32::from(*live) + delta).expect("live count within 0..=512");
                *live
            }
            other => panic!("{table:?} is not a page table: {other:?}"),
        }
    }

    /// Records that `entry` maps `frame`.
    pub fn add_mapping(&self, frame: Frame, entry: PvEntry) {
        let Some(mut meta) = self.lock(frame) else { return };
        *meta = match core::mem::take(&mut *meta) {
            FrameMeta::Unused => FrameMeta::One(entry),
            FrameMeta::One(first) => FrameMeta::Many(Box::new(alloc::vec![first, entry])),
            FrameMeta::Many(mut list) => {
                list.push(entry);
                FrameMeta::Many(list)
            }
            FrameMeta::Table { .. } => panic!("{frame:?} is a page table, not a data frame"),
        };
    }

    /// Forgets that `entry` maps `frame`.
    pub fn remove_mapping(&self, frame: Frame, entry: PvEntry) {
        let Some(mut meta) = self.lock(frame) else { return };
        *meta = match core::mem::take(&mut *meta) {
            FrameMeta::One(only) if only == entry => FrameMeta::Unused,
            FrameMeta::Many(mut list) => {
                let at = list.iter().position(|&e| e == entry).expect("reverse map lists every mapping");
                list.swap_remove(at);
                if list.len() == 1 {
                    FrameMeta::One(list[0])
                } else {
                    FrameMeta::Many(list)
                }
            }
            other => panic!("reverse map of {frame:?} lacks {entry:?}: {other:?}"),
        };
    }

    /// The mappings of `frame` (none for an unmanaged frame).
    pub fn mappings(&self, frame: Frame) -> Vec<PvEntry> {
        match self.lock(frame).as_deref() {
            Some(FrameMeta::One(entry)) => alloc::vec![*entry],
            Some(FrameMeta::Many(list)) => list.as_ref().clone(),
            _ => Vec::new(),
        }
    }

    /// Number of frames that are page tables (for accounting and checks).
    pub fn table_count(&self) -> usize {
        self.frames.iter().filter(|m| matches!(*m.lock(), FrameMeta::Table { .. })).count()
    }
}
