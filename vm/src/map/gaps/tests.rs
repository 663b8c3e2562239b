//! Unit and property tests of the gap tree.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const PAGE: u64 = 4096;
/// The highest page-aligned address.
const TOP: u64 = u64::MAX & !(PAGE - 1);

fn tree_of(gaps: &[(u64, u64)]) -> GapTree {
    let mut tree = GapTree::new();
    for &(start, end) in gaps {
        tree.insert(start, end);
        tree.check_invariants();
    }
    tree
}

fn mask(k: u32) -> u64 {
    (1u64 << k) - 1
}

#[test]
fn empty_tree_has_nothing() {
    let mut tree = GapTree::new();
    tree.check_invariants();
    assert!(tree.is_empty());
    assert_eq!(tree.len(), 0);
    assert_eq!(tree.iter().next(), None);
    assert_eq!(tree.containing(0), None);
    assert_eq!(tree.remove(0), None);
    assert_eq!(tree.first_fit(PAGE, mask(12), 0, u64::MAX), None);
}

#[test]
fn insert_iterates_in_address_order() {
    let gaps = [(0x9000, 0xa000), (0x1000, 0x3000), (0x5000, 0x8000), (0x20000, 0x40000)];
    let tree = tree_of(&gaps);
    let mut sorted = gaps.to_vec();
    sorted.sort_unstable();
    assert_eq!(tree.iter().collect::<Vec<_>>(), sorted);
    assert_eq!(tree.len(), 4);
    assert!(!tree.is_empty());
}

#[test]
fn containing_respects_half_open_bounds() {
    let tree = tree_of(&[(0x1000, 0x3000), (0x5000, 0x8000)]);
    assert_eq!(tree.containing(0x0fff), None);
    assert_eq!(tree.containing(0x1000), Some((0x1000, 0x3000)));
    assert_eq!(tree.containing(0x2fff), Some((0x1000, 0x3000)));
    assert_eq!(tree.containing(0x3000), None);
    assert_eq!(tree.containing(0x4fff), None);
    assert_eq!(tree.containing(0x7fff), Some((0x5000, 0x8000)));
    assert_eq!(tree.containing(0x8000), None);
    assert_eq!(tree.containing(u64::MAX), None);
}

#[test]
fn remove_needs_the_exact_start() {
    let mut tree = tree_of(&[(0x1000, 0x3000), (0x5000, 0x8000), (0xa000, 0xb000)]);
    assert_eq!(tree.remove(0x2000), None);
    assert_eq!(tree.remove(0x5000), Some(0x8000));
    tree.check_invariants();
    assert_eq!(tree.remove(0x5000), None);
    assert_eq!(tree.len(), 2);
    assert_eq!(tree.containing(0x6000), None);
    assert_eq!(tree.iter().collect::<Vec<_>>(), [(0x1000, 0x3000), (0xa000, 0xb000)]);
}

#[test]
fn removed_slots_are_reused() {
    let mut tree = tree_of(&[(0x1000, 0x2000), (0x4000, 0x5000)]);
    let slots = tree.nodes.len();
    assert_eq!(tree.remove(0x1000), Some(0x2000));
    tree.insert(0x1000, 0x3000);
    tree.check_invariants();
    assert_eq!(tree.nodes.len(), slots);
    assert_eq!(tree.containing(0x2000), Some((0x1000, 0x3000)));
}

#[test]
fn resize_moves_bounds_in_place() {
    let mut tree = tree_of(&[(0x1000, 0x3000), (0x5000, 0x9000), (0xb000, 0xc000)]);
    assert!(tree.resize(0x5000, 0x4000, 0xa000));
    assert!(!tree.resize(0x6000, 0x6000, 0x7000), "no gap starts there");
    tree.check_invariants();
    assert_eq!(tree.iter().collect::<Vec<_>>(), [(0x1000, 0x3000), (0x4000, 0xa000), (0xb000, 0xc000)]);
    assert_eq!(tree.first_fit(0x6000, 0, 0, u64::MAX), Some(0x4000), "the augmentation follows");
}

#[test]
#[should_panic(expected = "touches a neighbour")]
fn resize_rejects_touching_a_neighbour() {
    let mut tree = tree_of(&[(0x1000, 0x3000), (0x5000, 0x9000)]);
    tree.resize(0x5000, 0x3000, 0x9000);
}

