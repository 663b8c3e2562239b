//! A VM system over pmap-x86's simulated page tables and memory, for the host tests.

#![allow(dead_code)]

pub mod model;
pub mod review;

use pmap_x86::sim::{Arena, SimFrames, SimMmu};
use pmap_x86::{DirectMap, X86Pmap};
use std::sync::Arc;
use machvm::pmap::{FrameAllocator, PhysMemory};
use machvm::{Access, FaultOutcome, Machine, MapId, Page, Vm, PAGE_SIZE};

pub struct Sim;

impl Machine for Sim {
    type Pmap = X86Pmap<SimFrames, SimMmu>;
    type Frames = SimFrames;
    type Phys = DirectMap;
}

pub type SimVm = Vm<Sim>;

/// The user map bounds of the spec.
pub const MIN: u64 = 0x1000;
pub const MAX: u64 = 0x0000_7fff_ffff_f000;

pub struct Fixture {
    pub arena: Arc<Arena>,
    pub vm: SimVm,
    /// Free frames right after set-up (kernel root taken).
    pub baseline: u64,
}

impl Fixture {
    pub fn new(frames: usize) -> Self {
        let arena = Arena::new(frames);
        let kernel_root = SimFrames(arena.clone()).allocate_frame().expect("a frame");
        Self::on_arena(arena, kernel_root)
    }

    /// A new VM system on frames of `arena` (which may have served earlier ones: frames are
    /// not zeroed), with `kernel_root` as the kernel's root table; the baseline is what is
    /// free now.
    pub fn on_arena(arena: Arc<Arena>, kernel_root: machvm::Frame) -> Self {
        let sim = SimFrames(arena.clone());
        let pmap = X86Pmap::new(arena.window(), sim.clone(), SimMmu::default(), kernel_root, arena.len() as u64);
        let vm = Vm::new(pmap, sim.clone(), arena.window());
        let baseline = sim.free_frames();
        Self { arena, vm, baseline }
    }

    pub fn map(&mut self) -> MapId {
        self.vm.create_map(MIN, MAX).expect("a map")
    }

    /// Writes `byte` at `addr` as a user store would: fault until the translation allows it.
    pub fn write(&mut self, map: MapId, addr: u64, byte: u8) -> Result<(), FaultOutcome> {
        let frame = self.translate(map, addr, Access::Write)?;
        self.vm.phys().write(frame, (addr % PAGE_SIZE) as usize, &[byte]);
        Ok(())
    }

    /// Reads the byte at `addr` as a user load would.
    pub fn read(&mut self, map: MapId, addr: u64) -> Result<u8, FaultOutcome> {
        let frame = self.translate(map, addr, Access::Read)?;
        let mut out = [0u8];
        self.vm.phys().read(frame, (addr % PAGE_SIZE) as usize, &mut out);
        Ok(out[0])
    }

    /// The frame the MMU would use for `access` at `addr`, faulting as needed.
    fn translate(&mut self, map: MapId, addr: u64, access: Access) -> Result<machvm::Frame, FaultOutcome> {
        let space = self.vm.space(map);
        for _ in 0..2 {
            let allowed = machvm::pmap::Pmap::extract(&*self.vm.pmap(), space, addr)
                .filter(|t| t.prot.contains(access.needs()));
            if let Some(t) = allowed {
                return Ok(t.frame);
            }
            // As a kernel does: with the VM shared first, exclusive if that path declines.
            let outcome = match self.vm.fault_shared(map, addr, access) {
                Some(outcome) => outcome,
                None => self.vm.fault(map, addr, access),
            };
            match outcome {
                FaultOutcome::Resolved => {}
                other => return Err(other),
            }
        }
        panic!("a resolved fault did not give a usable translation at {addr:#x}");
    }

    /// Frames free now, counting the shared zero page as free (it is kept once taken).
    pub fn free_with_zero_page(&self) -> u64 {
        let accounts = self.vm.frame_accounts();
        accounts.free + accounts.zero_page
    }

    /// Checks every invariant, the translations of `maps`, and that all frames add up.
    pub fn check(&self, maps: &[MapId]) {
        self.vm.check_invariants();
        for &map in maps {
            self.vm.check_translations(map);
        }
        assert_eq!(self.vm.frame_accounts().total(), self.baseline, "frames unaccounted for");
    }
}

pub fn page(addr: u64) -> Page {
    Page::from_aligned(addr).expect("aligned")
}

pub fn pages_from(addr: u64, count: u64) -> (Page, Page) {
    (page(addr), page(addr + count * PAGE_SIZE))
}
