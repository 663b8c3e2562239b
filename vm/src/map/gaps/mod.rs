//! The index of a map's free gaps ("holes"): first-fit search with alignment in O(log n).
//!
//! A [`GapTree`] holds the free ranges `[start, end)` of an address space. The ranges are
//! disjoint and never adjacent (callers merge neighbouring gaps before inserting), so each gap
//! is a maximal free range.
//!
//! # Structure
//!
//! The gaps are the nodes of an *AVL tree* keyed by gap start: at every node the heights of
//! the two subtrees differ by at most one, so a tree of `n` gaps is at most
//! `1.4405 log2(n + 2)` high *whatever the addresses*: a task that picks its fixed addresses
//! to shape the tree cannot make it deeper (the treap this replaces, whose priorities were a
//! fixed hash of each start, could be driven into a path by choosing addresses whose hashes
//! fall as the addresses rise). Every operation is O(log n) in the worst case, and every walk
//! is iterative, over a path of at most 48 nodes (`avl::MAX_HEIGHT`) held in a fixed array: no
//! recursion, no allocation, a bounded kernel-stack footprint.
//!
//! Why AVL rather than red-black or weight-balanced:
//! - the augmentation (below) must be refreshed on every node from a change up to the root,
//!   so every update walks the whole path anyway: red-black trees' O(1) rotations per
//!   update buy nothing here, and AVL's retrace is that same walk with one rule for insertion
//!   and removal (no colour cases, no double black);
//! - AVL trees are flatter (`1.44 log2 n` against `2 log2 n` for red-black), which shortens
//!   the descents that dominate: `containing` and `first_fit` on every allocation;
//! - weight-balanced trees need subtree sizes and a tuned pair of parameters for a weaker
//!   height bound.
//!
//! Every node is *augmented* with the greatest gap length in its subtree. [`GapTree::first_fit`]
//! walks the tree in address order (left subtree, node, right subtree) and skips every subtree
//! whose greatest gap is shorter than the request, and every subtree that lies entirely
//! outside `[min, max)`; without alignment the first gap long enough is found after O(log n)
//! steps.
//!
//! # Memory
//!
//! The nodes live in an arena (`Vec` of nodes) and link to each other by `u32` index; removed
//! slots go on a free list threaded through the slots themselves, and later insertions reuse
//! them. A removal that leaves the arena mostly free (fewer than a quarter of its capacity in
//! use, capacity above 64 slots, `avl::SHRINK_FLOOR`) compacts it: the live nodes move into a
//! new arena with room for twice their number, and the old one is freed, so capacity grown
//! at a peak is given back. Compaction costs O(n) for `n` live gaps and leaves a capacity of
//! `2n`; the next one needs the live count to fall below a quarter of the capacity again,
//! that is at least `n/2` more removals (or, if insertions grew the arena to `c`, at least
//! `c/4` insertions and removals): amortised O(1) per operation. The new arena is reserved
//! with `try_reserve_exact`; if that fails, the old arena simply stays.
//!
//! # Invariants
//!
//! Listed with [`GapTree`] and `avl::Node`, checked by [`GapTree::check_invariants`].

mod avl;

use alloc::vec::Vec;
use avl::{Link, Node, NodeId, Path, MAX_HEIGHT};

/// The free address ranges `[start, end)` of a map, indexed for first-fit allocation.
///
/// Invariants (checked by [`check_invariants`](Self::check_invariants)):
/// - every gap is non-empty: `start < end`;
/// - gaps are disjoint and non-adjacent: in address order, each gap ends strictly before the
///   next one starts (`end < next.start`);
/// - search-tree order: an in-order walk visits the gaps by increasing start (everything in a
///   node's left subtree lies below it, everything in its right subtree above it);
/// - AVL balance: each node's stored height is 1 + its higher child's, and its children's
///   heights differ by at most 1;
/// - augmentation: a node's `max_len` is the greatest gap length in its subtree;
/// - arena: every slot is either reachable from the root exactly once or on the free list
///   exactly once (marked by height 0), `len` counts the reachable slots.
#[derive(Clone, Debug, Default)]
pub struct GapTree {
    /// Arena of nodes, live or free.
    nodes: Vec<Node>,
    /// Head of the free list (linked through the free slots' `left`).
    free: Link,
    /// Root of the tree.
    root: Link,
    /// Number of gaps.
    len: usize,
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

