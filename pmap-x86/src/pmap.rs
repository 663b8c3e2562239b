//! The x86_64 pmap: address spaces, PCIDs and the state shared by all of them.

use crate::meta::MetaTable;
use crate::mmu::{Mmu, MAX_CPUS, PCID_COUNT};
use crate::walk::{self, ENTRIES, KERNEL_HALF};
use crate::window::DirectMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use machvm::pmap::{FrameAllocator, PmapError, SpaceCounts, SpaceId};
use machvm::sync::Lock;
use machvm::Frame;

/// One user address space.
#[derive(Debug)]
pub(crate) struct Space {
    /// The top-level (P4) table.
    pub root: Frame,
    /// The PCID tagging this space's translations (1..4096; 0 is the kernel's).
    pub pcid: u16,
    /// The processors where the space is loaded (a mask, bit `i` for processor `i`): a
    /// processor sets its bit before it loads the space and clears it after it has left.
    pub cpus: AtomicU64,
    /// The processors whose translations tagged with `pcid` may be stale (set by every flush
    /// of this space for the processors it does not invalidate at once; a processor's bit is
    /// cleared, and its PCID flushed, when it next loads the space).
    pub stale: AtomicU64,
    /// The space's tables: holding this lock (or the pmap exclusively) is what entitles code
    /// to walk and change them, their live counts included.
    pub tables: Lock<SpaceCounts>,
}

impl Space {
    /// Present leaf entries and wired ones, through exclusive access.
    pub fn counts_mut(&mut self) -> &mut SpaceCounts {
        self.tables.get_mut()
    }
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

/// [`PmapStats`] as the pmap keeps them: bumped by calls on different spaces at once.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub table_frames: Count,
    pub mappings: Count,
    pub wired: Count,
    pub page_invalidations: Count,
    pub full_invalidations: Count,
    pub shootdowns: Count,
}

/// A counter that may be moved by several processors at once.
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta as u64, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// No space is loaded (in [`X86Pmap::active`]).
const NO_SPACE: u32 = u32::MAX;

