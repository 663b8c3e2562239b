//! Inheritance at fork, copy-on-write, and the leak-freedom of repeated forks.

mod common;

use common::{pages_from, Fixture};
use machvm::pmap::{FrameAllocator, Pmap};
use machvm::{Inherit, MapId, NewMemory, Placement, Prot, PAGE_SIZE};

const ANY: Placement = Placement::Anywhere { mask: 0 };

/// A map with three regions, SHARE, COPY and NONE, each holding its first byte written.
fn three_regions(f: &mut Fixture) -> (MapId, [u64; 3]) {
    let m = f.map();
    let mut regions = [0; 3];
    for (i, inheritance) in [Inherit::Share, Inherit::Copy, Inherit::None].into_iter().enumerate() {
        let memory = NewMemory { inheritance, ..NewMemory::DEFAULT };
        let a = f.vm.allocate(m, ANY, 2, memory).unwrap().addr();
        // Keep the regions apart so they never merge.
        f.vm.allocate(m, ANY, 1, NewMemory { protection: Prot::NONE, ..NewMemory::DEFAULT }).unwrap();
        f.write(m, a, 10 + i as u8).unwrap();
        regions[i] = a;
    }
    (m, regions)
}

#[test]
fn share_copy_and_none_behave_as_inherited() {
    let mut f = Fixture::new(256);
    let (parent, [share, copy, none]) = three_regions(&mut f);
    let child = f.vm.fork(parent).unwrap();
    assert_eq!(f.read(child, share), Ok(10));
    assert_eq!(f.read(child, copy), Ok(11));
    assert_eq!(f.read(child, none), Err(machvm::FaultOutcome::InvalidAddress));
    f.write(child, share, 20).unwrap();
    f.write(child, copy, 21).unwrap();
    assert_eq!(f.read(parent, share), Ok(20), "shared writes are seen both ways");
    assert_eq!(f.read(parent, copy), Ok(11), "the parent keeps its copy");
    f.write(parent, share + 1, 30).unwrap();
    f.write(parent, copy + 1, 31).unwrap();
    assert_eq!(f.read(child, share + 1), Ok(30));
    assert_eq!(f.read(child, copy + 1), Ok(0), "the child's copy is a snapshot");
    assert!(f.vm.region(parent, share).unwrap().shared && f.vm.region(child, share).unwrap().shared);
    f.check(&[parent, child]);
    f.vm.destroy_map(child).expect("a live map");
    f.check(&[parent]);
}

#[test]
fn copy_on_write_maps_shared_pages_read_only_until_written() {
    let mut f = Fixture::new(256);
    let (parent, [_, copy, _]) = three_regions(&mut f);
    let child = f.vm.fork(parent).unwrap();
    let (ps, cs) = (f.vm.space(parent), f.vm.space(child));
    assert!(!f.vm.pmap().extract(ps, copy).unwrap().prot.contains(Prot::WRITE), "parent lost write");
    assert_eq!(f.read(child, copy), Ok(11));
    let shared = f.vm.pmap().extract(cs, copy).unwrap();
    assert_eq!(shared.frame, f.vm.pmap().extract(ps, copy).unwrap().frame, "one frame, two maps");
    f.write(child, copy, 1).unwrap();
    let private = f.vm.pmap().extract(cs, copy).unwrap();
    assert_ne!(private.frame, shared.frame);
    assert!(private.prot.contains(Prot::WRITE));
    assert_eq!(f.vm.counters().cow_faults, 1);
    f.check(&[parent, child]);
}

#[test]
fn wired_memory_is_copied_at_once_and_stays_wired_in_the_parent_only() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 2, NewMemory::DEFAULT).unwrap().addr();
    f.write(m, a, 5).unwrap();
    let (s, e) = pages_from(a, 2);
    f.vm.wire(m, s, e, Prot::DEFAULT).unwrap();
    let child = f.vm.fork(m).unwrap();
    assert_eq!(f.vm.counters().pages_copied, 2);
    assert!(f.vm.pmap().extract(f.vm.space(m), a).unwrap().prot.contains(Prot::WRITE), "the parent keeps writing");
    assert_eq!(f.vm.region(child, a).unwrap().user_wired_count, 0, "wiring is not inherited");
    f.write(m, a, 6).unwrap();
    assert_eq!(f.read(child, a), Ok(5));
    f.check(&[m, child]);
}

#[test]
fn a_shared_region_copied_again_is_a_snapshot() {
    let mut f = Fixture::new(256);
    let (parent, [share, _, _]) = three_regions(&mut f);
    let sharer = f.vm.fork(parent).unwrap();
    let (s, e) = pages_from(share, 2);
    f.vm.inherit(parent, s, e, Inherit::Copy).unwrap();
    let copier = f.vm.fork(parent).unwrap();
    f.write(sharer, share, 99).unwrap();
    assert_eq!(f.read(parent, share), Ok(99));
    assert_eq!(f.read(copier, share), Ok(10), "the copy does not follow the sharers");
    f.check(&[parent, sharer, copier]);
}

