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
mod tests;
