//! Balance under hostile orders, and the arena's compaction after a peak.
//!
//! Every driver step asserts the AVL height bound for the current number of gaps, and that
//! first fit and lookups still answer; the full invariant check runs every few thousand
//! steps and whenever the tree is small.

use super::super::avl::{NodeId, MAX_HEIGHT, SHRINK_FLOOR};
use super::super::GapTree;
use super::PAGE;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Where the generated gaps start: slot `i` is the one-page gap at `BASE + 2 * i * PAGE`, so
/// no two slots touch.
const BASE: u64 = 0x10_0000;
/// Gaps in the large adversarial runs.
const N: u64 = 100_000;
/// Steps between two full invariant checks in the large runs.
const CHECK_EVERY: usize = 4096;

fn slot(i: u64) -> u64 {
    BASE + 2 * i * PAGE
}

/// The height allowed for `n` gaps: the AVL bound `1.4405 log2(n + 2) - 0.3277`, rounded up.
fn bound(n: usize) -> f64 {
    1.45 * (n as f64 + 2.0).log2() + 2.0
}

/// A tree and a model of it, checked after every step.
struct Driver {
    tree: GapTree,
    model: BTreeMap<u64, u64>,
    steps: usize,
    /// Greatest height seen, and the number of gaps at that moment.
    tallest: (usize, usize),
}

impl Driver {
    fn new() -> Self {
        Driver { tree: GapTree::new(), model: BTreeMap::new(), steps: 0, tallest: (0, 0) }
    }

    fn insert(&mut self, start: u64) {
        self.tree.insert(start, start + PAGE);
        self.model.insert(start, start + PAGE);
        self.after_step(start);
    }

    fn remove(&mut self, start: u64) {
        assert_eq!(self.tree.remove(start), self.model.remove(&start), "remove {start:#x}");
        self.after_step(start);
    }

    fn after_step(&mut self, start: u64) {
        let (n, height) = (self.tree.len(), self.tree.height());
        assert_eq!(n, self.model.len());
        assert!(height as f64 <= bound(n), "height {height} for {n} gaps");
        if height > self.tallest.0 {
            self.tallest = (height, n);
        }
        let lowest = self.model.first_key_value().map(|(&s, _)| s);
        assert_eq!(self.tree.first_fit(PAGE, 0, 0, u64::MAX), lowest);
        assert_eq!(self.tree.first_fit(2 * PAGE, 0, 0, u64::MAX), None);
        let expected = self.model.get(&start).map(|&end| (start, end));
        assert_eq!(self.tree.containing(start + PAGE / 2), expected);
        self.steps += 1;
        if self.steps % CHECK_EVERY == 0 || n < 64 {
            self.tree.check_invariants();
        }
    }

    /// Inserts the gaps of `inserts`, then removes those of `removes`; checks everything at
    /// the end and returns the greatest height seen.
    fn run(inserts: impl Iterator<Item = u64>, removes: impl Iterator<Item = u64>) -> usize {
        let mut driver = Driver::new();
        inserts.for_each(|start| driver.insert(start));
        driver.tree.check_invariants();
        assert!(driver.tree.iter().eq(driver.model.iter().map(|(&s, &e)| (s, e))));
        removes.for_each(|start| driver.remove(start));
        driver.tree.check_invariants();
        driver.tallest.0
    }
}

/// `0, n - 1, 1, n - 2, ...`: from both ends towards the middle.
fn alternating(n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 })
}

/// `0..n` in a fixed pseudo-random order (a Fisher-Yates shuffle driven by xorshift).
fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, usize::try_from(x % (i as u64 + 1)).unwrap());
    }
    order
}

#[test]
fn max_height_covers_every_u32_arena() {
    // Fewest nodes of an AVL tree of height h: N(h) = N(h - 1) + N(h - 2) + 1.
    let (mut shorter, mut fewest, mut height) = (0u64, 1u64, 1usize);
    let slots = u64::from(NodeId::MAX) + 1;
    while fewest <= slots {
        (shorter, fewest, height) = (fewest, fewest + shorter + 1, height + 1);
    }
    // No arena holds a tree of `height`, so every path is shorter.
    assert!(height <= MAX_HEIGHT, "height {height} possible with {slots} slots");
    assert_eq!(height, 46);
}

