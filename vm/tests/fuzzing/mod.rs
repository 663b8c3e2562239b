//! The fuzz harness: runs a decoded operation sequence on a VM system over the simulated
//! pmap and, after every step, compares it with the reference model (`common::model`) and
//! runs the VM's own checks (`check_invariants`, `check_translations` of every map, frame
//! accounts). At the end everything is torn down and every frame must have come back.
//!
//! Shared by the `cargo fuzz` target (`vm/fuzz/fuzz_targets/ops.rs`) and the corpus replay
//! test (`vm/tests/fuzz_corpus.rs`). A divergence is a panic naming the step.

#![allow(dead_code)]

pub mod input;
mod step;

use crate::common::model::{Model, ModelCopy, ModelNamed};
use crate::common::{Fixture, MAX, MIN};
use input::{decode, Op, Sequence};
use pmap_x86::sim::{Arena, SimFrames};
use std::cell::RefCell;
use std::sync::Arc;
use machvm::pmap::{FrameAllocator, Pmap};
use machvm::{Access, CopyId, FaultOutcome, Frame, MapId, NamedId, NewMemory, Placement, Prot, VmError, PAGE_SIZE};

/// Frames of the simulated memory (enough that no operation within the budgets below runs
/// out: the model does not predict running out of memory, so any `OutOfMemory` diverges).
const FRAMES: usize = 2048;
/// Most live maps, named entries and copies.
const MAX_MAPS: usize = 4;
const MAX_NAMED: usize = 4;
const MAX_COPIES: usize = 4;
/// Most pages one new mapping may have, and all maps together (operations that would pass
/// either are skipped when they would succeed; failing ones still run).
const CAP: u64 = 48;
const BUDGET: u64 = 128;

thread_local! {
    /// One arena per thread (8 MiB), reused by every run (a fresh one per run would cost more
    /// than the run), with the frame that serves as the kernel's root table and the arena's
    /// free count after taking it.
    static ARENA: RefCell<Option<(Arc<Arena>, Frame, u64)>> = const { RefCell::new(None) };
}

/// Forgets the thread's arena (after a run that panicked half way, which leaves it in an
/// unknown state).
pub fn reset() {
    ARENA.with(|cell| cell.borrow_mut().take());
}

/// Decodes `data` and runs it (see the module documentation).
///
/// # Panics
///
/// On any divergence from the model, broken invariant or lost frame.
pub fn run(data: &[u8]) {
    run_sequence(&decode(data));
}

/// Runs a decoded sequence.
pub fn run_sequence(sequence: &Sequence) {
    let (arena, kernel_root, free) = ARENA.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let arena = Arena::new(FRAMES);
                let root = SimFrames(arena.clone()).allocate_frame().expect("a frame");
                let free = arena.free_frames() as u64;
                (arena, root, free)
            })
            .clone()
    });
    assert_eq!(arena.free_frames() as u64, free, "an earlier run lost frames");
    let mut run = Run::new(Fixture::on_arena(arena.clone(), kernel_root), sequence.faulted);
    for (i, op) in sequence.ops.iter().enumerate() {
        run.step = i;
        run.apply(op);
        run.compare(run.faulted);
    }
    run.step = sequence.ops.len();
    run.compare(true);
    let zero = run.tear_down();
    drop(run);
    if let Some(frame) = zero {
        SimFrames(arena.clone()).deallocate_frame(frame);
    }
    assert_eq!(arena.free_frames() as u64, free, "frames left behind by the VM system");
}

/// A run: the VM system, the model, and the handles both know, index for index.
pub struct Run {
    f: Fixture,
    model: Model,
    ids: Vec<MapId>,
    named: Vec<(NamedId, ModelNamed)>,
    copies: Vec<(CopyId, ModelCopy)>,
    faulted: bool,
    step: usize,
    /// Handles of an entry and a copy released at the start: stale ids, whose slots the run
    /// fills again, so every use must fail rather than reach a newer entry or copy.
    dead_named: NamedId,
    dead_copy: CopyId,
}

