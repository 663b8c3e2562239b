//! The index of a map's free gaps ("holes"): first-fit search with alignment in O(log n).
//!
//! A [`GapTree`] holds the free ranges `[start, end)` of an address space. The ranges are
//! disjoint and never adjacent (callers merge neighbouring gaps before inserting), so each gap
//! is a maximal free range.
//!
//! # Structure
//!
//! The gaps are the nodes of a *treap*: a binary search tree keyed by gap start that is also a
//! max-heap on a priority. The priority of a node is a fixed 64-bit mix (the `splitmix64`
//! finaliser) of its start, so the tree needs no random-number generator, its shape depends
//! only on the set of gaps (not on the order of operations), and, for the page-aligned keys of
//! an address space, its depth behaves like that of a randomised treap: O(log n) expected. The
//! mix is a bijection on `u64`, so distinct starts have distinct priorities and the heap order
//! is strict.
//!
//! Every node is *augmented* with the greatest gap length in its subtree. [`GapTree::first_fit`]
//! walks the tree in address order (left subtree, node, right subtree) and skips every subtree
//! whose greatest gap is shorter than the request, and every subtree that lies entirely
//! outside `[min, max)`; without alignment the first gap long enough is found after O(log n)
//! steps.
//!
//! The nodes live in an arena (`Vec<Node>`) and link to each other by `u32` index; removed
//! slots go on a free list and are reused by later insertions. Insertion and removal are
//! written with the treap `split` / `merge` operations, which restore the augmentation on the
//! way back up.
//!
//! # Invariants
//!
//! Listed with [`GapTree`] and checked by [`GapTree::check_invariants`].

use alloc::vec::Vec;

/// Index of a node in the arena.
type NodeId = u32;
/// A child link or the root: `None` for an empty subtree.
type Link = Option<NodeId>;

/// One gap, and the root of the subtree below it.
#[derive(Clone, Debug)]
struct Node {
    /// First free address.
    start: u64,
    /// First address past the gap.
    end: u64,
    /// Greatest `end - start` in the subtree rooted here (this node included).
    max_len: u64,
    /// Gaps below `start`.
    left: Link,
    /// Gaps above `end`.
    right: Link,
}

/// The free address ranges `[start, end)` of a map, indexed for first-fit allocation.
///
/// Invariants (checked by [`check_invariants`](Self::check_invariants)):
/// - every gap is non-empty: `start < end`;
/// - gaps are disjoint and non-adjacent: in address order, each gap ends strictly before the
///   next one starts (`end < next.start`);
/// - search-tree order: an in-order walk visits the gaps by increasing start (everything in a
///   node's left subtree lies below it, everything in its right subtree above it);
/// - heap order: a node's priority (a fixed mix of its start) is strictly greater than its
///   children's;
/// - augmentation: a node's `max_len` is the greatest gap length in its subtree;
/// - arena: every slot is either reachable from the root exactly once or on the free list,
///   never both, and `len` counts the reachable slots.
#[derive(Clone, Debug, Default)]
pub struct GapTree {
    /// Arena of nodes; slots listed in `free` hold stale data.
    nodes: Vec<Node>,
    /// Arena slots available for reuse.
    free: Vec<NodeId>,
    /// Root of the treap.
    root: Link,
    /// Number of gaps.
    len: usize,
}

