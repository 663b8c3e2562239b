//! Invalidation across processors: a flush sends one shootdown round to the other processors
//! where a space it names is loaded, and marks the space stale everywhere else.

mod common;

use common::Fixture;
use machvm_pmap_x86::sim::MmuEvent;
use machvm::pmap::{Pmap, TlbFlush, Wiring};
use machvm::{Page, PageRange, Prot};

const A: u64 = 0x40_0000;
const B: u64 = 0x80_0000;

fn page(addr: u64) -> Page {
    Page::from_aligned(addr).unwrap()
}

fn pages(addr: u64, count: u64) -> PageRange {
    PageRange::from_start(page(addr), count).unwrap()
}

/// Runs the following calls on processor `cpu`.
fn on(f: &mut Fixture, cpu: usize) {
    f.pmap.mmu().set_cpu(cpu);
}

fn shootdowns(f: &Fixture) -> Vec<MmuEvent> {
    f.pmap.mmu().events().iter().filter(|e| matches!(e, MmuEvent::Shootdown(..))).cloned().collect()
}

fn map(f: &mut Fixture, space: machvm::pmap::SpaceId, addr: u64, data: usize) {
    let flush = f.pmap.enter(space, page(addr), f.data[data], Prot::DEFAULT, Wiring::Pageable).unwrap();
    f.apply(flush);
}

#[test]
fn a_space_loaded_on_two_processors_is_invalidated_here_and_shot_down_there() {
    let mut f = Fixture::new(false);
    let s = f.space();
    map(&mut f, s, A, 0);
    on(&mut f, 1);
    f.pmap.activate(s);
    on(&mut f, 0);
    f.pmap.activate(s);
    assert_eq!(f.pmap.active_cpus(s), 0b11);
    f.pmap.mmu().clear_events();
    let flush = f.pmap.protect(s, pages(A, 1), Prot::READ);
    f.apply(flush);
    let root = f.pmap.root(s);
    assert_eq!(
        f.pmap.mmu().events(),
        [MmuEvent::InvalidatePage(A), MmuEvent::Shootdown(0b10, Some(vec![(root, A)]))]
    );
    assert_eq!(f.pmap.stats().shootdowns, 1);
}

#[test]
fn a_space_loaded_elsewhere_only_is_shot_down_without_a_local_invalidation() {
    let mut f = Fixture::new(false);
    let s = f.space();
    map(&mut f, s, A, 0);
    on(&mut f, 3);
    f.pmap.activate(s);
    on(&mut f, 0);
    f.pmap.mmu().clear_events();
    let flush = f.pmap.remove(s, pages(A, 1));
    f.apply(flush);
    let root = f.pmap.root(s);
    assert_eq!(f.pmap.mmu().events(), [MmuEvent::Shootdown(0b1000, Some(vec![(root, A)]))]);
}

#[test]
fn a_space_loaded_nowhere_gets_no_shootdown_and_is_flushed_where_it_is_loaded_next() {
    let mut f = Fixture::new(true);
    let (s, other) = (f.space(), f.space());
    map(&mut f, s, A, 0);
    for cpu in [1, 2] {
        on(&mut f, cpu);
        f.pmap.activate(s);
        f.pmap.activate(other);
    }
    on(&mut f, 0);
    let flush = f.pmap.protect(s, pages(A, 1), Prot::READ);
    f.apply(flush);
    assert!(shootdowns(&f).is_empty(), "nobody has the space loaded");
    let root = f.pmap.root(s);
    for cpu in [1, 2] {
        on(&mut f, cpu);
        f.pmap.mmu().clear_events();
        f.pmap.activate(s);
        let pcid = match f.pmap.mmu().events()[..] {
            [MmuEvent::SwitchTo(r, pcid, keep)] => {
                assert_eq!(r, root);
                assert!(!keep, "processor {cpu} flushes the stale PCID");
                pcid
            }
            ref other => panic!("one switch expected, got {other:?}"),
        };
        f.pmap.activate(other);
        f.pmap.mmu().clear_events();
        f.pmap.activate(s);
        assert_eq!(f.pmap.mmu().events(), [MmuEvent::SwitchTo(root, pcid, true)], "clean again on {cpu}");
    }
}

