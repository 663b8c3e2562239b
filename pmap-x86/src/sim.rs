//! Simulated physical memory and MMU, for host tests and benchmarks.
//!
//! [`Arena`] holds a block of page-aligned frames and hands them out; its [`DirectMap`] window
//! reaches frame `f` at `arena + f`, exactly as a kernel's direct map does. [`SimMmu`] records
//! what the pmap asked of the MMU instead of doing it.

use crate::mmu::Mmu;
use crate::window::DirectMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use machvm::pmap::FrameAllocator;
use machvm::Frame;
use x86_64::structures::paging::PageTable;

/// Frames of simulated physical memory. Frame 0 is never handed out.
///
/// Shared between threads (`Arc`, the free list behind a lock), so that a simulated VM can be
/// used from several, as the model checks of the VM's locking do.
pub struct Arena {
    memory: Vec<PageTable>,
    free: spin::Mutex<Vec<Frame>>,
}

impl Arena {
    /// An arena of `frames` frames (frame numbers `0..frames`), all free except frame 0.
    pub fn new(frames: usize) -> Arc<Self> {
        let mut memory = Vec::with_capacity(frames);
        memory.resize_with(frames, PageTable::new);
        let free = (1..frames as u64).rev().map(|n| Frame::containing(n * 4096)).collect();
        Arc::new(Self { memory, free: spin::Mutex::new(free) })
    }

    /// Frames in the arena, frame 0 included.
    pub fn len(&self) -> usize {
        self.memory.len()
    }

    /// Whether the arena has no frame at all.
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty()
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> usize {
        self.free.lock().len()
    }

    /// A window onto the arena.
    pub fn window(self: &Arc<Self>) -> DirectMap {
        // SAFETY: frame `f` of the arena lives at `memory + f.addr()`; the memory is never
        // moved or freed while the `Arc` that owns it lives, and the pmap holds such an `Arc`
        // (through `SimFrames`) for as long as it holds the window.
        unsafe { DirectMap::new(self.memory.as_ptr() as *mut u8) }
    }
}

/// A frame allocator handle onto an [`Arena`]; cloning it shares the arena.
#[derive(Clone)]
pub struct SimFrames(pub Arc<Arena>);

impl FrameAllocator for SimFrames {
    fn allocate_frame(&self) -> Option<Frame> {
        self.0.free.lock().pop()
    }

    fn deallocate_frame(&self, frame: Frame) {
        let mut free = self.0.free.lock();
        assert!((1..self.0.len() as u64).contains(&frame.number()), "{frame:?} is not in the arena");
        debug_assert!(!free.contains(&frame), "{frame:?} freed twice");
        free.push(frame);
    }

    fn free_frames(&self) -> u64 {
        self.0.free_frames() as u64
    }
}

/// One thing the pmap asked of the simulated MMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MmuEvent {
    /// `invlpg` of this address.
    InvalidatePage(u64),
    /// A flush of the whole current space.
    InvalidateAll,
    /// A switch to this root, PCID and no-flush request.
    SwitchTo(Frame, u16, bool),
    /// A shootdown sent to these processors: the pages (root, address) it names, or `None`
    /// for everything.
    Shootdown(u64, Option<Vec<(Frame, u64)>>),
}

/// An MMU that records requests.
#[derive(Debug, Default)]
pub struct SimMmu {
    /// Whether to claim PCID support.
    pub pcid: bool,
    /// The processor the simulated code runs on (tests move it to act as several).
    cpu: AtomicUsize,
    /// Everything asked so far, oldest first.
    events: spin::Mutex<Vec<MmuEvent>>,
}

impl SimMmu {
    /// An MMU on processor 0, claiming PCIDs if `pcid`.
    pub fn new(pcid: bool) -> Self {
        Self { pcid, ..Self::default() }
    }