#[test]
fn ascending_orders_stay_balanced() {
    let up = Driver::run((0..N).map(slot), (0..N).map(slot));
    let down = Driver::run((0..N).map(slot), (0..N).rev().map(slot));
    assert!(up <= 17 && down <= 17, "heights {up} {down}");
}

#[test]
fn descending_orders_stay_balanced() {
    let down = Driver::run((0..N).rev().map(slot), (0..N).rev().map(slot));
    let up = Driver::run((0..N).rev().map(slot), (0..N).map(slot));
    assert!(up <= 17 && down <= 17, "heights {up} {down}");
}

#[test]
fn alternating_ends_stay_balanced() {
    let height = Driver::run(alternating(N).map(slot), alternating(N).map(slot));
    assert!(height as f64 <= bound(N as usize));
}

#[test]
fn shuffled_orders_stay_balanced() {
    let inserts = shuffled(N, 0x2545_F491_4F6C_DD1D);
    let removes = shuffled(N, 0x9E37_79B9_7F4A_7C15);
    let height = Driver::run(inserts.into_iter().map(slot), removes.into_iter().map(slot));
    assert!(height as f64 <= bound(N as usize));
}

/// A queue of allocations: each new gap above the others, the oldest removed, `live` at a
/// time, as a task that keeps allocating upwards and freeing its oldest region would do.
#[test]
fn sliding_window_stays_balanced() {
    let (live, total) = (4096, 3 * N);
    let mut driver = Driver::new();
    for i in 0..total {
        driver.insert(slot(i));
        if i >= live {
            driver.remove(slot(i - live));
        }
    }
    driver.tree.check_invariants();
    assert!(driver.tallest.0 as f64 <= bound(live as usize + 1));
}

