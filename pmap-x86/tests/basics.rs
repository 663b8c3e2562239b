//! Unit tests of the x86_64 pmap on simulated memory.

mod common;

use common::Fixture;
use machvm_pmap_x86::sim::{MmuEvent, SimFault};
use machvm_pmap_x86::USER_END;
use machvm::pmap::{PhysMemory, Pmap, PmapError, Translation, Wiring, FLUSH_BATCH};
use machvm::{Page, PageRange, Prot};

const A: u64 = 0x40_0000;

fn page(addr: u64) -> Page {
    Page::from_aligned(addr).unwrap()
}

fn pages(addr: u64, count: u64) -> PageRange {
    PageRange::from_start(page(addr), count).unwrap()
}

#[test]
fn enter_then_extract_translates_with_the_rights_given() {
    let mut f = Fixture::new(false);
    let s = f.space();
    let frame = f.data[0];
    let flush = f.pmap.enter(s, page(A), frame, Prot::DEFAULT, Wiring::Pageable).unwrap();
    assert!(flush.is_empty(), "a new mapping needs no invalidation");
    f.apply(flush);
    let expected = Translation { frame, prot: Prot::DEFAULT, wiring: Wiring::Pageable, cache: machvm::pmap::Cache::WriteBack };
    assert_eq!(f.pmap.extract(s, A + 0x123), Some(expected));
    assert_eq!(f.pmap.extract(s, A + 0x1000), None);
    let rx = f.pmap.enter(s, page(A + 0x1000), frame, Prot::READ | Prot::EXECUTE, Wiring::Wired).unwrap();
    f.apply(rx);
    let t = f.pmap.extract(s, A + 0x1000).unwrap();
    assert_eq!((t.prot, t.wiring), (Prot::READ | Prot::EXECUTE, Wiring::Wired));
    assert_eq!(f.pmap.space_counts(s), machvm::pmap::SpaceCounts { resident: 2, wired: 1 });
}

#[test]
fn hardware_implies_read() {
    let mut f = Fixture::new(false);
    let s = f.space();
    let flush = f.pmap.enter(s, page(A), f.data[0], Prot::WRITE, Wiring::Pageable).unwrap();
    f.apply(flush);
    assert_eq!(f.pmap.extract(s, A).unwrap().prot, Prot::READ | Prot::WRITE);
}

#[test]
fn the_kernel_half_is_shared_and_not_user_mappable() {
    let mut f = Fixture::new(false);
    let window = f.arena.window();
    // Fake kernel entries 256 and 511 in the kernel's top-level table.
    window.write(f.kernel_root, 256 * 8, &(f.data[5].addr() | 1).to_le_bytes());
    window.write(f.kernel_root, 511 * 8, &(f.data[6].addr() | 1).to_le_bytes());
    let s = f.space();
    f.pmap.check_invariants(); // checks that entries 256..512 equal the kernel's
    let mut entry = [0u8; 8];
    window.read(f.pmap.root(s), 511 * 8, &mut entry);
    assert_eq!(u64::from_le_bytes(entry), f.data[6].addr() | 1);
    let err = f.pmap.enter(s, page(USER_END), f.data[0], Prot::READ, Wiring::Pageable);
    assert_eq!(err.err(), Some(PmapError::InvalidAddress));
    assert_eq!(f.pmap.extract(s, USER_END), None);
}

#[test]
fn out_of_memory_changes_nothing() {
    let mut f = Fixture::new(false);
    let s = f.space();
    // Leave exactly two frames: a new path needs three tables (P3, P2, P1).
    let frames = machvm::pmap::FrameAllocator::allocate_frame;
    let sim = machvm_pmap_x86::sim::SimFrames(f.arena.clone());
    let mut hoard = Vec::new();
    while f.free() > 2 {
        hoard.push(frames(&sim).unwrap());
    }
    let before = (f.free(), f.pmap.stats());
    let err = f.pmap.enter(s, page(A), f.data[0], Prot::READ, Wiring::Pageable);
    assert_eq!(err.err(), Some(PmapError::OutOfMemory));
    assert_eq!((f.free(), f.pmap.stats()), before);
    assert_eq!(f.pmap.extract(s, A), None);
    f.pmap.check_invariants();
    hoard.into_iter().for_each(|fr| machvm::pmap::FrameAllocator::deallocate_frame(&sim, fr));
    let ok = f.pmap.enter(s, page(A), f.data[0], Prot::READ, Wiring::Pageable).unwrap();
    f.apply(ok);
}

