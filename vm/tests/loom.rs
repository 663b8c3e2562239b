//! Model checks of the VM's lock protocol with `loom`: every interleaving (to a preemption
//! bound) of faults running side by side with the VM shared (`Vm::fault_shared`, then
//! `Vm::fault` exclusive if it declines, as a kernel does) and of operations holding the VM
//! exclusively. After each interleaving every invariant holds, every translation is one a
//! fault would make now, and every frame is accounted for.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p vm --test loom --release` (the `cargo test`
//! of the workspace runs it this way, `boot/tests/loom.rs`); without `cfg(loom)` this file is
//! empty.

#![cfg(loom)]

mod common;

use common::{page, pages_from, Fixture, SimVm};
use loom::sync::{Arc, RwLock};
use loom::thread;
use machvm::{Access, FaultOutcome, MapId, NewMemory, Placement, Prot, ProtectTarget, PAGE_SIZE};

const ANY: Placement = Placement::Anywhere { mask: 0 };

/// A fault as a kernel takes it: shared first, exclusive if the shared path declines.
fn fault(vm: &RwLock<SimVm>, map: MapId, addr: u64, access: Access) -> FaultOutcome {
    if let Some(outcome) = vm.read().unwrap().fault_shared(map, addr, access) {
        return outcome;
    }
    vm.write().unwrap().fault(map, addr, access)
}

/// Explores `f` with at most `bound` preemptions per execution; returns how many
/// executions there were.
fn explore(bound: usize, f: impl Fn() + Sync + Send + 'static) -> usize {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let runs = runs.load(std::sync::atomic::Ordering::Relaxed);
    println!("{runs} interleavings explored");
    assert!(runs > 1, "the threads meet at a lock at least once");
    runs
}

/// A VM with one map holding `pages` fresh pages, of which page 0 is written (so that the
/// entry has its object and faults on the others can run shared).
fn setup(pages: u64) -> (Fixture, MapId, u64) {
    let mut f = Fixture::new(64);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, pages, NewMemory::DEFAULT).unwrap().addr();
    f.vm.reserve_zero_page().unwrap();
    f.write(m, a, 1).unwrap();
    (f, m, a)
}