#[test]
#[should_panic(expected = "empty gap")]
fn insert_rejects_empty_gap() {
    GapTree::new().insert(0x1000, 0x1000);
}

#[test]
#[should_panic(expected = "overlaps or touches")]
fn insert_rejects_overlap() {
    tree_of(&[(0x1000, 0x4000)]).insert(0x3000, 0x5000);
}

#[test]
#[should_panic(expected = "overlaps or touches")]
fn insert_rejects_gap_touching_from_above() {
    tree_of(&[(0x1000, 0x4000)]).insert(0x4000, 0x5000);
}

#[test]
#[should_panic(expected = "overlaps or touches")]
fn insert_rejects_gap_touching_from_below() {
    tree_of(&[(0x1000, 0x4000)]).insert(0x0, 0x1000);
}

#[test]
#[should_panic(expected = "overlaps or touches")]
fn insert_rejects_enclosing_gap() {
    tree_of(&[(0x3000, 0x4000), (0x8000, 0x9000)]).insert(0x1000, 0x6000);
}

#[test]
fn first_fit_takes_lowest_gap_long_enough() {
    let tree = tree_of(&[(0x1000, 0x2000), (0x4000, 0x7000), (0x9000, 0x10000)]);
    assert_eq!(tree.first_fit(0x1000, 0, 0, u64::MAX), Some(0x1000));
    assert_eq!(tree.first_fit(0x2000, 0, 0, u64::MAX), Some(0x4000));
    assert_eq!(tree.first_fit(0x3000, 0, 0, u64::MAX), Some(0x4000));
    assert_eq!(tree.first_fit(0x4000, 0, 0, u64::MAX), Some(0x9000));
    assert_eq!(tree.first_fit(0x7000, 0, 0, u64::MAX), Some(0x9000));
    assert_eq!(tree.first_fit(0x8000, 0, 0, u64::MAX), None);
    assert_eq!(tree.first_fit(0, 0, 0, u64::MAX), None);
}

#[test]
fn first_fit_aligns_and_skips_misaligned_gaps() {
    let tree = tree_of(&[(0x1000, 0x5000), (0x7000, 0x9000), (0x11000, 0x20000)]);
    // 16 KiB alignment: 0x4000 in the first gap still leaves one page.
    assert_eq!(tree.first_fit(0x1000, mask(14), 0, u64::MAX), Some(0x4000));
    // Two pages: the first gap is long enough but misaligned, the second too short after
    // alignment (0x8000..0x9000), so the third one serves at 0x14000.
    assert_eq!(tree.first_fit(0x2000, mask(14), 0, u64::MAX), Some(0x14000));
    // 64 KiB alignment: 0x20000 is the gap's end, so nothing fits.
    assert_eq!(tree.first_fit(0x1000, mask(16), 0, u64::MAX), None);
    // 4 KiB alignment is no constraint for page-aligned gaps.
    assert_eq!(tree.first_fit(0x2000, mask(12), 0, u64::MAX), Some(0x1000));
}

#[test]
fn first_fit_honours_min_and_max() {
    let tree = tree_of(&[(0x1000, 0x5000), (0x7000, 0x9000), (0x11000, 0x20000)]);
    assert_eq!(tree.first_fit(0x1000, mask(12), 0x2000, u64::MAX), Some(0x2000));
    // `min` inside a gap, not aligned: round up.
    assert_eq!(tree.first_fit(0x1000, mask(12), 0x2001, u64::MAX), Some(0x3000));
    // Clipping by `min` leaves too little of the first gap.
    assert_eq!(tree.first_fit(0x2000, mask(12), 0x3001, u64::MAX), Some(0x7000));
    // `min` between gaps.
    assert_eq!(tree.first_fit(0x1000, 0, 0x5000, u64::MAX), Some(0x7000));
    // `max` clips: the range must end at or before it.
    assert_eq!(tree.first_fit(0x2000, 0, 0x5000, 0x9000), Some(0x7000));
    assert_eq!(tree.first_fit(0x2000, 0, 0x5000, 0x8fff), None);
    assert_eq!(tree.first_fit(0x3000, 0, 0x5000, 0x14000), Some(0x11000));
    assert_eq!(tree.first_fit(0x3000, 0, 0x5000, 0x13fff), None);
    // Empty or inverted window.
    assert_eq!(tree.first_fit(0x1000, 0, 0x2000, 0x2000), None);
    assert_eq!(tree.first_fit(0x1000, 0, 0x3000, 0x2000), None);
}