#[test]
fn emptied_tables_are_released_only_by_the_flush() {
    let mut f = Fixture::new(false);
    let s = f.space();
    let start = f.free();
    let flush = f.pmap.enter(s, page(A), f.data[0], Prot::READ, Wiring::Pageable).unwrap();
    f.apply(flush);
    assert_eq!(f.free(), start - 3, "P3, P2 and P1 tables were built");
    let flush = f.pmap.remove(s, pages(A, 1));
    assert_eq!(f.free(), start - 3, "no table is released before the flush");
    f.apply(flush);
    assert_eq!(f.free(), start, "the flush released all three");
    assert_eq!(f.pmap.stats().table_frames, 1, "the root alone remains");
}

#[test]
fn invalidation_is_per_page_up_to_the_batch_then_full() {
    let mut f = Fixture::new(false);
    let s = f.space();
    f.pmap.activate(s);
    let n = FLUSH_BATCH as u64;
    for (i, p) in pages(A, n + 1).pages().enumerate() {
        let flush = f.pmap.enter(s, p, f.data[i % 8], Prot::DEFAULT, Wiring::Pageable).unwrap();
        f.apply(flush);
    }
    let flush = f.pmap.protect(s, pages(A, n), Prot::READ);
    let before = f.pmap.stats().page_invalidations;
    f.apply(flush);
    assert_eq!(f.pmap.stats().page_invalidations - before, n);
    let flush = f.pmap.remove(s, pages(A, n + 1));
    f.apply(flush);
    assert_eq!(f.pmap.mmu().events().last(), Some(&MmuEvent::InvalidateAll));
}

#[test]
fn inactive_spaces_need_no_invalidation_without_pcid() {
    let mut f = Fixture::new(false);
    let s = f.space();
    let flush = f.pmap.enter(s, page(A), f.data[0], Prot::DEFAULT, Wiring::Pageable).unwrap();
    f.apply(flush);
    let flush = f.pmap.protect(s, pages(A, 1), Prot::READ);
    f.apply(flush);
    assert!(f.pmap.mmu().events().is_empty(), "{:?}", f.pmap.mmu().events());
}

#[test]
fn page_protect_reaches_every_space() {
    let mut f = Fixture::new(false);
    let (s1, s2) = (f.space(), f.space());
    let shared = f.data[3];
    for (s, addr) in [(s1, A), (s2, A + 0x20_0000), (s2, A)] {
        let flush = f.pmap.enter(s, page(addr), shared, Prot::DEFAULT, Wiring::Pageable).unwrap();
        f.apply(flush);
    }
    let flush = f.pmap.page_protect(shared, Prot::READ);
    f.apply(flush);
    for (s, addr) in [(s1, A), (s2, A + 0x20_0000), (s2, A)] {
        assert_eq!(f.pmap.extract(s, addr).unwrap().prot, Prot::READ);
        assert_eq!(f.pmap.sim_access(s, addr, true), Err(SimFault::WriteProtected));
    }
    let flush = f.pmap.page_protect(shared, Prot::NONE);
    f.apply(flush);
    assert_eq!(f.pmap.extract(s1, A), None);
    assert_eq!(f.pmap.stats().mappings, 0);
}

#[test]
fn referenced_and_modified_come_from_the_hardware_bits() {
    let mut f = Fixture::new(false);
    let s = f.space();
    let frame = f.data[1];
    let flush = f.pmap.enter(s, page(A), frame, Prot::DEFAULT, Wiring::Pageable).unwrap();
    f.apply(flush);
    assert!(!f.pmap.referenced(frame) && !f.pmap.modified(frame));
    f.pmap.sim_access(s, A, false).unwrap();
    assert!(f.pmap.referenced(frame) && !f.pmap.modified(frame));
    f.pmap.sim_access(s, A + 8, true).unwrap();
    assert!(f.pmap.modified(frame));
    let flush = f.pmap.clear_modified(frame);
    f.apply(flush);
    assert!(!f.pmap.modified(frame) && f.pmap.referenced(frame));
    let flush = f.pmap.clear_referenced(frame);
    f.apply(flush);
    assert!(!f.pmap.referenced(frame));
}

#[test]
fn unwire_clears_wiring_only_in_range() {
    let mut f = Fixture::new(false);
    let s = f.space();
    for p in pages(A, 4).pages() {
        let flush = f.pmap.enter(s, p, f.data[0], Prot::READ, Wiring::Wired).unwrap();
        f.apply(flush);
    }
    f.pmap.unwire(s, pages(A + 0x1000, 2));
    f.pmap.check_invariants();
    let wiring: Vec<_> = pages(A, 4).pages().map(|p| f.pmap.extract(s, p.addr()).unwrap().wiring).collect();
    assert_eq!(wiring, [Wiring::Wired, Wiring::Pageable, Wiring::Pageable, Wiring::Wired]);
    assert_eq!(f.pmap.stats().wired, 2);
}