    /// Moves the simulated code to processor `cpu`.
    pub fn set_cpu(&self, cpu: usize) {
        self.cpu.store(cpu, Ordering::Relaxed);
    }

    /// Everything asked so far, oldest first.
    pub fn events(&self) -> Vec<MmuEvent> {
        self.events.lock().clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_events(&self) {
        self.events.lock().clear();
    }

    fn record(&self, event: MmuEvent) {
        self.events.lock().push(event);
    }
}

impl Mmu for SimMmu {
    fn invalidate_page(&self, addr: u64) {
        self.record(MmuEvent::InvalidatePage(addr));
    }

    fn invalidate_all(&self) {
        self.record(MmuEvent::InvalidateAll);
    }

    fn switch_to(&self, root: Frame, pcid: u16, keep_cached: bool) {
        self.record(MmuEvent::SwitchTo(root, pcid, keep_cached));
    }

    fn has_pcid(&self) -> bool {
        self.pcid
    }

    fn has_no_execute(&self) -> bool {
        true
    }

    fn cpu(&self) -> usize {
        self.cpu.load(Ordering::Relaxed)
    }

    fn shootdown(&self, cpus: u64, what: crate::Invalidate<'_>) {
        let pages = match what {
            crate::Invalidate::Pages(pages) => Some(pages.to_vec()),
            crate::Invalidate::Everything => None,
        };
        self.record(MmuEvent::Shootdown(cpus, pages));
    }
}

/// Why a simulated access failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// No present leaf maps the address.
    NotPresent,
    /// The leaf does not allow a write.
    WriteProtected,
}

impl<A: FrameAllocator, M: Mmu> crate::X86Pmap<A, M> {
    /// Performs a user access to `addr` of `space` as the MMU would: fails if the leaf does not
    /// allow it, otherwise sets the accessed bit (and the dirty bit for a write).
    pub fn sim_access(&mut self, space: machvm::pmap::SpaceId, addr: u64, write: bool) -> Result<(), SimFault> {
        use x86_64::structures::paging::PageTableFlags as F;
        let root = self.space(space).root;
        let (table, index) =
            crate::walk::find_leaf(&self.window, root, addr).ok_or(SimFault::NotPresent)?;
        // SAFETY: `table` is a P1 table of `space`; no other reference to it is live.
        let entry = unsafe { &mut self.window.table(table)[index] };
        let flags = entry.flags();
        if !flags.contains(F::PRESENT) {
            return Err(SimFault::NotPresent);
        }
        if write && !flags.contains(F::WRITABLE) {
            return Err(SimFault::WriteProtected);
        }
        let touched = if write { F::ACCESSED | F::DIRTY } else { F::ACCESSED };
        entry.set_flags(flags | touched);
        Ok(())
    }
}

/// The simulated machine, named as [`machvm::Machine`] wants it: page tables on an
/// [`Arena`], frames from it, bytes through its window. A kernel's host tests can run its VM
/// glue (system calls, fault handling) on it, with real page tables and no hardware.
#[derive(Debug)]
pub struct SimMachine;

impl machvm::Machine for SimMachine {
    type Pmap = crate::X86Pmap<SimFrames, SimMmu>;
    type Frames = SimFrames;
    type Phys = DirectMap;
}

/// A VM system on a new arena of `frames` frames, one of which holds the kernel's (empty)
/// top-level table; the arena comes back too, to count free frames.
///
/// # Panics
///
/// If `frames` is below 2.
pub fn vm(frames: usize) -> (Arc<Arena>, machvm::Vm<SimMachine>) {
    let arena = Arena::new(frames);
    let sim = SimFrames(arena.clone());
    let kernel_root = sim.allocate_frame().expect("an arena of 2 frames or more");
    let pmap = crate::X86Pmap::new(arena.window(), sim.clone(), SimMmu::default(), kernel_root, frames as u64);
    let vm = machvm::Vm::new(pmap, sim, arena.window());
    (arena, vm)
}
