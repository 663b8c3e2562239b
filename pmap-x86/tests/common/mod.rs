//! A pmap on simulated memory, shared by the host tests.

#![allow(dead_code)]

use machvm_pmap_x86::sim::{Arena, SimFrames, SimMmu};
use machvm_pmap_x86::X86Pmap;
use std::sync::Arc;
use machvm::pmap::{FrameAllocator, Pmap, SpaceId, TlbFlush};
use machvm::Frame;

pub type SimPmap = X86Pmap<SimFrames, SimMmu>;

/// Frames in a test arena.
pub const ARENA_FRAMES: usize = 1024;
/// Data frames set aside for mappings.
pub const DATA_FRAMES: usize = 32;

pub struct Fixture {
    pub arena: Arc<Arena>,
    pub pmap: SimPmap,
    pub kernel_root: Frame,
    pub data: Vec<Frame>,
}

impl Fixture {
    pub fn new(pcid: bool) -> Self {
        let arena = Arena::new(ARENA_FRAMES);
        let frames = SimFrames(arena.clone());
        let data = (0..DATA_FRAMES).map(|_| frames.allocate_frame().unwrap()).collect();
        let kernel_root = frames.allocate_frame().unwrap();
        let mmu = SimMmu::new(pcid);
        let pmap = X86Pmap::new(arena.window(), frames, mmu, kernel_root, ARENA_FRAMES as u64);
        Self { arena, pmap, kernel_root, data }
    }

    pub fn free(&self) -> usize {
        self.arena.free_frames()
    }

    pub fn apply(&mut self, flush: TlbFlush) {
        self.pmap.flush(flush);
        self.pmap.check_invariants();
    }

    pub fn space(&mut self) -> SpaceId {
        self.pmap.create().expect("a frame for the root")
    }
}