/// The treap's priority: the `splitmix64` finaliser of the gap start.
fn treap_priority(start: u64) -> u64 {
    let mut z = start.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` non-adjacent one-page gap starts, ascending, whose treap priorities descend: the
/// addresses that made the old treap a path of `n` nodes. The priority range is cut into
/// `n` bands, highest first, and each start is the next page whose priority lies in the
/// next band (about `n` pages apart).
fn treap_path(n: u64) -> Vec<u64> {
    let band = u64::MAX / n;
    let mut page = BASE / PAGE;
    (0..n)
        .map(|i| {
            let high = u64::MAX - i * band;
            while !(high - (band - 1)..=high).contains(&treap_priority(page * PAGE)) {
                page += 1;
            }
            page += 2;
            (page - 2) * PAGE
        })
        .collect()
}

#[test]
fn the_treap_degenerate_order_stays_balanced() {
    let starts = treap_path(4096);
    let priorities: Vec<u64> = starts.iter().map(|&s| treap_priority(s)).collect();
    assert!(priorities.windows(2).all(|w| w[0] > w[1]), "not a treap path");
    let n = starts.len();
    // The treap built these top-down: insert in priority order (ascending addresses), the
    // reverse, and both ends first.
    let orders = [
        Driver::run(starts.iter().copied(), starts.iter().copied()),
        Driver::run(starts.iter().rev().copied(), starts.iter().copied()),
        Driver::run(starts.iter().copied(), starts.iter().rev().copied()),
        Driver::run(
            alternating(n as u64).map(|i| starts[i as usize]),
            alternating(n as u64).map(|i| starts[i as usize]),
        ),
    ];
    for height in orders {
        assert!(height as f64 <= bound(n), "height {height} for {n} gaps (treap: {n})");
    }
}

/// Regression test: the treap's recursive insertion overflowed a 32 KiB kernel stack after a
/// few hundred gaps at these addresses. Everything now runs in a thread with such a stack.
#[test]
fn the_treap_degenerate_order_fits_a_kernel_stack() {
    let starts = treap_path(4096);
    let work = move || {
        let mut tree = GapTree::new();
        starts.iter().for_each(|&s| tree.insert(s, s + PAGE));
        for &s in starts.iter().rev() {
            assert_eq!(tree.first_fit(PAGE, 0, s, u64::MAX), Some(s));
            assert_eq!(tree.containing(s), Some((s, s + PAGE)));
        }
        assert_eq!(tree.iter().count(), starts.len());
        starts.iter().for_each(|&s| assert_eq!(tree.remove(s), Some(s + PAGE)));
        tree.is_empty()
    };
    let thread = std::thread::Builder::new().stack_size(32 * 1024).spawn(work).unwrap();
    assert!(thread.join().unwrap());
}

#[test]
fn arena_shrinks_after_a_peak() {
    let peak_len = 20_000;
    let mut driver = Driver::new();
    (0..peak_len).map(slot).for_each(|start| driver.insert(start));
    let peak = driver.tree.nodes.capacity();
    let (mut capacity, mut compactions) = (peak, 0);
    for i in shuffled(peak_len, 7).into_iter().skip(10) {
        driver.remove(slot(i));
        let now = driver.tree.nodes.capacity();
        if now != capacity {
            // A compaction: smaller, packed, room for twice the live gaps, nothing lost.
            driver.tree.check_invariants();
            assert!(now < capacity && now >= 2 * driver.tree.len(), "{capacity} -> {now}");
            assert_eq!(driver.tree.nodes.len(), driver.tree.len());
            assert!(driver.tree.iter().eq(driver.model.iter().map(|(&s, &e)| (s, e))));
            (capacity, compactions) = (now, compactions + 1);
        }
        // Never mostly free above the floor.
        assert!(now <= SHRINK_FLOOR || driver.tree.len() >= now / 4, "{now} for {i}");
    }
    assert_eq!(driver.tree.len(), 10);
    assert!(capacity <= SHRINK_FLOOR && capacity * 100 < peak, "{peak} -> {capacity}");
    // Each compaction at least halves the capacity: O(log peak) of them, O(n) each.
    assert!(compactions <= peak.ilog2() as usize, "{compactions} compactions");
    // The compacted tree grows again.
    driver.apply(&Phase::Burst { first: 0, count: peak_len });
    driver.tree.check_invariants();
    assert_eq!(driver.tree.len(), peak_len as usize);
}

#[test]
fn small_arenas_are_not_compacted() {
    let mut driver = Driver::new();
    (0..60).map(slot).for_each(|start| driver.insert(start));
    let capacity = driver.tree.nodes.capacity();
    assert!(capacity <= SHRINK_FLOOR);
    (1..60).map(slot).for_each(|start| driver.remove(start));
    assert_eq!(driver.tree.nodes.capacity(), capacity);
    assert_eq!(driver.tree.nodes.len(), 60, "freed slots stay for reuse");
}

/// Random phases of growth and shrinkage over a larger slot space.
#[derive(Clone, Debug)]
enum Phase {
    /// Insert the free slots among `first..first + count`.
    Burst { first: u64, count: u64 },
    /// Remove the `count` lowest (or highest) gaps.
    Drain { count: usize, from_top: bool },
    /// Remove the gaps whose slot index is `k (mod modulus)`.
    Thin { modulus: u64, k: u64 },
}

fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![
        3 => (0..8192u64, 1..2048u64).prop_map(|(first, count)| Phase::Burst { first, count }),
        2 => (1..2048usize, any::<bool>())
            .prop_map(|(count, from_top)| Phase::Drain { count, from_top }),
        1 => (2..5u64).prop_flat_map(|m| (Just(m), 0..m))
            .prop_map(|(modulus, k)| Phase::Thin { modulus, k }),
    ]
}

impl Driver {
    fn apply(&mut self, phase: &Phase) {
        let keys = self.model.keys().copied();
        let chosen: Vec<u64> = match *phase {
            Phase::Burst { first, count } => {
                let slots = (first..first + count).map(slot);
                let free: Vec<u64> = slots.filter(|s| !self.model.contains_key(s)).collect();
                free.into_iter().for_each(|s| self.insert(s));
                Vec::new()
            }
            Phase::Drain { count, from_top: false } => keys.take(count).collect(),
            Phase::Drain { count, from_top: true } => keys.rev().take(count).collect(),
            Phase::Thin { modulus, k } => {
                keys.filter(|s| (s - BASE) / (2 * PAGE) % modulus == k).collect()
            }
        };
        chosen.into_iter().for_each(|s| self.remove(s));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_phases_stay_balanced(phases in prop::collection::vec(phase(), 1..24)) {
        let mut driver = Driver::new();
        for phase in &phases {
            driver.apply(phase);
            driver.tree.check_invariants();
            prop_assert!(driver.tree.iter().eq(driver.model.iter().map(|(&s, &e)| (s, e))));
        }
    }
}