    /// Adds the gap `[start, end)`. O(log n).
    ///
    /// # Panics
    ///
    /// If `start >= end`, if the new gap overlaps or touches (shares an end point with) an
    /// existing gap — callers merge neighbouring gaps first — or if the arena would need more
    /// than `2^32` slots.
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
        self.insert_leaf(start, end);
        self.len += 1;
    }

    /// Removes the gap starting exactly at `start` and returns its end, or `None` (leaving the
    /// tree unchanged) if no gap starts there. O(log n), plus an amortised O(1) for the
    /// compaction of a mostly free arena (see the module documentation).
    pub fn remove(&mut self, start: u64) -> Option<u64> {
        let end = self.remove_node(start)?;
        self.len -= 1;
        self.shrink_if_sparse();
        Some(end)
    }

    /// Moves the bounds of the gap starting at `start` to `[new_start, new_end)`, in one
    /// descent and without rebalancing: cheaper than a removal and an insertion, for the
    /// common changes of a map (a gap shrinks as memory is allocated at one of its ends, or
    /// grows as memory next to it is freed). Returns whether a gap started at `start`.
    ///
    /// # Panics
    ///
    /// If `new_start >= new_end`, or if the new bounds overlap or touch another gap (which
    /// would break the tree's order).
    pub fn resize(&mut self, start: u64, new_start: u64, new_end: u64) -> bool {
        assert!(new_start < new_end, "GapTree::resize: empty gap [{new_start:#x}, {new_end:#x})");
        if self.containing(start).is_none_or(|(s, _)| s != start) {
            return false;
        }
        assert!(
            self.keeps_place(start, new_start, new_end),
            "GapTree::resize: [{new_start:#x}, {new_end:#x}) overlaps or touches a neighbour"
        );
        self.resize_node(start, (new_start, new_end))
    }

    /// Whether `[new_start, new_end)` stays strictly between the neighbours of the gap
    /// starting at `start` (it neither overlaps nor touches them).
    fn keeps_place(&self, start: u64, new_start: u64, new_end: u64) -> bool {
        let below = self.floor(start.saturating_sub(1)).filter(|&(s, _)| s < start);
        below.is_none_or(|(_, e)| e < new_start) && self.ceiling_after(start).is_none_or(|(s, _)| new_end < s)
    }

    /// [`resize`](Self::resize) for a caller that knows the new bounds keep the gap's place
    /// (the map, whose entries lie between the gaps): the neighbours are checked only in
    /// debug builds.
    pub(crate) fn resize_within(&mut self, start: u64, new_start: u64, new_end: u64) {
        debug_assert!(new_start < new_end);
        debug_assert!(self.keeps_place(start, new_start, new_end));
        let found = self.resize_node(start, (new_start, new_end));
        debug_assert!(found, "GapTree::resize_within: no gap starts at {start:#x}");
    }

    /// The gap with the least start above `addr`, if any.
    fn ceiling_after(&self, addr: u64) -> Option<(u64, u64)> {
        let mut best = None;
        let mut link = self.root;
        while let Some(id) = link {
            let node = self.node(id);
            if node.start > addr {
                best = Some((node.start, node.end));
                link = node.left;
            } else {
                link = node.right;
            }
        }
        best
    }

    /// The gap `(start, end)` with `start <= addr < end`, if any. O(log n).
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
    /// `[min, max)`, are skipped, so without alignment the search takes O(log n) steps: the
    /// only gaps long enough that can still fail are the (at most two) gaps clipped by `min`
    /// and `max`. Alignment can make a long-enough gap unusable (its aligned start leaves
    /// fewer than `size` bytes); the search then moves on to the next candidate, so the worst
    /// case also visits every such long-but-misaligned gap that lies below the answer:
    /// O((1 + m) log n) for `m` of them. A gap at least `size + align_mask` long always fits
    /// (unless clipped by `min` or `max`). The walk is iterative, its stack a fixed array.
    pub fn first_fit(&self, size: u64, align_mask: u64, min: u64, max: u64) -> Option<u64> {
        if size == 0 || min >= max {
            return None;
        }
        let query = FitQuery { size, align_mask, min, max };
        // In-order walk; `pending` holds the nodes whose left subtree is being searched, whose
        // own gap and right subtree come next: always a subset of one root-to-node path.
        let mut pending = Path::new();
        let mut link = self.root;
        loop {
            self.descend_for_fit(link, &query, &mut pending);
            let node = self.node(pending.pop()?);
            // This gap and the right ones start at or after `node.start`, and every pending
            // node lies further right: nothing fits below `max`.
            if node.start >= query.max {
                return None;
            }
            if let Some(addr) = query.fit_gap(node.start, node.end) {
                return Some(addr);
            }
            // Right gaps start after `node.end`.
            if node.end >= query.max {
                return None;
            }
            link = node.right;
        }
    }

    /// The left-spine descent of [`first_fit`](Self::first_fit) from `link`: pushes each node
    /// whose subtree may hold a fit, and stops at a subtree with no gap long enough or whose
    /// gaps all end at or below `min`.
    fn descend_for_fit(&self, mut link: Link, query: &FitQuery, pending: &mut Path) {
        while let Some(id) = link {
            let node = self.node(id);
            if node.max_len < query.size {
                return;
            }
            pending.push(id);
            // Left gaps end before `node.start`; they are useful only if that is above `min`.
            if node.start <= query.min {
                return;
            }
            link = node.left;
        }
    }

    /// The gaps `(start, end)` in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut iter = Iter { tree: self, stack: Path::new() };
        iter.push_left_spine(self.root);
        iter
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

    /// Checks every invariant listed on [`GapTree`] and on its nodes.
    ///
    /// # Panics
    ///
    /// On the first broken invariant, naming it.
    pub fn check_invariants(&self) {
        let mut seen = alloc::vec![false; self.nodes.len()];
        let free = self.check_free_list(&mut seen);
        let reachable = self.check_reachable(&mut seen);
        assert_eq!(reachable, self.len, "GapTree: len does not count the reachable nodes");
        assert_eq!(free + reachable, self.nodes.len(), "GapTree: a slot is neither used nor free");
        let height = usize::from(self.height_of(self.root));
        assert!(height <= MAX_HEIGHT, "GapTree: height {height} above MAX_HEIGHT");
        let mut previous: Option<(u64, u64)> = None;
        for (start, end) in self.iter() {
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

    /// Walks the free list, marking its slots in `seen` (each once, each marked free), and
    /// returns its length.
    fn check_free_list(&self, seen: &mut [bool]) -> usize {
        let mut count = 0;
        let mut link = self.free;
        while let Some(id) = link {
            let slot = id as usize;
            assert!(slot < seen.len(), "GapTree: free slot {slot} outside the arena");
            assert!(!seen[slot], "GapTree: slot {slot} twice on the free list");
            seen[slot] = true;
            let node = self.node(id);
            assert!(node.height == 0 && node.right.is_none(), "GapTree: free slot {slot} in use");
            count += 1;
            link = node.left;
        }
        count
    }

    /// Visits the slots reachable from the root (depth first, on a heap stack so that a
    /// broken, deep tree is still checked), marks them in `seen` (each once), checks each
    /// node's own invariants, and returns their number.
    fn check_reachable(&self, seen: &mut [bool]) -> usize {
        let mut count = 0;
        let mut stack: Vec<NodeId> = self.root.into_iter().collect();
        while let Some(id) = stack.pop() {
            let slot = id as usize;
            assert!(slot < seen.len(), "GapTree: link {slot} outside the arena");
            assert!(!seen[slot], "GapTree: slot {slot} reachable twice or also free");
            seen[slot] = true;
            self.check_node(id);
            stack.extend(self.node(id).left);
            stack.extend(self.node(id).right);
            count += 1;
        }
        count
    }

    /// Checks the invariants of one reachable node against its children's stored values.
    fn check_node(&self, id: NodeId) {
        let Node { start, end, max_len, left, right, height } = *self.node(id);
        assert!(start < end, "GapTree: empty gap at {start:#x}");
        let (left_height, right_height) = (self.height_of(left), self.height_of(right));
        assert_eq!(
            height,
            1 + left_height.max(right_height),
            "GapTree: stale height at gap {start:#x}"
        );
        assert!(
            left_height.abs_diff(right_height) <= 1,
            "GapTree: unbalanced at gap {start:#x} ({left_height} left, {right_height} right)"
        );
        let expected = (end - start).max(self.max_len_of(left)).max(self.max_len_of(right));
        assert_eq!(max_len, expected, "GapTree: stale max_len at gap {start:#x}");
    }

    /// Height of the tree (0 when empty), as stored in the root, for tests of the balance.
    #[cfg(test)]
    fn height(&self) -> usize {
        usize::from(self.height_of(self.root))
    }
}

/// In-order iterator over the gaps.
struct Iter<'a> {
    tree: &'a GapTree,
    /// Nodes whose left subtree has been visited or is being visited, deepest last: a subset
    /// of one root-to-node path.
    stack: Path,
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
mod tests;