impl Run {
    fn new(mut f: Fixture, faulted: bool) -> Self {
        let first = f.map();
        let dead_named = f.vm.new_named_entry(1, machvm::Prot::READ);
        f.vm.release_named(dead_named);
        let dead_copy = f.vm.copyin(first, MIN, 0, machvm::SourceDisposal::Keep).expect("an empty copy");
        f.vm.copy_discard(dead_copy);
        let model = Model::new(MIN, MAX);
        Self { f, model, ids: vec![first], named: Vec::new(), copies: Vec::new(), faulted, step: 0, dead_named, dead_copy }
    }

    fn apply(&mut self, op: &Op) {
        step::apply(self, op);
    }

    /// Index of a live map.
    fn map(&self, selector: u8) -> usize {
        usize::from(selector) % self.ids.len()
    }

    /// Index of a live named entry, or `None` for a dead handle.
    fn named_index(&self, selector: u8) -> Option<usize> {
        (selector != u8::MAX && !self.named.is_empty()).then(|| usize::from(selector) % self.named.len())
    }

    fn copy_index(&self, selector: u8) -> Option<usize> {
        (selector != u8::MAX && !self.copies.is_empty()).then(|| usize::from(selector) % self.copies.len())
    }

    /// Whether a new mapping of `pages` pages must be skipped: it would pass the size caps
    /// and `succeeds` says the VM would make it.
    fn too_big(&self, pages: u64, succeeds: bool) -> bool {
        let fits = pages <= CAP && self.model.total_pages() as u64 + pages <= BUDGET;
        !fits && succeeds
    }

    /// Compares every map, named entry and copy with the model, then runs the VM's checks.
    /// With `faulted`, every readable page is also read by a user load.
    fn compare(&mut self, faulted: bool) {
        for m in 0..self.ids.len() {
            self.compare_attributes(m);
            self.compare_contents(m, faulted);
        }
        for (id, named) in &self.named {
            let got = self.f.vm.named(*id).map(|n| (n.size, n.protection));
            assert_eq!(got, Ok((named.cells.len() as u64, named.protection)), "step {}: named entry {id:?}", self.step);
        }
        for (id, copy) in &self.copies {
            assert_eq!(self.f.vm.copy_size(*id), Some(copy.size), "step {}: copy {id:?}", self.step);
        }
        self.f.vm.check_invariants();
        for &id in &self.ids {
            self.f.vm.check_translations(id);
        }
        assert_eq!(self.f.vm.frame_accounts().total(), self.f.baseline, "step {}: frame accounts", self.step);
    }

    /// The VM's entries, page by page, against the model's pages.
    fn compare_attributes(&self, m: usize) {
        // Both in address order: the model's pages must be exactly the entries' pages.
        let mut pages = self.model.maps[m].iter();
        for e in self.f.vm.map(self.ids[m]).entries() {
            let got = (e.protection, e.max_protection, e.inheritance, e.behavior, e.user_wired_count);
            for vpn in e.start / PAGE_SIZE..e.end / PAGE_SIZE {
                let s = match pages.next() {
                    Some((&v, s)) if v == vpn => s,
                    other => panic!("step {}: map {m}: {:#x} mapped ({e:?}), the model's next page is {other:?}", self.step, vpn * PAGE_SIZE),
                };
                assert_eq!(got, (s.prot, s.max, s.inherit, s.behavior, s.wired), "step {}: map {m} page {:#x}", self.step, vpn * PAGE_SIZE);
            }
        }
        assert!(pages.next().is_none(), "step {}: map {m}: the model maps pages the VM does not", self.step);
    }