/// Runs `threads` on the VM of `f`, then checks everything and returns the VM.
fn race(f: Fixture, maps: &[MapId], threads: Vec<Box<dyn FnOnce(&RwLock<SimVm>) + Send>>) -> Fixture {
    let Fixture { arena, vm, baseline } = f;
    let vm = Arc::new(RwLock::new(vm));
    let handles: Vec<_> = threads
        .into_iter()
        .map(|work| {
            let vm = vm.clone();
            thread::spawn(move || work(&vm))
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let vm = Arc::try_unwrap(vm).ok().expect("every thread has ended").into_inner().unwrap();
    let f = Fixture { arena, vm, baseline };
    f.check(maps);
    f
}

/// The frame `addr` translates to and whether it is writable, if it is mapped.
fn translation(f: &Fixture, map: MapId, addr: u64) -> Option<(machvm::Frame, bool)> {
    let t = machvm::pmap::Pmap::extract(&*f.vm.pmap(), f.vm.space(map), addr)?;
    Some((t.frame, t.prot.contains(Prot::WRITE)))
}

#[test]
fn two_writes_of_one_page_insert_one_frame() {
    explore(4, || {
        let (f, m, a) = setup(2);
        let b = a + PAGE_SIZE;
        let write = move |vm: &RwLock<SimVm>| assert_eq!(fault(vm, m, b, Access::Write), FaultOutcome::Resolved);
        let f = race(f, &[m], vec![Box::new(write), Box::new(write)]);
        assert_eq!(f.vm.resident_pages(), 2, "one frame for the page both wrote");
        assert_eq!(translation(&f, m, b).map(|t| t.1), Some(true));
    });
}

#[test]
fn a_zero_page_read_never_hides_a_write() {
    explore(4, || {
        let (f, m, a) = setup(2);
        let b = a + PAGE_SIZE;
        let read = move |vm: &RwLock<SimVm>| assert_eq!(fault(vm, m, b, Access::Read), FaultOutcome::Resolved);
        let write = move |vm: &RwLock<SimVm>| {
            assert_eq!(fault(vm, m, b, Access::Write), FaultOutcome::Resolved);
            // The store the fault was for, through the translation it made.
            let vm = vm.read().unwrap();
            let t = machvm::pmap::Pmap::extract(&*vm.pmap(), vm.space(m), b).expect("just mapped");
            assert!(t.prot.contains(Prot::WRITE));
            machvm::pmap::PhysMemory::write(vm.phys(), t.frame, 0, &[7]);
        };
        let mut f = race(f, &[m], vec![Box::new(read), Box::new(write)]);
        // Whatever the order, the translation is the written page's: a zero-page translation
        // entered after the store would hide it (`check` fails on a zero page over data).
        assert_eq!(f.read(m, b), Ok(7));
        assert_eq!(f.vm.resident_pages(), 2);
    });
}

#[test]
fn a_fault_racing_a_protect_leaves_no_writable_translation() {
    explore(4, || {
        let (f, m, a) = setup(2);
        let b = a + PAGE_SIZE;
        let write = move |vm: &RwLock<SimVm>| {
            let outcome = fault(vm, m, b, Access::Write);
            assert!(matches!(outcome, FaultOutcome::Resolved | FaultOutcome::ProtectionFailure), "{outcome:?}");
        };
        let protect = move |vm: &RwLock<SimVm>| {
            let (s, e) = pages_from(a, 2);
            vm.write().unwrap().protect(m, s, e, ProtectTarget::Current, Prot::READ).unwrap();
        };
        let f = race(f, &[m], vec![Box::new(write), Box::new(protect)]);
        assert_ne!(translation(&f, m, b).map(|t| t.1), Some(true), "read-only after the protect");
    });
}

#[test]
fn a_fault_racing_a_deallocate_leaves_nothing_behind() {
    explore(4, || {
        let (f, m, a) = setup(2);
        let b = a + PAGE_SIZE;
        let write = move |vm: &RwLock<SimVm>| {
            let outcome = fault(vm, m, b, Access::Write);
            assert!(matches!(outcome, FaultOutcome::Resolved | FaultOutcome::InvalidAddress), "{outcome:?}");
        };
        let remove = move |vm: &RwLock<SimVm>| {
            let (s, e) = pages_from(a, 2);
            vm.write().unwrap().deallocate(m, s, e).unwrap();
        };
        let f = race(f, &[m], vec![Box::new(write), Box::new(remove)]);
        assert_eq!(translation(&f, m, b), None, "no translation outlives the removal");
        assert_eq!(f.vm.resident_pages(), 0, "every frame came back");
    });
}

#[test]
fn a_fault_racing_a_copy_of_its_page_keeps_both_consistent() {
    explore(2, || {
        let (mut f, m, a) = setup(2);
        let target = f.vm.allocate(m, ANY, 2, NewMemory::DEFAULT).unwrap().addr();
        let b = a + PAGE_SIZE;
        let write = move |vm: &RwLock<SimVm>| assert_eq!(fault(vm, m, b, Access::Write), FaultOutcome::Resolved);
        let copy = move |vm: &RwLock<SimVm>| vm.write().unwrap().copy_between(m, a, 2 * PAGE_SIZE, m, target).unwrap();
        let mut f = race(f, &[m], vec![Box::new(write), Box::new(copy)]);
        assert_eq!(f.read(m, target), Ok(1), "the copy holds the page written before");
        assert_eq!(f.read(m, target + PAGE_SIZE), Ok(0), "and the other page, zero whenever it was made");
    });
}

#[test]
fn copy_on_write_faults_on_one_page_from_two_threads_copy_once() {
    explore(2, || {
        let (mut f, m, a) = setup(1);
        let child = f.vm.fork(m).unwrap();
        let write = move |vm: &RwLock<SimVm>| assert_eq!(fault(vm, m, a, Access::Write), FaultOutcome::Resolved);
        let mut f = race(f, &[m, child], vec![Box::new(write), Box::new(write)]);
        assert_eq!(f.read(child, a), Ok(1), "the child keeps the page");
        f.write(m, a, 2).unwrap();
        assert_eq!(f.read(child, a), Ok(1));
        let _ = page(a);
    });
}

#[test]
fn faults_in_two_maps_entering_one_frame_keep_its_reverse_map() {
    explore(3, || {
        let (mut f, m, a) = setup(1);
        let first = f.vm.fork(m).unwrap();
        let second = f.vm.fork(m).unwrap();
        let read = move |map: MapId| move |vm: &RwLock<SimVm>| assert_eq!(fault(vm, map, a, Access::Read), FaultOutcome::Resolved);
        // Each child's fault enters the parent's frame in its own space, under that space's
        // lock only: the frame's reverse map is the one thing the two share.
        let f = race(f, &[m, first, second], vec![Box::new(read(first)), Box::new(read(second))]);
        let frames = [first, second].map(|map| translation(&f, map, a));
        assert_eq!(frames[0].map(|t| t.0), translation(&f, m, a).map(|t| t.0), "one frame for all three");
        assert_eq!(frames, [frames[0]; 2]);
        let mappings = machvm::pmap::Pmap::mappings_of(f.vm.pmap(), frames[0].expect("mapped").0);
        assert_eq!(mappings.len(), 3, "the reverse map lists the parent and both children");
    });
}