/// Treap priority of the gap starting at `start`: the `splitmix64` finaliser, a bijection.
fn priority(start: u64) -> u64 {
    let mut z = start.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The parameters of one [`GapTree::first_fit`] search.
struct FitQuery {
    size: u64,
    align_mask: u64,
    min: u64,
    max: u64,
}

impl FitQuery {
    /// The lowest suitable address inside the gap `[start, end)`, if any.
    ///
    /// All arithmetic is checked: an aligned-up address or a range end past `u64::MAX` means
    /// the gap does not fit, so a wrapped (low) address is never produced.
    fn fit_gap(&self, start: u64, end: u64) -> Option<u64> {
        let lowest = start.max(self.min);
        let aligned = lowest.checked_add(self.align_mask)? & !self.align_mask;
        let range_end = aligned.checked_add(self.size)?;
        (range_end <= end && range_end <= self.max).then_some(aligned)
    }
}

impl GapTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of gaps.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no gaps.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the gap `[start, end)`. O(log n) expected.
    ///
    /// # Panics
    ///
    /// If `start >= end`, if the new gap overlaps or touches (shares an end point with) an
    /// existing gap — callers merge neighbouring gaps first — or if the arena would need more
    /// than `u32::MAX` slots.
    pub fn insert(&mut self, start: u64, end: u64) {
        assert!(start < end, "GapTree::insert: empty gap [{start:#x}, {end:#x})");
        // Gaps are sorted and disjoint, so the last gap starting at or before `end` is the one
        // with the highest end among those that could reach `start`.
        if let Some((s, e)) = self.floor(end) {
            assert!(
                e < start,
                "GapTree::insert: [{start:#x}, {end:#x}) overlaps or touches [{s:#x}, {e:#x})"
            );
        }
        let node = self.alloc(start, end);
        let (below, above) = self.split(self.root, start);
        let lower = self.merge(below, Some(node));
        self.root = self.merge(lower, above);
        self.len += 1;
    }

    /// Removes the gap starting exactly at `start` and returns its end, or `None` (leaving the
    /// tree unchanged) if no gap starts there. O(log n) expected.
    pub fn remove(&mut self, start: u64) -> Option<u64> {
        let (root, end) = self.remove_from(self.root, start);
        self.root = root;
        if end.is_some() {
            self.len -= 1;
        }
        end
    }

    /// The gap `(start, end)` with `start <= addr < end`, if any. O(log n) expected.
    pub fn containing(&self, addr: u64) -> Option<(u64, u64)> {
        self.floor(addr).filter(|&(_, end)| addr < end)
    }

    /// The lowest address `a` such that `a & align_mask == 0`, `min <= a`, `a + size <= max`
    /// and `[a, a + size)` lies inside one gap; `None` if there is none, or if `size == 0`.
    ///
    /// `align_mask` must be of the form `2^k - 1` (`0` for no alignment, up to `u64::MAX`);
    /// aligning up is `(s + align_mask) & !align_mask`. Every addition is checked: a candidate
    /// whose alignment or end would pass `u64::MAX` does not fit, so the result never wraps
    /// below `min` (the GNU Mach 2018 bug, where a large mask wrapped the search to a low
    /// address). With any other mask the result still satisfies every condition above, but
    /// need not be the lowest.
    ///
    /// # Complexity
    ///
    /// Subtrees whose longest gap is shorter than `size`, or that lie entirely outside
    /// `[min, max)`, are skipped, so without alignment the search takes O(log n) expected
    /// steps: the only gaps long enough that can still fail are the (at most two) gaps clipped
    /// by `min` and `max`. Alignment can make a long-enough gap unusable (its aligned start
    /// leaves fewer than `size` bytes); the search then moves on to the next candidate, so
    /// the worst case also visits every such long-but-misaligned gap that lies below the
    /// answer: O((1 + m) log n) for `m` of them. A gap at least `size + align_mask` long
    /// always fits (unless clipped by `min` or `max`).
    pub fn first_fit(&self, size: u64, align_mask: u64, min: u64, max: u64) -> Option<u64> {
        if size == 0 || min >= max {
            return None;
        }
        let query = FitQuery { size, align_mask, min, max };
        self.fit_in(self.root, &query)
    }

    /// The gaps `(start, end)` in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut iter = Iter { tree: self, stack: Vec::new() };
        iter.push_left_spine(self.root);
        iter
    }

    /// Checks every invariant listed on [`GapTree`].
    ///
    /// # Panics
    ///
    /// On the first broken invariant, naming it.
    pub fn check_invariants(&self) {
        let mut seen = alloc::vec![false; self.nodes.len()];
        for &slot in &self.free {
            let slot = slot as usize;
            assert!(slot < seen.len(), "GapTree: free slot {slot} outside the arena");
            assert!(!seen[slot], "GapTree: slot {slot} twice on the free list");
            seen[slot] = true;
        }
        let reachable = self.check_subtree(self.root, None, &mut seen);
        assert_eq!(reachable, self.len, "GapTree: len does not count the reachable nodes");
        assert!(seen.iter().all(|&s| s), "GapTree: an arena slot is neither used nor free");
        let mut previous: Option<(u64, u64)> = None;
        for (start, end) in self.iter() {
            assert!(start < end, "GapTree: empty gap [{start:#x}, {end:#x})");
            if let Some((prev_start, prev_end)) = previous {
                assert!(
                    prev_end < start,
                    "GapTree: gaps [{prev_start:#x}, {prev_end:#x}) and [{start:#x}, {end:#x}) \
                     are out of order, overlap or touch"
                );
            }
            previous = Some((start, end));
        }
    }

    /// Checks the subtree at `link` (heap order against `parent_priority`, augmentation, arena
    /// slots used once, marked in `seen`) and returns its number of nodes.
    fn check_subtree(&self, link: Link, parent_priority: Option<u64>, seen: &mut [bool]) -> usize {
        let Some(id) = link else { return 0 };
        let slot = id as usize;
        assert!(slot < seen.len(), "GapTree: link {slot} outside the arena");
        assert!(!seen[slot], "GapTree: slot {slot} reachable twice or also free");
        seen[slot] = true;
        let node = self.node(id);
        assert!(node.start < node.end, "GapTree: empty gap at {:#x}", node.start);
        let own = priority(node.start);
        if let Some(parent) = parent_priority {
            assert!(own < parent, "GapTree: heap order broken at gap {:#x}", node.start);
        }
        let count = 1
            + self.check_subtree(node.left, Some(own), seen)
            + self.check_subtree(node.right, Some(own), seen);
        let children = self.max_len(node.left).max(self.max_len(node.right));
        let expected = (node.end - node.start).max(children);
        assert_eq!(node.max_len, expected, "GapTree: stale max_len at gap {:#x}", node.start);
        count
    }

    fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id as usize]
    }

    /// Greatest gap length in the subtree at `link` (0 if empty).
    fn max_len(&self, link: Link) -> u64 {
        link.map_or(0, |id| self.node(id).max_len)
    }

    /// Recomputes the augmentation of `id` from its own length and its children.
    fn update(&mut self, id: NodeId) {
        let node = self.node(id);
        let max_len =
            (node.end - node.start).max(self.max_len(node.left)).max(self.max_len(node.right));
        self.node_mut(id).max_len = max_len;
    }

    /// A fresh leaf for `[start, end)`, reusing a free slot if there is one.
    fn alloc(&mut self, start: u64, end: u64) -> NodeId {
        let node = Node { start, end, max_len: end - start, left: None, right: None };
        if let Some(id) = self.free.pop() {
            *self.node_mut(id) = node;
            return id;
        }
        let id = NodeId::try_from(self.nodes.len()).expect("GapTree: arena exceeds u32 slots");
        self.nodes.push(node);
        id
    }

    /// The gap with the greatest start `<= addr`, if any.
    fn floor(&self, addr: u64) -> Option<(u64, u64)> {
        let mut best = None;
        let mut link = self.root;
        while let Some(id) = link {
            let node = self.node(id);
            if node.start <= addr {
                best = Some((node.start, node.end));
                link = node.right;
            } else {
                link = node.left;
            }
        }
        best
    }

    /// Splits the subtree at `link` into the gaps starting below `key` and the others.
    fn split(&mut self, link: Link, key: u64) -> (Link, Link) {
        let Some(id) = link else { return (None, None) };
        let node = self.node(id);
        if node.start < key {
            let (below, above) = self.split(node.right, key);
            self.node_mut(id).right = below;
            self.update(id);
            (Some(id), above)
        } else {
            let (below, above) = self.split(node.left, key);
            self.node_mut(id).left = above;
            self.update(id);
            (below, Some(id))
        }
    }

    /// Joins two subtrees, every gap of `low` lying below every gap of `high`.
    fn merge(&mut self, low: Link, high: Link) -> Link {
        let (Some(l), Some(h)) = (low, high) else { return low.or(high) };
        if priority(self.node(l).start) > priority(self.node(h).start) {
            let right = self.merge(self.node(l).right, high);
            self.node_mut(l).right = right;
            self.update(l);
            Some(l)
        } else {
            let left = self.merge(low, self.node(h).left);
            self.node_mut(h).left = left;
            self.update(h);
            Some(h)
        }
    }

    /// Removes the gap starting at `start` from the subtree at `link`: the new subtree, and
    /// the removed gap's end.
    fn remove_from(&mut self, link: Link, start: u64) -> (Link, Option<u64>) {
        let Some(id) = link else { return (None, None) };
        let node = self.node(id);
        let (left, right, end) = (node.left, node.right, node.end);
        match start.cmp(&node.start) {
            core::cmp::Ordering::Equal => {
                self.free.push(id);
                (self.merge(left, right), Some(end))
            }
            core::cmp::Ordering::Less => {
                let (left, removed) = self.remove_from(left, start);
                self.node_mut(id).left = left;
                self.update(id);
                (Some(id), removed)
            }
            core::cmp::Ordering::Greater => {
                let (right, removed) = self.remove_from(right, start);
                self.node_mut(id).right = right;
                self.update(id);
                (Some(id), removed)
            }
        }
    }

    /// First fit within the subtree at `link`, in address order.
    fn fit_in(&self, link: Link, query: &FitQuery) -> Option<u64> {
        let node = self.node(link?);
        if node.max_len < query.size {
            return None;
        }
        // Left gaps end before `node.start`; they are useful only if that is above `min`.
        if node.start > query.min {
            if let Some(addr) = self.fit_in(node.left, query) {
                return Some(addr);
            }
        }
        // This gap and the right ones start at or after `node.start`: nothing fits below `max`.
        if node.start >= query.max {
            return None;
        }
        if let Some(addr) = query.fit_gap(node.start, node.end) {
            return Some(addr);
        }
        // Right gaps start after `node.end`.
        if node.end < query.max {
            return self.fit_in(node.right, query);
        }
        None
    }

    /// Height of the tree (0 when empty), for tests of the balance.
    #[cfg(test)]
    fn height(&self, link: Link) -> usize {
        link.map_or(0, |id| {
            let node = self.node(id);
            1 + self.height(node.left).max(self.height(node.right))
        })
    }
}

/// In-order iterator over the gaps.
struct Iter<'a> {
    tree: &'a GapTree,
    /// Nodes whose left subtree has been visited or is being visited, deepest last.
    stack: Vec<NodeId>,
}

impl Iter<'_> {
    /// Pushes `link` and its chain of left children.
    fn push_left_spine(&mut self, mut link: Link) {
        while let Some(id) = link {
            self.stack.push(id);
            link = self.tree.node(id).left;
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let id = self.stack.pop()?;
        let node = self.tree.node(id);
        self.push_left_spine(node.right);
        Some((node.start, node.end))
    }
}

#[cfg(test)]
mod tests {
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
        // A random treap on n keys has expected height ~4.3 ln n (about 42 here; the average
        // depth is ~2 ln n); a degenerate one would have height n. Allow 4 log2 n.
        assert!(tree.height(tree.root) <= 4 * 14, "height {}", tree.height(tree.root));
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
}