/// GNU Mach 2018: aligning a high candidate up with a huge mask wrapped around to a low
/// address below the map's minimum. Here the addition overflows, so there is no fit.
#[test]
fn first_fit_alignment_overflow_is_no_fit() {
    let high = 0x8000_0000_0000_1000;
    let tree = tree_of(&[(0, 0x10000), (high, TOP)]);
    // Wrapping would give (high + 2^63 - 1) & !(2^63 - 1) == 0, an address of the low gap.
    assert_eq!(tree.first_fit(PAGE, mask(63), high, u64::MAX), None);
    assert_eq!(tree.first_fit(PAGE, mask(63), 0x1000, u64::MAX), None);
    // A 2^63 boundary inside a gap is fine.
    let tree = tree_of(&[(0x1000, 0x2000), (0x7fff_ffff_ffff_0000, TOP)]);
    assert_eq!(tree.first_fit(PAGE, mask(63), 0x1000, u64::MAX), Some(1 << 63));
    // The whole-address-space mask only accepts 0.
    assert_eq!(tree.first_fit(PAGE, u64::MAX, 0, u64::MAX), None);
    let tree = tree_of(&[(0, 0x2000)]);
    assert_eq!(tree.first_fit(PAGE, u64::MAX, 0, u64::MAX), Some(0));
    assert_eq!(tree.first_fit(PAGE, u64::MAX, 1, u64::MAX), None);
}

#[test]
fn first_fit_near_the_top_of_the_address_space() {
    let low = TOP - 0x10_0000;
    let tree = tree_of(&[(0x1000, 0x2000), (low, TOP)]);
    assert_eq!(tree.first_fit(0x10_0000, 0, 0, u64::MAX), Some(low));
    assert_eq!(tree.first_fit(0x10_0000, 0, 0, TOP), Some(low));
    assert_eq!(tree.first_fit(0x10_0000, 0, 0, TOP - 1), None);
    assert_eq!(tree.first_fit(0x10_0001, 0, 0, u64::MAX), None);
    // The range would end past u64::MAX: no fit, no panic.
    assert_eq!(tree.first_fit(u64::MAX, 0, 0, u64::MAX), None);
    assert_eq!(tree.first_fit(PAGE, 0, TOP, u64::MAX), None);
    assert_eq!(tree.first_fit(PAGE, 0, TOP - PAGE, u64::MAX), Some(TOP - PAGE));
    // Aligning the top gap's start up to 2 MiB overflows; to 1 MiB it stays inside.
    assert_eq!(tree.first_fit(PAGE, mask(21), low, u64::MAX), None);
    assert_eq!(tree.first_fit(PAGE, mask(20), low, u64::MAX), Some(0xffff_ffff_fff0_0000));
    assert_eq!(tree.first_fit(PAGE, mask(20), 0, u64::MAX), Some(0xffff_ffff_fff0_0000));
    // A gap reaching u64::MAX itself (not page-aligned, which the tree tolerates).
    let tree = tree_of(&[(TOP, u64::MAX)]);
    assert_eq!(tree.first_fit(0xfff, 0, 0, u64::MAX), Some(TOP));
    assert_eq!(tree.first_fit(0x1000, 0, 0, u64::MAX), None);
    assert_eq!(tree.containing(u64::MAX - 1), Some((TOP, u64::MAX)));
    // Long enough, but the range from the raised start would end past u64::MAX.
    let tree = tree_of(&[(TOP - 0x10000, u64::MAX)]);
    assert_eq!(tree.first_fit(0xfff, 0, TOP, u64::MAX), Some(TOP));
    assert_eq!(tree.first_fit(0x1000, 0, TOP + 1, u64::MAX), None);
    assert_eq!(tree.first_fit(0x1000, 0xfff, TOP - 0x800, u64::MAX), None);
    assert_eq!(tree.first_fit(0x800, 0, TOP - 0x800, u64::MAX), Some(TOP - 0x800));
}