/// The x86_64 physical map.
///
/// Invariants (checked by [`X86Pmap::check_invariants`]):
/// - every space's root holds the kernel's top-level entries `256..512` unchanged;
/// - the metadata table marks exactly the reachable user tables as tables, each with its
///   number of present entries, and lists every present leaf in its frame's reverse map;
/// - `stats.table_frames`, `stats.mappings` and `stats.wired` equal the counts over all spaces.
///
/// # Locking
///
/// The `&self` methods of [`Pmap`](machvm::pmap::Pmap) run on several processors at once: each
/// takes the lock of the one space it works on (`Space::tables`), and under it a frame's
/// metadata lock for a moment (the per-frame metadata table); counters and processor masks are atomics. The
/// `&mut self` methods lock nothing. Lock order: a space, then a frame's metadata, then the
/// frame allocator.
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
    /// For each processor, the id of the space whose tables are loaded there
    /// ([`NO_SPACE`] for none); only that processor changes it.
    pub(crate) active: [AtomicU32; MAX_CPUS],
    /// For each processor, and each PCID, the space that last loaded it there (a switch must
    /// flush if it was another); only that processor uses its row, filled on its first
    /// switch with PCIDs on.
    pub(crate) pcid_owner: Vec<spin::Mutex<Vec<Option<SpaceId>>>>,
    pub(crate) stats: Stats,
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
            active: core::array::from_fn(|_| AtomicU32::new(NO_SPACE)),
            pcid_owner: (0..MAX_CPUS).map(|_| spin::Mutex::new(Vec::new())).collect(),
            stats: Stats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> PmapStats {
        let s = &self.stats;
        PmapStats {
            table_frames: s.table_frames.get(),
            mappings: s.mappings.get(),
            wired: s.wired.get(),
            page_invalidations: s.page_invalidations.get(),
            full_invalidations: s.full_invalidations.get(),
            shootdowns: s.shootdowns.get(),
        }
    }

    /// The MMU (tests inspect the simulated one).
    pub fn mmu(&self) -> &M {
        &self.mmu
    }

    /// The space that is loaded on the processor running this, if any.
    pub fn active(&self) -> Option<SpaceId> {
        let id = self.active[self.mmu.cpu()].load(Ordering::Relaxed);
        (id != NO_SPACE).then_some(SpaceId(id))
    }

    /// The processors where `space` is loaded (a mask).
    pub fn active_cpus(&self, space: SpaceId) -> u64 {
        self.space(space).cpus.load(Ordering::SeqCst)
    }

    /// Loads the kernel's own tables on the processor running this, so that no user space is
    /// active there (before destroying the space, say).
    pub fn deactivate(&self) {
        let cpu = self.mmu.cpu();
        let old = self.active[cpu].swap(NO_SPACE, Ordering::Relaxed);
        if old != NO_SPACE {
            self.mmu.switch_to(self.kernel_root, 0, true);
            self.space(SpaceId(old)).cpus.fetch_and(!(1 << cpu), Ordering::SeqCst);
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
        self.stats.table_frames.add(1);
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => {
                self.spaces.push(None);
                (self.spaces.len() - 1) as u32
            }
        };
        let pcid = (id % u32::from(PCID_COUNT - 1)) as u16 + 1;
        let space = Space {
            root,
            pcid,
            cpus: AtomicU64::new(0),
            stale: AtomicU64::new(u64::MAX),
            tables: Lock::new(SpaceCounts::default()),
        };
        self.spaces[id as usize] = Some(space);
        Ok(SpaceId(id))
    }

    /// Forgets a space whose user half is empty; its root goes back to the caller to release
    /// after the flush.
    pub(crate) fn retire_space(&mut self, id: SpaceId) -> Frame {
        let mut space = self.spaces[id.0 as usize].take().expect("a live space");
        assert_eq!(*space.cpus.get_mut(), 0, "destroying an address space loaded on a processor");
        debug_assert_eq!(space.counts_mut().resident, 0);
        self.meta.drop_table(space.root);
        self.stats.table_frames.add(-1);
        self.free_ids.push(id.0);
        space.root
    }

    /// Switches the MMU of the processor running this to `id`, flushing its PCID if it may
    /// be stale there or was used by another space since.
    ///
    /// The processor's bit goes into the space's mask before the stale bit is read, and a
    /// flush marks the space stale before it reads the mask (`shootdown`): with both in one
    /// order, every flush either sees this processor in the mask (and sends it a shootdown)
    /// or leaves it a stale bit that this switch or the next one reads.
    pub(crate) fn switch_to_space(&self, id: SpaceId) {
        let cpu = self.mmu.cpu();
        let bit = 1u64 << cpu;
        let old = self.active[cpu].swap(id.0, Ordering::Relaxed);
        let s = self.space(id);
        s.cpus.fetch_or(bit, Ordering::SeqCst);
        let stale = s.stale.fetch_and(!bit, Ordering::SeqCst) & bit != 0;
        let keep = self.mmu.has_pcid() && {
            let mut owners = self.pcid_owner[cpu].lock();
            if owners.is_empty() {
                owners.resize(PCID_COUNT as usize, None);
            }
            let keep = !stale && owners[s.pcid as usize] == Some(id);
            owners[s.pcid as usize] = Some(id);
            keep
        };
        self.mmu.switch_to(s.root, s.pcid, keep);
        if old != NO_SPACE && old != id.0 {
            self.space(SpaceId(old)).cpus.fetch_and(!bit, Ordering::SeqCst);
        }
    }

    /// Takes `count` frames for page tables, or none at all.
    pub(crate) fn take_frames(&self, count: usize) -> Result<[Option<Frame>; 3], PmapError> {
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

    /// The P1 table and index of `addr`'s leaf, building missing tables (all or none). The
    /// caller holds the space of `root`.
    pub(crate) fn leaf_for_enter(&self, root: Frame, addr: u64) -> Result<(Frame, usize), PmapError> {
        // The usual case, every table present, costs one walk.
        if let Some(leaf) = walk::find_leaf(&self.window, root, addr) {
            return Ok(leaf);
        }
        let missing = walk::missing_tables(&self.window, root, addr);
        let fresh = self.take_frames(missing)?;
        self.stats.table_frames.add(missing as i64);
        let mut fresh = fresh.into_iter().flatten();
        Ok(walk::build_path(&self.window, &self.meta, root, addr, &mut fresh))
    }
}
