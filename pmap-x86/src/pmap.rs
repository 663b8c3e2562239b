//! The x86_64 pmap: address spaces, PCIDs and the state shared by all of them.

use crate::meta::MetaTable;
use crate::mmu::{Mmu, MAX_CPUS, PCID_COUNT};
use crate::walk::{self, ENTRIES, KERNEL_HALF};
use crate::window::DirectMap;
use alloc::vec::Vec;
use vm::pmap::{FrameAllocator, PmapError, SpaceId};
use vm::Frame;

/// One user address space.
#[derive(Debug)]
pub(crate) struct Space {
    /// The top-level (P4) table.
    pub root: Frame,
    /// The PCID tagging this space's translations (1..4096; 0 is the kernel's).
    pub pcid: u16,
    /// The processors where the space is loaded (a mask, bit `i` for processor `i`).
    pub cpus: u64,
    /// The processors whose translations tagged with `pcid` may be stale (set by flushes aimed
    /// at this space while it was not loaded there; a processor's bit is cleared by its next
    /// flushing switch).
    pub stale: u64,
    /// Present leaf entries.
    pub resident: u64,
    /// Present leaf entries marked wired.
    pub wired: u64,
}

/// Counters of a pmap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmapStats {
    /// Frames holding user page tables (top-level tables included).
    pub table_frames: u64,
    /// Present user leaf mappings, all spaces.
    pub mappings: u64,
    /// Of those, the wired ones.
    pub wired: u64,
    /// Single-page TLB invalidations performed.
    pub page_invalidations: u64,
    /// Full invalidations of an address space performed.
    pub full_invalidations: u64,
    /// Rounds of invalidation sent to other processors.
    pub shootdowns: u64,
}

/// The x86_64 physical map.
///
/// Invariants (checked by [`X86Pmap::check_invariants`]):
/// - every space's root holds the kernel's top-level entries `256..512` unchanged;
/// - the metadata table marks exactly the reachable user tables as tables, each with its
///   number of present entries, and lists every present leaf in its frame's reverse map;
/// - `stats.table_frames`, `stats.mappings` and `stats.wired` equal the counts over all spaces.
pub struct X86Pmap<A: FrameAllocator, M: Mmu> {
    pub(crate) window: DirectMap,
    pub(crate) frames: A,
    pub(crate) mmu: M,
    pub(crate) meta: MetaTable,
    /// The kernel's top-level table: its upper half is copied into every new space, and it is
    /// loaded when no user space is active.
    pub(crate) kernel_root: Frame,
    pub(crate) spaces: Vec<Option<Space>>,
    pub(crate) free_ids: Vec<u32>,
    /// For each processor, the space whose tables are loaded there, if any.
    pub(crate) active: [Option<SpaceId>; MAX_CPUS],
    /// For each processor that has switched with PCIDs on, and each PCID, the space that last
    /// loaded it there (a switch must flush if it was another).
    pub(crate) pcid_owner: Vec<Vec<Option<SpaceId>>>,
    pub(crate) stats: PmapStats,
}