fn fork_exit_rounds(f: &mut Fixture, parent: MapId, region: u64, rounds: u64, child_writes: bool) {
    for round in 0..rounds {
        let child = f.vm.fork(parent).unwrap();
        if child_writes {
            f.write(child, region + (round % 4) * PAGE_SIZE, 1).unwrap();
        }
        f.write(parent, region + ((round + 1) % 4) * PAGE_SIZE, round as u8).unwrap();
        f.vm.destroy_map(child).expect("a live map");
    }
}

#[test]
fn ten_thousand_fork_exit_rounds_leak_nothing() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 4, NewMemory::DEFAULT).unwrap().addr();
    for i in 0..4 {
        f.write(m, a + i * PAGE_SIZE, 1).unwrap();
    }
    let before = (f.vm.object_count(), f.vm.resident_pages(), f.vm.frame_accounts());
    fork_exit_rounds(&mut f, m, a, 5_000, false);
    fork_exit_rounds(&mut f, m, a, 5_000, true);
    assert_eq!((f.vm.object_count(), f.vm.resident_pages(), f.vm.frame_accounts()), before);
    let object = f.vm.region(m, a).unwrap().object.unwrap();
    assert_eq!(f.vm.chain_length(object), 1, "chains collapse back");
    f.check(&[m]);
}

#[test]
fn chains_stay_short_while_children_live() {
    let mut f = Fixture::new(512);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT).unwrap().addr();
    f.write(m, a, 1).unwrap();
    let mut children = Vec::new();
    for round in 0..8 {
        children.push(f.vm.fork(m).unwrap());
        f.write(m, a, round).unwrap();
    }
    for (round, &child) in children.iter().enumerate() {
        let expected = if round == 0 { 1 } else { round as u8 - 1 };
        assert_eq!(f.read(child, a), Ok(expected), "child {round} sees its snapshot");
    }
    for child in children {
        f.vm.destroy_map(child).expect("a live map");
    }
    let object = f.vm.region(m, a).unwrap().object.unwrap();
    assert_eq!(f.vm.chain_length(object), 1);
    assert_eq!(f.vm.resident_pages(), 1);
    f.check(&[m]);
}

/// A page read before anyone wrote it maps the shared zero page; once the region is shared,
/// a sharer's write must show through (the zero-page translation may not stay).
#[test]
fn a_zero_page_read_then_shared_sees_the_sharers_writes() {
    let mut f = Fixture::new(256);
    let parent = f.map();
    let memory = NewMemory { inheritance: Inherit::Share, ..NewMemory::DEFAULT };
    let a = f.vm.allocate(parent, ANY, 2, memory).unwrap().addr();
    assert_eq!(f.read(parent, a), Ok(0));
    assert_eq!(f.vm.counters().zero_page_maps, 1);
    let child = f.vm.fork(parent).unwrap();
    f.write(child, a, 42).unwrap();
    assert_eq!(f.read(parent, a), Ok(42), "the parent sees the child's write");
    assert_eq!(f.read(parent, a + PAGE_SIZE), Ok(0));
    f.write(parent, a + PAGE_SIZE, 7).unwrap();
    assert_eq!(f.read(child, a + PAGE_SIZE), Ok(7));
    f.check(&[parent, child]);
}

/// The zero page taken at start-up is the only frame it ever uses: read faults after it take
/// none, and tearing every map down gives back everything else (the kernel's whole-boot frame
/// check relies on this).
#[test]
fn a_zero_page_reserved_at_start_up_is_the_only_one() {
    let mut f = Fixture::new(256);
    f.vm.reserve_zero_page().expect("a frame");
    let reserved = f.vm.frames().free_frames();
    assert_eq!(reserved, f.baseline - 1);
    let map = f.map();
    let a = f.vm.allocate(map, Placement::Anywhere { mask: 0 }, 4, NewMemory::DEFAULT).expect("room").addr();
    for page in 0..4 {
        assert_eq!(f.read(map, a + page * PAGE_SIZE), Ok(0));
    }
    assert_eq!(f.vm.counters().zero_page_maps, 4);
    f.vm.destroy_map(map).expect("a live map");
    assert_eq!(f.vm.frames().free_frames(), reserved, "only the zero page stays taken");
    f.vm.reserve_zero_page().expect("already there: no new frame");
    assert_eq!(f.vm.frames().free_frames(), reserved);
}
