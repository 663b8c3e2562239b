//! Entering from several threads at once, as faults with the VM shared do: each thread in a
//! space of its own, all of them mapping one shared frame too. Afterwards every invariant
//! holds (tables, live counts, counters) and the shared frame's reverse map lists every
//! mapping exactly once.

mod common;

use common::Fixture;
use machvm::pmap::{Pmap, Wiring};
use machvm::{Page, Prot, PAGE_SIZE};

const THREADS: usize = 4;
/// Pages each thread enters: several page tables' worth, so that threads build tables while
/// the others enter.
const PAGES: u64 = 1200;

#[test]
fn threads_entering_into_their_own_spaces_keep_every_invariant() {
    let mut f = Fixture::new(false);
    let spaces: Vec<_> = (0..THREADS).map(|_| f.space()).collect();
    let shared = f.data[0];
    let own: Vec<_> = (1..=THREADS).map(|i| f.data[i]).collect();
    let pmap = &f.pmap;
    std::thread::scope(|scope| {
        for (&space, &frame) in spaces.iter().zip(&own) {
            scope.spawn(move || {
                for i in 0..PAGES {
                    // Pages spread over two P2 entries, every other one the shared frame.
                    let page = Page::containing(0x4000_0000 + i * 3 * PAGE_SIZE);
                    let data = if i % 2 == 0 { shared } else { frame };
                    let flush = pmap.enter(space, page, data, Prot::READ, Wiring::Pageable).unwrap();
                    pmap.flush(flush);
                }
            });
        }
    });
    f.pmap.check_invariants();
    let mappings = f.pmap.mappings_of(shared);
    assert_eq!(mappings.len() as u64, THREADS as u64 * PAGES.div_ceil(2), "every mapping of the shared frame, once");
    for &space in &spaces {
        assert_eq!(f.pmap.space_counts(space).resident, PAGES);
    }
    assert_eq!(f.pmap.counts().mappings, THREADS as u64 * PAGES);
}