#[test]
fn pcid_switches_keep_translations_unless_stale_or_reused() {
    let mut f = Fixture::new(true);
    let (s1, s2) = (f.space(), f.space());
    let (r1, r2) = (f.pmap.root(s1), f.pmap.root(s2));
    f.pmap.activate(s1);
    f.pmap.activate(s2);
    f.pmap.activate(s1);
    let flush = f.pmap.enter(s2, page(A), f.data[0], Prot::DEFAULT, Wiring::Pageable).unwrap();
    f.apply(flush);
    let flush = f.pmap.protect(s2, pages(A, 1), Prot::READ);
    f.apply(flush); // s2 is inactive: marked stale, no invlpg
    f.pmap.activate(s2);
    assert_eq!(
        f.pmap.mmu().events(),
        [
            MmuEvent::SwitchTo(r1, 1, false), // first use of a PCID flushes it
            MmuEvent::SwitchTo(r2, 2, false),
            MmuEvent::SwitchTo(r1, 1, true),
            MmuEvent::SwitchTo(r2, 2, false), // stale after the protect
        ]
    );
}

#[test]
fn destroy_returns_every_frame() {
    let mut f = Fixture::new(false);
    let start = f.free();
    let s = f.space();
    for (i, addr) in [A, 0x7fff_ffff_e000, 0x80_0000_0000, 0x1000].into_iter().enumerate() {
        let flush = f.pmap.enter(s, page(addr), f.data[i], Prot::ALL, Wiring::Wired).unwrap();
        f.apply(flush);
    }
    assert!(f.free() < start);
    let flush = f.pmap.destroy(s);
    f.apply(flush);
    assert_eq!(f.free(), start);
    assert_eq!(f.pmap.stats().table_frames, 0);
}

#[test]
fn zero_and_copy_page() {
    let mut f = Fixture::new(false);
    let window = f.arena.window();
    let (a, b) = (f.data[0], f.data[1]);
    window.write(a, 100, b"mach");
    f.pmap.copy_page(a, b);
    let mut out = [0u8; 4];
    window.read(b, 100, &mut out);
    assert_eq!(&out, b"mach");
    f.pmap.zero_page(b);
    window.read(b, 100, &mut out);
    assert_eq!(out, [0; 4]);
}

#[test]
fn tables_needed_counts_each_missing_table_once() {
    let mut f = Fixture::new(false);
    let s = f.space();
    assert_eq!(f.pmap.tables_needed(s, pages(A, 1)), 3, "P3, P2 and P1 missing");
    assert_eq!(f.pmap.tables_needed(s, pages(A, 1024)), 4, "two P1 tables under one P2");
    let before = f.arena.free_frames() as u64;
    let flush = f.pmap.enter(s, page(A), f.data[0], Prot::DEFAULT, Wiring::Pageable).unwrap();
    f.apply(flush);
    assert_eq!(before - f.arena.free_frames() as u64, 3, "the count was exact");
    assert_eq!(f.pmap.tables_needed(s, pages(A, 512)), 0, "the same P1 table");
    assert_eq!(f.pmap.tables_needed(s, pages(A + (2 << 20), 1)), 1, "a new P1 table");
    assert_eq!(f.pmap.tables_needed(s, pages(A + (1 << 30), 1)), 2, "a new P2 and P1");
    assert_eq!(f.pmap.tables_needed(s, pages(A + (512 << 30), 1)), 3, "a new P3, P2 and P1");
}

#[test]
fn wire_marks_an_existing_mapping_without_invalidating() {
    let mut f = Fixture::new(false);
    let s = f.space();
    assert!(!f.pmap.wire(s, page(A)), "nothing to wire");
    let flush = f.pmap.enter(s, page(A), f.data[0], Prot::DEFAULT, Wiring::Pageable).unwrap();
    f.apply(flush);
    assert!(f.pmap.wire(s, page(A)));
    assert!(f.pmap.wire(s, page(A)), "wiring twice counts once");
    assert_eq!(f.pmap.extract(s, A).unwrap().wiring, Wiring::Wired);
    assert_eq!(f.pmap.space_counts(s), machvm::pmap::SpaceCounts { resident: 1, wired: 1 });
    f.pmap.unwire(s, pages(A, 1));
    assert_eq!(f.pmap.space_counts(s).wired, 0);
}