    /// Every page's contents, read through the objects (and with `faulted` by a user load).
    fn compare_contents(&mut self, m: usize, faulted: bool) {
        let id = self.ids[m];
        let pages: Vec<(u64, Prot, usize)> = self.model.maps[m].iter().map(|(&v, s)| (v, s.prot, s.cell)).collect();
        let mut buffer = [0u8; PAGE_SIZE as usize];
        for (vpn, prot, cell) in pages {
            let addr = vpn * PAGE_SIZE;
            if !prot.contains(Prot::READ) {
                let got = self.f.vm.peek_bytes(id, addr, &mut buffer[..1]);
                assert_eq!(got, Err(VmError::ProtectionFailure), "step {}: map {m} peek at {addr:#x}", self.step);
                continue;
            }
            self.f.vm.peek_bytes(id, addr, &mut buffer).unwrap_or_else(|e| panic!("step {}: map {m} peek at {addr:#x}: {e:?}", self.step));
            // Whole-array comparisons (one `bcmp`), not byte loops: this runs for every page
            // after every step.
            let same = match self.model.page_bytes(cell) {
                Some(expected) => buffer == *expected,
                None => buffer == [0; PAGE_SIZE as usize],
            };
            if !same {
                let at = (0..buffer.len()).find(|&i| buffer[i] != self.model.byte(cell, i)).expect("a differing byte");
                panic!("step {}: map {m} contents at {:#x}: VM {:#x}, model {:#x}", self.step, addr + at as u64, buffer[at], self.model.byte(cell, at));
            }
            if faulted {
                let probe = addr + (vpn * 97 % PAGE_SIZE);
                let expected = self.model.read(m, probe);
                assert_eq!(self.f.read(id, probe), expected, "step {}: map {m} user load at {probe:#x}", self.step);
            }
        }
    }

    /// A user load at `addr` of map `m` against the model: through the MMU when the model
    /// allows it, otherwise the fault handler's answer (x86 lets any mapped page be read, so
    /// only the handler can refuse a read of a write- or execute-only page).
    fn user_read(&mut self, m: usize, addr: u64) {
        let id = self.ids[m];
        match self.model.read(m, addr) {
            Ok(byte) => assert_eq!(self.f.read(id, addr), Ok(byte), "step {}: user load at {addr:#x}", self.step),
            Err(outcome) => assert_eq!(self.f.vm.fault(id, addr, Access::Read), outcome, "step {}: read fault at {addr:#x}", self.step),
        }
    }

    /// A user store; a refused one must leave no writable translation behind.
    fn user_write(&mut self, m: usize, addr: u64, byte: u8) {
        let id = self.ids[m];
        let expected = self.model.write(m, addr, byte);
        match expected {
            Ok(()) => assert_eq!(self.f.write(id, addr, byte), Ok(()), "step {}: user store at {addr:#x}", self.step),
            Err(outcome) => {
                assert_eq!(self.f.vm.fault(id, addr, Access::Write), outcome, "step {}: write fault at {addr:#x}", self.step);
                let space = self.f.vm.space(id);
                let writable = self.f.vm.pmap().extract(space, addr).is_some_and(|t| t.prot.contains(Prot::WRITE));
                assert!(!writable, "step {}: {addr:#x} writable in the pmap, refused by the model", self.step);
            }
        }
    }

    /// Destroys everything; returns the zero page's frame if the VM took one (it keeps it for
    /// good, so the harness hands it back to the arena itself).
    fn tear_down(&mut self) -> Option<Frame> {
        for (id, _) in self.named.drain(..) {
            self.f.vm.release_named(id);
        }
        for (id, _) in self.copies.drain(..) {
            self.f.vm.copy_discard(id);
        }
        for id in self.ids.drain(..) {
            self.f.vm.destroy_map(id).expect("a live map");
        }
        assert_eq!(self.f.vm.object_count(), 0, "objects left after tear-down");
        assert_eq!(self.f.free_with_zero_page(), self.f.baseline, "every frame came back");
        if self.f.vm.frame_accounts().zero_page == 0 {
            return None;
        }
        // A read of untouched private memory maps the zero page: its translation names it.
        let map = self.f.map();
        let page = self.f.vm.allocate(map, Placement::Anywhere { mask: 0 }, 1, NewMemory::DEFAULT).expect("room");
        assert_eq!(self.f.vm.fault(map, page.addr(), Access::Read), FaultOutcome::Resolved);
        let frame = self.f.vm.pmap().extract(self.f.vm.space(map), page.addr()).expect("mapped").frame;
        self.f.vm.destroy_map(map).expect("a live map");
        assert_eq!(self.f.vm.frame_accounts().free + 1, self.f.baseline, "only the zero page is held");
        Some(frame)
    }
}
