//! Review tests: the cost of a call is linear in what it touches.
//!
//! Every call must cost O((pages touched + entries touched) · log n), never a product of two
//! sizes a task chooses, and no shadow chain may grow with what a task does. These tests build
//! the shapes a hostile task would (thousands of unmergeable entries or pieces, one object
//! with many shadows, a hundred copies or forks of memory written in between), check what
//! every map reads, and bound the work by structural counts (`VmCounters` work counters and
//! chain lengths), never by time.

mod common;

use common::review::*;
use common::{pages_from, Fixture};
use machvm::object::MAX_CHAIN_LENGTH;
use machvm::{MapId, NewMemory, Prot, ProtectTarget, SourceDisposal, PAGE_SIZE};

const KEEP: SourceDisposal = SourceDisposal::Keep;

/// A region of `pages` pages holding a pattern (returned), one entry per page: protections
/// alternate between read-write and read-only, so that no two entries (and no two pieces of
/// a copy of them) merge.
fn striped_source(f: &mut Fixture, map: MapId, pages: u64) -> (u64, Vec<u8>) {
    let a = f.vm.allocate(map, ANY, pages, NewMemory::DEFAULT).unwrap().addr();
    let data: Vec<u8> = (0..pages * PAGE_SIZE).map(|i| (i % 251) as u8 ^ (i / PAGE_SIZE) as u8).collect();
    f.vm.write_bytes(map, a, &data).unwrap();
    for p in (1..pages).step_by(2) {
        let (s, e) = pages_from(a + p * PAGE_SIZE, 1);
        f.vm.protect(map, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    }
    assert_eq!(entries_in(f, map, a, a + pages * PAGE_SIZE), pages, "one entry per page");
    (a, data)
}

fn entries_in(f: &Fixture, map: MapId, start: u64, end: u64) -> u64 {
    f.vm.map(map).entries().filter(|e| start <= e.start && e.end <= end).count() as u64
}

fn bytes(f: &mut Fixture, map: MapId, addr: u64, len: u64) -> Vec<u8> {
    let mut out = vec![0; len as usize];
    f.vm.read_bytes(map, addr, &mut out).unwrap();
    out
}

/// The longest shadow chain under any entry of `maps`.
fn longest_chain(f: &Fixture, maps: &[MapId]) -> usize {
    let objects = maps.iter().flat_map(|&m| f.vm.map(m).entries().filter_map(|e| e.object));
    objects.map(|o| f.vm.chain_length(o)).max().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// copy_overwrite over many pieces
// ---------------------------------------------------------------------------------------

/// `vm_copy` into an unaligned destination writes the bytes page by page; finding each
/// page's piece by a search of the copy's pieces cost pages × pieces (196 000 pages in
/// 16 001 pieces: 29 s in one call). A cursor passes each piece once.
#[test]
fn an_unaligned_overwrite_walks_the_pieces_once() {
    const PAGES: u64 = 2048;
    let mut f = Fixture::new(8192);
    let m = f.map();
    let (src, data) = striped_source(&mut f, m, PAGES);
    let (from, len) = (100, PAGES * PAGE_SIZE - 300);
    let copy = f.vm.copyin(m, src + from, len, KEEP).unwrap();
    let dst = f.vm.allocate(m, ANY, PAGES + 1, NewMemory::DEFAULT).unwrap().addr();
    let before = f.vm.counters().piece_visits;
    f.vm.copy_overwrite(m, dst + 3000, copy).unwrap();
    let visits = f.vm.counters().piece_visits - before;
    let out = bytes(&mut f, m, dst, (PAGES + 1) * PAGE_SIZE);
    assert!(out[..3000].iter().all(|&b| b == 0), "bytes before the destination untouched");
    assert!(out[3000..3000 + len as usize] == data[from as usize..(from + len) as usize], "the copy's bytes");
    assert!(out[3000 + len as usize..].iter().all(|&b| b == 0), "bytes after the destination untouched");
    // One lookup per source page, and each of the PAGES pieces passed once.
    assert!(visits <= 2 * PAGES + 1, "{visits} piece visits for {PAGES} pages in {PAGES} pieces");
    f.check(&[m]);
}

/// The virtual path replaces each destination entry with the parts of the pieces inside it;
/// trying every piece against every destination entry cost entries × pieces.
#[test]
fn an_aligned_overwrite_pairs_each_entry_with_its_pieces_once() {
    const PAGES: u64 = 1536;
    let mut f = Fixture::new(8192);
    let m = f.map();
    let (src, data) = striped_source(&mut f, m, PAGES);
    let dst = f.vm.allocate(m, ANY, PAGES, NewMemory::DEFAULT).unwrap().addr();
    let protection_of = |p: u64| if (p / 3) % 2 == 0 { Prot::ALL } else { Prot::DEFAULT };
    for p in (0..PAGES).step_by(6) {
        let (s, e) = pages_from(dst + p * PAGE_SIZE, 3);
        f.vm.protect(m, s, e, ProtectTarget::Current, Prot::ALL).unwrap();
    }
    let targets = entries_in(&f, m, dst, dst + PAGES * PAGE_SIZE);
    assert_eq!(targets, PAGES / 3, "destination entries of three pages");
    let copy = f.vm.copyin(m, src, PAGES * PAGE_SIZE, KEEP).unwrap();
    let before = f.vm.counters();
    f.vm.copy_overwrite(m, dst, copy).unwrap();
    let after = f.vm.counters();
    assert_eq!(after.pages_copied, before.pages_copied, "a virtual copy");
    assert!(bytes(&mut f, m, dst, PAGES * PAGE_SIZE) == data, "the copy's bytes");
    for p in 0..PAGES {
        assert_eq!(f.vm.region(m, dst + p * PAGE_SIZE).unwrap().protection, protection_of(p), "page {p} keeps its protection");
    }
    let visits = after.piece_visits - before.piece_visits;
    assert!(visits <= 2 * (PAGES + targets), "{visits} piece visits for {targets} entries and {PAGES} pieces");
    f.check(&[m]);
}

// ---------------------------------------------------------------------------------------
// Shadow-children lists
// ---------------------------------------------------------------------------------------

/// One object with K shadows (K copies of a region, each written): removing a shadow from
/// its backing object's list of children searched the list, so freeing the K shadows, or
/// collapsing K objects into their only shadow, cost K² in one call.
#[test]
fn unlinking_many_shadows_of_one_object_is_linear() {
    const K: u64 = 512;
    let mut f = Fixture::new(4096);
    let m = f.map();
    let src = written(&mut f, m, 4, 1);
    let mut copies = Vec::new();
    for i in 0..K {
        let id = f.vm.copyin(m, src, 4 * PAGE_SIZE, KEEP).unwrap();
        let d = f.vm.copyout(m, id, ANY).unwrap();
        f.write(m, d, i as u8).unwrap();
        copies.push(d);
    }
    let shared = f.vm.region(m, src).unwrap().object.unwrap();
    assert!(copies.iter().all(|&d| f.vm.region(m, d).unwrap().object != Some(shared)), "each copy has a shadow");
    // A snapshot of each copy, then a write: the copy's shadow is left with the snapshot and
    // a shadow of its own, and collapses into that shadow when the snapshot goes.
    let mut snapshots = Vec::new();
    for &d in &copies {
        let id = f.vm.copyin(m, d, 4 * PAGE_SIZE, KEEP).unwrap();
        snapshots.push(f.vm.copyout(m, id, ANY).unwrap());
        f.write(m, d + PAGE_SIZE, 0xee).unwrap();
    }
    let before = f.vm.counters();
    for &s in &snapshots {
        let (start, end) = pages_from(s, 4);
        f.vm.deallocate(m, start, end).unwrap();
    }
    let collapsed = f.vm.counters();
    assert_eq!(collapsed.collapses - before.collapses, K, "one collapse per snapshot");
    let visits = collapsed.child_list_visits - before.child_list_visits;
    assert!(visits <= 2 * K, "{visits} child-list visits for {K} collapses");
    for (i, &d) in copies.iter().enumerate() {
        assert_eq!(contents(&mut f, m, d, 3), [Ok(i as u8), Ok(0xee), Ok(3)], "copy {i}");
    }
    for &d in &copies {
        let (start, end) = pages_from(d, 4);
        f.vm.deallocate(m, start, end).unwrap();
    }
    let visits = f.vm.counters().child_list_visits - collapsed.child_list_visits;
    assert!(visits <= 2 * K, "{visits} child-list visits for {K} shadows freed");
    assert_eq!(contents(&mut f, m, src, 4), [Ok(1), Ok(2), Ok(3), Ok(4)]);
    f.check(&[m]);
}

// ---------------------------------------------------------------------------------------
// Shadow-chain length
// ---------------------------------------------------------------------------------------

/// `vm_copy` of a region, then a write to it, a hundred times: each copy kept the object the
/// region had, and each write put a shadow in front of it, so the region's chain grew by one
/// per round (with no bound but the entry limit) and every page lookup walked it.
#[test]
fn repeated_copies_of_written_memory_keep_chains_short() {
    const ROUNDS: u64 = 100;
    let mut f = Fixture::new(4096);
    let m = f.map();
    let src = written(&mut f, m, 4, 0xf0);
    let mut copies = Vec::new();
    for round in 0..ROUNDS {
        let d = f.vm.allocate(m, ANY, 4, NewMemory::DEFAULT).unwrap().addr();
        let id = f.vm.copyin(m, src, 4 * PAGE_SIZE, KEEP).unwrap();
        f.vm.copy_overwrite(m, d, id).unwrap();
        f.write(m, src, round as u8).unwrap();
        copies.push(d);
    }
    let longest = longest_chain(&f, &[m]);
    assert!(longest <= MAX_CHAIN_LENGTH, "a chain of {longest} objects");
    for (round, &d) in copies.iter().enumerate() {
        let expected = if round == 0 { 0xf0 } else { round as u8 - 1 };
        assert_eq!(contents(&mut f, m, d, 2), [Ok(expected), Ok(0xf1)], "copy {round} reads its snapshot");
    }
    assert_eq!(f.read(m, src), Ok(ROUNDS as u8 - 1));
    f.check(&[m]);
}

/// A fork, then a write by the parent, a hundred times with every child alive: one more
/// object in the parent's chain per fork.
#[test]
fn forks_of_written_memory_keep_chains_short() {
    const ROUNDS: u8 = 100;
    let mut f = Fixture::new(4096);
    let m = f.map();
    let a = written(&mut f, m, 2, 0xf0);
    let mut children = Vec::new();
    for round in 0..ROUNDS {
        children.push(f.vm.fork(m).unwrap());
        f.write(m, a, round).unwrap();
    }
    let mut maps = children.clone();
    maps.push(m);
    let longest = longest_chain(&f, &maps);
    assert!(longest <= MAX_CHAIN_LENGTH, "a chain of {longest} objects");
    for (round, &child) in children.iter().enumerate() {
        let expected = if round == 0 { 0xf0 } else { round as u8 - 1 };
        assert_eq!(contents(&mut f, child, a, 2), [Ok(expected), Ok(0xf1)], "child {round} reads its snapshot");
    }
    f.check(&maps);
    for child in children {
        f.vm.destroy_map(child).expect("a live map");
    }
    let object = f.vm.region(m, a).unwrap().object.unwrap();
    assert_eq!(f.vm.chain_length(object), 1, "the chain collapses back");
    f.check(&[m]);
}