#[test]
fn sequential_inserts_stay_balanced() {
    let mut tree = GapTree::new();
    let n = 1u64 << 14;
    for i in 0..n {
        tree.insert(i * 2 * PAGE, i * 2 * PAGE + PAGE);
    }
    tree.check_invariants();
    // An AVL tree on 2^14 nodes is at most 1.4405 log2(n + 2) - 0.3277 < 20 high; ascending
    // inserts give a nearly perfect tree of height 15.
    assert!(tree.height() <= 15, "height {}", tree.height());
    for i in (0..n).step_by(2) {
        assert_eq!(tree.remove(i * 2 * PAGE), Some(i * 2 * PAGE + PAGE));
    }
    tree.check_invariants();
    assert_eq!(tree.len(), usize::try_from(n / 2).unwrap());
    assert_eq!(tree.first_fit(PAGE, 0, 0, u64::MAX), Some(2 * PAGE));
}

/// The reference first fit: a linear scan in 128-bit arithmetic, where nothing overflows.
fn naive_first_fit(model: &BTreeMap<u64, u64>, q: &FitQuery) -> Option<u64> {
    let mask = u128::from(q.align_mask);
    let size = u128::from(q.size);
    model.iter().find_map(|(&start, &end)| {
        let lowest = u128::from(start.max(q.min));
        let aligned = (lowest + mask) & !mask;
        let fits = aligned + size <= u128::from(end.min(q.max));
        fits.then(|| u64::try_from(aligned).unwrap())
    })
}

/// Whether `[start, end)` overlaps or touches a gap of `model`.
fn conflicts(model: &BTreeMap<u64, u64>, start: u64, end: u64) -> bool {
    model.range(..=end).next_back().is_some_and(|(_, &e)| e >= start)
}

#[derive(Clone, Debug)]
enum Op {
    /// Insert a gap at page `page` of `pages` pages, unless it would conflict.
    Insert { page: u64, pages: u64 },
    /// Remove the `pick % len`th gap.
    Remove { pick: usize },
    /// Remove at an address that may or may not start a gap.
    RemoveAt { page: u64 },
    /// Move the bounds of the `pick % len`th gap by whole pages (`resize`), unless the new
    /// bounds would be empty or conflict with a neighbour.
    Resize { pick: usize, start_delta: i64, end_delta: i64 },
}

/// A search bound, resolved against the model when the query runs.
#[derive(Clone, Debug)]
enum Bound {
    /// 0 for `min`, `u64::MAX` for `max`.
    Open,
    /// `base + offset`.
    InWindow(u64),
    /// `delta` bytes from the start (or the end) of the `pick % len`th gap, to probe the
    /// edges of gaps and subtrees.
    NearGap { pick: usize, at_end: bool, delta: i64 },
}