impl<A: FrameAllocator, M: Mmu> X86Pmap<A, M> {
    /// A pmap whose spaces share the kernel half of `kernel_root`, with page tables from
    /// `frames`, reached through `window`; frames numbered below `frame_limit` get a reverse
    /// map (the usable RAM should all lie below it).
    pub fn new(window: DirectMap, frames: A, mmu: M, kernel_root: Frame, frame_limit: u64) -> Self {
        Self {
            window,
            frames,
            mmu,
            meta: MetaTable::new(frame_limit),
            kernel_root,
            spaces: Vec::new(),
            free_ids: Vec::new(),
            active: [None; MAX_CPUS],
            pcid_owner: Vec::new(),
            stats: PmapStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> PmapStats {
        self.stats
    }

    /// The MMU (tests inspect the simulated one).
    pub fn mmu(&self) -> &M {
        &self.mmu
    }

    /// The MMU, mutably (tests move the simulated one between processors).
    pub fn mmu_mut(&mut self) -> &mut M {
        &mut self.mmu
    }

    /// The space that is loaded on the processor running this, if any.
    pub fn active(&self) -> Option<SpaceId> {
        self.active[self.mmu.cpu()]
    }

    /// The processors where `space` is loaded (a mask).
    pub fn active_cpus(&self, space: SpaceId) -> u64 {
        self.space(space).cpus
    }

    /// Loads the kernel's own tables on the processor running this, so that no user space is
    /// active there (before destroying the space, say).
    pub fn deactivate(&mut self) {
        let cpu = self.mmu.cpu();
        if let Some(id) = self.active[cpu].take() {
            self.space_mut(id).cpus &= !(1 << cpu);
            self.mmu.switch_to(self.kernel_root, 0, true);
        }
    }

    /// The top-level table of `space` (for diagnostics and tests).
    pub fn root(&self, space: SpaceId) -> Frame {
        self.space(space).root
    }

    pub(crate) fn space(&self, id: SpaceId) -> &Space {
        self.spaces
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .unwrap_or_else(|| panic!("{id:?} is not a live address space"))
    }

    pub(crate) fn space_mut(&mut self, id: SpaceId) -> &mut Space {
        self.spaces
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)
            .unwrap_or_else(|| panic!("{id:?} is not a live address space"))
    }

    /// Allocates a space id and a root table holding the kernel half.
    pub(crate) fn create_space(&mut self) -> Result<SpaceId, PmapError> {
        let root = self.frames.allocate_frame().ok_or(PmapError::OutOfMemory)?;
        self.window.zero(root);
        // SAFETY: `root` was just allocated and `kernel_root` is the kernel's table: two
        // distinct frames, and nothing else references either during the copy.
        unsafe {
            let kernel = self.window.table(self.kernel_root);
            let table = self.window.table(root);
            for i in KERNEL_HALF..ENTRIES {
                table[i] = kernel[i].clone();
            }
        }
        self.meta.new_table(root);
        self.stats.table_frames += 1;
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => {
                self.spaces.push(None);
                (self.spaces.len() - 1) as u32
            }
        };
        let pcid = (id % u32::from(PCID_COUNT - 1)) as u16 + 1;
        self.spaces[id as usize] = Some(Space { root, pcid, cpus: 0, stale: u64::MAX, resident: 0, wired: 0 });
        Ok(SpaceId(id))
    }

    /// Forgets a space whose user half is empty; its root goes back to the caller to release
    /// after the flush.
    pub(crate) fn retire_space(&mut self, id: SpaceId) -> Frame {
        let space = self.spaces[id.0 as usize].take().expect("a live space");
        assert_eq!(space.cpus, 0, "destroying an address space loaded on a processor");
        debug_assert_eq!(space.resident, 0);
        self.meta.drop_table(space.root);
        self.stats.table_frames -= 1;
        self.free_ids.push(id.0);
        space.root
    }

    /// Switches the MMU of the processor running this to `id`, flushing its PCID if it may
    /// be stale there or was used by another space since.
    pub(crate) fn switch_to_space(&mut self, id: SpaceId) {
        let cpu = self.mmu.cpu();
        let bit = 1u64 << cpu;
        if let Some(old) = self.active[cpu].replace(id) {
            self.space_mut(old).cpus &= !bit;
        }
        let (root, pcid, stale) = {
            let s = self.space_mut(id);
            let stale = s.stale & bit != 0;
            s.stale &= !bit;
            s.cpus |= bit;
            (s.root, s.pcid, stale)
        };
        let keep = self.mmu.has_pcid() && {
            if self.pcid_owner.len() <= cpu {
                self.pcid_owner.resize_with(cpu + 1, Vec::new);
            }
            let owners = &mut self.pcid_owner[cpu];
            if owners.is_empty() {
                owners.resize(PCID_COUNT as usize, None);
            }
            let keep = !stale && owners[pcid as usize] == Some(id);
            owners[pcid as usize] = Some(id);
            keep
        };
        self.mmu.switch_to(root, pcid, keep);
    }

    /// Takes `count` frames for page tables, or none at all.
    pub(crate) fn take_frames(&mut self, count: usize) -> Result<[Option<Frame>; 3], PmapError> {
        let mut taken = [None; 3];
        for slot in taken.iter_mut().take(count) {
            match self.frames.allocate_frame() {
                Some(frame) => *slot = Some(frame),
                None => {
                    taken.iter().flatten().for_each(|&f| self.frames.deallocate_frame(f));
                    return Err(PmapError::OutOfMemory);
                }
            }
        }
        Ok(taken)
    }

    /// The P1 table and index of `addr`'s leaf, building missing tables (all or none).
    pub(crate) fn leaf_for_enter(&mut self, root: Frame, addr: u64) -> Result<(Frame, usize), PmapError> {
        // The usual case, every table present, costs one walk.
        if let Some(leaf) = walk::find_leaf(&self.window, root, addr) {
            return Ok(leaf);
        }
        let missing = walk::missing_tables(&self.window, root, addr);
        let fresh = self.take_frames(missing)?;
        self.stats.table_frames += missing as u64;
        let mut fresh = fresh.into_iter().flatten();
        Ok(walk::build_path(&self.window, &mut self.meta, root, addr, &mut fresh))
    }
}