#[test]
fn one_flush_naming_two_spaces_sends_one_round_to_both_processors() {
    let mut f = Fixture::new(false);
    let (s1, s2) = (f.space(), f.space());
    map(&mut f, s1, A, 0);
    map(&mut f, s2, B, 1);
    on(&mut f, 1);
    f.pmap.activate(s1);
    on(&mut f, 2);
    f.pmap.activate(s2);
    on(&mut f, 0);
    let mut flush = TlbFlush::new();
    flush.merge(f.pmap.protect(s1, pages(A, 1), Prot::READ));
    flush.merge(f.pmap.protect(s2, pages(B, 1), Prot::READ));
    f.apply(flush);
    let (r1, r2) = (f.pmap.root(s1), f.pmap.root(s2));
    assert_eq!(shootdowns(&f), [MmuEvent::Shootdown(0b110, Some(vec![(r1, A), (r2, B)]))]);
}

#[test]
fn a_processor_that_switched_away_is_no_longer_a_target() {
    let mut f = Fixture::new(false);
    let s = f.space();
    map(&mut f, s, A, 0);
    on(&mut f, 1);
    f.pmap.activate(s);
    f.pmap.deactivate();
    assert_eq!(f.pmap.active_cpus(s), 0);
    on(&mut f, 0);
    let flush = f.pmap.remove(s, pages(A, 1));
    f.apply(flush);
    assert!(shootdowns(&f).is_empty());
}

#[test]
fn flushing_everything_reaches_every_processor_with_a_space_loaded() {
    let mut f = Fixture::new(false);
    let (s1, s2) = (f.space(), f.space());
    map(&mut f, s1, A, 0);
    on(&mut f, 1);
    f.pmap.activate(s1);
    on(&mut f, 4);
    f.pmap.activate(s2);
    on(&mut f, 0);
    let mut flush = f.pmap.protect(s1, pages(A, 1), Prot::READ);
    for i in 0..=machvm::pmap::FLUSH_BATCH as u64 {
        flush.add_page(s1, page(B + i * 4096));
    }
    assert!(matches!(flush.targets(), machvm::pmap::TlbFlushTargets::Everything), "past the batch, everything");
    f.apply(flush);
    assert_eq!(shootdowns(&f), [MmuEvent::Shootdown(0b1_0010, None)]);
}

#[test]
#[should_panic(expected = "loaded on a processor")]
fn destroying_a_space_loaded_on_another_processor_is_refused() {
    let mut f = Fixture::new(false);
    let s = f.space();
    on(&mut f, 1);
    f.pmap.activate(s);
    on(&mut f, 0);
    let flush = f.pmap.destroy(s);
    f.apply(flush);
}

#[test]
fn a_processor_that_leaves_a_space_before_its_shootdown_flushes_when_it_returns() {
    let mut f = Fixture::new(true);
    let (s, other) = (f.space(), f.space());
    map(&mut f, s, A, 0);
    for cpu in [1, 0] {
        on(&mut f, cpu);
        f.pmap.activate(s);
    }
    // Processor 0 flushes while processor 1 has the space loaded; processor 1 switches away
    // before the interrupt reaches it (its handler then finds another space loaded and
    // invalidates nothing), so its PCID still caches the old translation.
    let flush = f.pmap.protect(s, pages(A, 1), Prot::READ);
    f.apply(flush);
    assert_eq!(shootdowns(&f).len(), 1, "processor 1 was interrupted");
    on(&mut f, 1);
    f.pmap.activate(other);
    f.pmap.mmu().clear_events();
    f.pmap.activate(s);
    let root = f.pmap.root(s);
    assert!(
        matches!(f.pmap.mmu().events()[..], [MmuEvent::SwitchTo(r, _, false)] if r == root),
        "the return flushes the PCID: {:?}",
        f.pmap.mmu().events()
    );
}

#[test]
fn an_activation_between_a_flush_and_its_round_is_either_interrupted_or_flushed() {
    // The two orders of a flush on processor 0 and an activation on processor 1, interleaved
    // at the step that matters: the activation's mask bit set before or after the flush
    // reads the mask.
    let mut f = Fixture::new(true);
    let s = f.space();
    map(&mut f, s, A, 0);
    on(&mut f, 1);
    f.pmap.activate(s);
    on(&mut f, 0);
    let flush = f.pmap.protect(s, pages(A, 1), Prot::READ);
    f.apply(flush);
    assert_eq!(shootdowns(&f).len(), 1, "activated before the flush: interrupted");
    f.pmap.mmu().clear_events();
    on(&mut f, 1);
    f.pmap.deactivate();
    on(&mut f, 0);
    let flush = f.pmap.protect(s, pages(A, 1), Prot::NONE);
    f.apply(flush);
    assert!(shootdowns(&f).is_empty(), "loaded nowhere else: no round");
    on(&mut f, 1);
    f.pmap.mmu().clear_events();
    f.pmap.activate(s);
    assert!(matches!(f.pmap.mmu().events()[..], [MmuEvent::SwitchTo(_, _, false)]), "activated after: flushed");
}