impl Bound {
    fn resolve(&self, model: &BTreeMap<u64, u64>, base: u64, open: u64) -> u64 {
        match *self {
            Bound::Open => open,
            Bound::InWindow(offset) => base.saturating_add(offset),
            Bound::NearGap { pick, at_end, delta } => {
                let gap = model.iter().nth(pick % model.len().max(1));
                let point = gap.map_or(base, |(&s, &e)| if at_end { e } else { s });
                point.saturating_add_signed(delta)
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Query {
    size: u64,
    align_mask: u64,
    min: Bound,
    max: Bound,
}

impl Query {
    fn resolve(&self, model: &BTreeMap<u64, u64>, base: u64) -> FitQuery {
        FitQuery {
            size: self.size,
            align_mask: self.align_mask,
            min: self.min.resolve(model, base, 0),
            max: self.max.resolve(model, base, u64::MAX),
        }
    }
}

/// Pages in the window the generated gaps live in.
const WINDOW: u64 = 512;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..WINDOW, 1..48u64).prop_map(|(page, pages)| Op::Insert { page, pages }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        1 => (0..WINDOW).prop_map(|page| Op::RemoveAt { page }),
        2 => (any::<usize>(), -8..=8i64, -8..=8i64).prop_map(|(pick, start_delta, end_delta)| Op::Resize { pick, start_delta, end_delta }),
    ]
}

/// Open, anywhere in the window, or within a few pages of a gap's edge; sometimes off a
/// page boundary by a byte.
fn bound() -> impl Strategy<Value = Bound> {
    let byte = prop_oneof![Just(0i64), Just(1), Just(-1)];
    prop_oneof![
        1 => Just(Bound::Open),
        1 => (0..WINDOW + 64, 0..2u64).prop_map(|(p, o)| Bound::InWindow(p * PAGE + o)),
        2 => (any::<usize>(), any::<bool>(), -4..=4i64, byte).prop_map(
            |(pick, at_end, pages, byte)| Bound::NearGap {
                pick,
                at_end,
                delta: pages * 4096 + byte,
            }
        ),
    ]
}

/// Sizes of 1 to 80 pages (mostly small, sometimes not page multiples) and alignments of
/// 4 KiB to 1 MiB.
fn query() -> impl Strategy<Value = Query> {
    let size = prop_oneof![
        (1..4u64).prop_map(|p| p * PAGE),
        (1..80u64).prop_map(|p| p * PAGE),
        1..80 * PAGE,
    ];
    (size, 12..=20u32, bound(), bound()).prop_map(|(size, k, min, max)| Query {
        size,
        align_mask: mask(k),
        min,
        max,
    })
}

/// Windows at the bottom of the address space and at its very top (where aligning up
/// overflows).
fn base() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(0x4000_0000), Just(TOP - (WINDOW + 48) * PAGE)]
}

fn apply(tree: &mut GapTree, model: &mut BTreeMap<u64, u64>, base: u64, op: &Op) {
    match *op {
        Op::Insert { page, pages } => {
            let start = base + page * PAGE;
            let end = start + pages * PAGE;
            if !conflicts(model, start, end) {
                tree.insert(start, end);
                model.insert(start, end);
            }
        }
        Op::Remove { pick } => {
            let Some(&start) = model.keys().nth(pick % model.len().max(1)) else { return };
            assert_eq!(tree.remove(start), model.remove(&start));
        }
        Op::RemoveAt { page } => {
            let start = base + page * PAGE;
            assert_eq!(tree.remove(start), model.remove(&start));
        }
        Op::Resize { pick, start_delta, end_delta } => {
            let Some((&start, &end)) = model.iter().nth(pick % model.len().max(1)) else { return };
            let (Some(new_start), Some(new_end)) = (start.checked_add_signed(start_delta * PAGE as i64), end.checked_add_signed(end_delta * PAGE as i64)) else { return };
            // `resize` keeps a gap's place: the new bounds stay strictly between its neighbours.
            let below = model.range(..start).next_back().is_some_and(|(_, &e)| e >= new_start);
            let above = model.range(start + 1..).next().is_some_and(|(&s, _)| new_end >= s);
            if new_start >= new_end || below || above {
                return;
            }
            assert!(tree.resize(start, new_start, new_end));
            model.remove(&start);
            model.insert(new_start, new_end);
        }
    }
}

fn compare(tree: &GapTree, model: &BTreeMap<u64, u64>, base: u64, queries: &[Query]) {
    tree.check_invariants();
    assert_eq!(tree.len(), model.len());
    assert!(tree.iter().eq(model.iter().map(|(&s, &e)| (s, e))));
    for q in queries {
        let q = q.resolve(model, base);
        let got = tree.first_fit(q.size, q.align_mask, q.min, q.max);
        let (size, mask, min, max) = (q.size, q.align_mask, q.min, q.max);
        assert_eq!(got, naive_first_fit(model, &q), "{size:#x} {mask:#x} {min:#x} {max:#x}");
        let probe = q.min.max(base);
        let expected = model.range(..=probe).next_back().filter(|&(_, &e)| probe < e);
        assert_eq!(tree.containing(probe), expected.map(|(&s, &e)| (s, e)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn matches_naive_model(
        base in base(),
        ops in prop::collection::vec(op(), 1..80),
        queries in prop::collection::vec(query(), 1..12),
    ) {
        let mut tree = GapTree::new();
        let mut model = BTreeMap::new();
        for op in &ops {
            apply(&mut tree, &mut model, base, op);
            compare(&tree, &model, base, &queries);
        }
    }
}

mod adversarial;
