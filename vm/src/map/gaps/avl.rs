//! The AVL machinery behind [`GapTree`]: the node arena, bounded paths, rotations, insertion
//! and removal with retracing, and compaction of a mostly free arena.
//!
//! Everything here is iterative. A descent records the nodes it passes in a [`Path`], a fixed
//! array of [`MAX_HEIGHT`] ids (no allocation, no recursion); the way back up pops the path
//! and rebalances each node on it.

use super::GapTree;
use alloc::vec::Vec;

/// Index of a node in the arena.
pub(super) type NodeId = u32;
/// A child link, the root or the head of the free list: `None` for an empty subtree or list.
pub(super) type Link = Option<NodeId>;

/// The greatest height any [`GapTree`] can reach, and so the length of every [`Path`].
///
/// An AVL tree of height `h` has at least `F(h + 2) - 1` nodes (`F` the Fibonacci numbers,
/// `F(1) = F(2) = 1`): the thinnest tree of height `h` is a node over the thinnest trees of
/// heights `h - 1` and `h - 2`. Node ids are `u32`, so a tree has at most `2^32` nodes, and
/// `F(48) - 1 > 2^32`: no tree reaches height 46. 48 leaves a margin; a unit test checks the
/// bound against [`NodeId`]'s width.
pub(super) const MAX_HEIGHT: usize = 48;

/// Arena capacity (in slots) at or below which a mostly free arena is kept as it is.
pub(super) const SHRINK_FLOOR: usize = 64;

/// One arena slot: a gap and the root of the subtree below it, or a free slot.
///
/// Invariants of a slot reachable from the root (checked by
/// [`GapTree::check_invariants`]):
/// - `start < end`;
/// - `height` is 1 + the greater height of its children (an empty subtree has height 0), so
///   it is at least 1;
/// - balance: the heights of `left` and `right` differ by at most 1;
/// - `max_len` is the greatest `end - start` in the subtree (this node included).
///
/// A free slot has `height == 0`, `right == None`, and `left` links to the next free slot.
#[derive(Clone, Copy, Debug)]
pub(super) struct Node {
    /// First free address.
    pub(super) start: u64,
    /// First address past the gap.
    pub(super) end: u64,
    /// Greatest `end - start` in the subtree rooted here (this node included).
    pub(super) max_len: u64,
    /// Gaps below `start` (in a free slot: the next free slot).
    pub(super) left: Link,
    /// Gaps above `end`.
    pub(super) right: Link,
    /// Height of the subtree rooted here: 1 for a leaf, 0 for a free slot.
    pub(super) height: u8,
}

impl Node {
    /// A leaf holding `[start, end)`.
    fn leaf(start: u64, end: u64) -> Self {
        Node { start, end, max_len: end - start, left: None, right: None, height: 1 }
    }

    /// A free slot whose successor on the free list is `next`.
    fn free(next: Link) -> Self {
        Node { start: 0, end: 0, max_len: 0, left: next, right: None, height: 0 }
    }
}

/// A stack of node ids, at most [`MAX_HEIGHT`] deep: the nodes from the root down to the
/// current position of a descent, or a subset of them.
pub(super) struct Path {
    ids: [NodeId; MAX_HEIGHT],
    len: usize,
}

impl Path {
    /// An empty path.
    pub(super) const fn new() -> Self {
        Path { ids: [0; MAX_HEIGHT], len: 0 }
    }

    /// Pushes `id`.
    ///
    /// # Panics
    ///
    /// If the path is full: the tree would be deeper than [`MAX_HEIGHT`], which balance rules
    /// out.
    pub(super) fn push(&mut self, id: NodeId) {
        assert!(self.len < MAX_HEIGHT, "GapTree: path deeper than MAX_HEIGHT (balance broken)");
        self.ids[self.len] = id;
        self.len += 1;
    }

    /// Pops the deepest id.
    pub(super) fn pop(&mut self) -> Option<NodeId> {
        self.len = self.len.checked_sub(1)?;
        Some(self.ids[self.len])
    }

    /// Number of ids on the path.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The deepest id, if any.
    pub(super) fn last(&self) -> Option<NodeId> {
        self.len.checked_sub(1).map(|top| self.ids[top])
    }
}

impl GapTree {
    pub(super) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id as usize]
    }

    /// Height of the subtree at `link` (0 if empty).
    pub(super) fn height_of(&self, link: Link) -> u8 {
        link.map_or(0, |id| self.node(id).height)
    }

    /// Greatest gap length in the subtree at `link` (0 if empty).
    pub(super) fn max_len_of(&self, link: Link) -> u64 {
        link.map_or(0, |id| self.node(id).max_len)
    }

    /// Links `[start, end)` into the tree as a new leaf and rebalances the path above it.
    /// The caller has checked that the gap is valid and conflicts with no other.
    pub(super) fn insert_leaf(&mut self, start: u64, end: u64) {
        let id = self.alloc(start, end);
        let mut path = Path::new();
        let mut link = self.root;
        while let Some(current) = link {
            path.push(current);
            let node = self.node(current);
            link = if start < node.start { node.left } else { node.right };
        }
        match path.last() {
            None => self.root = Some(id),
            Some(parent) => {
                let parent = self.node_mut(parent);
                if start < parent.start {
                    parent.left = Some(id);
                } else {
                    parent.right = Some(id);
                }
            }
        }
        self.retrace(&mut path, usize::MAX);
    }

    /// Unlinks the gap starting at `start` and returns its end, or `None` if no gap starts
    /// there. A node with two children takes over its in-order successor's gap, and the
    /// successor's slot (which has no left child) is unlinked instead.
    pub(super) fn remove_node(&mut self, start: u64) -> Option<u64> {
        let mut path = Path::new();
        let mut link = self.root;
        let target = loop {
            let id = link?;
            path.push(id);
            let node = self.node(id);
            link = match start.cmp(&node.start) {
                core::cmp::Ordering::Equal => break id,
                core::cmp::Ordering::Less => node.left,
                core::cmp::Ordering::Greater => node.right,
            };
        };
        let Node { end, left, right, .. } = *self.node(target);
        // `target` and the nodes above it: an early stop is safe there, not below (where
        // `target` may have taken its successor's gap).
        let changed = path.len();
        let victim = match (left, right) {
            (Some(_), Some(right)) => {
                let successor = self.leftmost(right, &mut path);
                let Node { start, end, .. } = *self.node(successor);
                let node = self.node_mut(target);
                (node.start, node.end) = (start, end);
                successor
            }
            _ => target,
        };
        path.pop();
        let Node { left, right, .. } = *self.node(victim);
        self.relink(path.last(), victim, left.or(right));
        self.release(victim);
        self.retrace(&mut path, changed);
        Some(end)
    }

    /// Gives the gap starting at `start` the bounds `[new_start, new_end)`, which keep its
    /// place in address order (the caller checked: they overlap or touch no other gap), and
    /// refreshes the augmentation on the path above it: one descent, no rotation. Returns
    /// whether a gap started at `start`.
    pub(super) fn resize_node(&mut self, start: u64, (new_start, new_end): (u64, u64)) -> bool {
        let mut path = Path::new();
        let mut link = self.root;
        while let Some(id) = link {
            path.push(id);
            let node = self.node(id);
            link = match start.cmp(&node.start) {
                core::cmp::Ordering::Equal => break,
                core::cmp::Ordering::Less => node.left,
                core::cmp::Ordering::Greater => node.right,
            };
        }
        let Some(target) = path.last().filter(|&id| self.node(id).start == start) else { return false };
        let node = self.node_mut(target);
        (node.start, node.end) = (new_start, new_end);
        // Heights do not change; the augmentation stops changing at the first node whose
        // greatest gap stays the same.
        while let Some(id) = path.pop() {
            let before = self.node(id).max_len;
            self.update(id);
            if self.node(id).max_len == before {
                break;
            }
        }
        true
    }

    /// The leftmost node of the subtree at `id`, pushing every node down to it on `path`.
    fn leftmost(&self, mut id: NodeId, path: &mut Path) -> NodeId {
        path.push(id);
        while let Some(left) = self.node(id).left {
            id = left;
            path.push(id);
        }
        id
    }

    /// Makes `new` take the place of `old` under `parent` (or as the root if `parent` is
    /// `None`).
    fn relink(&mut self, parent: Link, old: NodeId, new: Link) {
        let Some(parent) = parent else {
            self.root = new;
            return;
        };
        let node = self.node_mut(parent);
        if node.left == Some(old) {
            node.left = new;
        } else {
            debug_assert_eq!(node.right, Some(old), "GapTree: {old} is no child of {parent}");
            node.right = new;
        }
    }

    /// Walks `path` bottom-up, restoring each node's height, augmentation and balance, and
    /// relinking the subtrees that rotations gave a new root. Stops early at a node that
    /// stays the root of its subtree with the same height and augmentation (nothing above it
    /// can change), provided it lies among the first `exit_from` nodes of the path: a node
    /// deeper than that sits below one whose own gap changed, which must still be refreshed.
    fn retrace(&mut self, path: &mut Path, exit_from: usize) {
        while let Some(id) = path.pop() {
            let before = (self.node(id).height, self.node(id).max_len);
            let top = self.rebalance(id);
            if top != id {
                self.relink(path.last(), id, Some(top));
            } else if path.len() < exit_from && before == (self.node(id).height, self.node(id).max_len) {
                return;
            }
        }
    }

    /// Restores the subtree at `id`, whose children are valid AVL trees with heights that
    /// differ by at most 2; returns the subtree's new root.
    fn rebalance(&mut self, id: NodeId) -> NodeId {
        self.update(id);
        let Node { left, right, .. } = *self.node(id);
        let balance = i16::from(self.height_of(left)) - i16::from(self.height_of(right));
        match (balance, left, right) {
            (2.., Some(left), _) => {
                let inner = self.node(left);
                if self.height_of(inner.left) < self.height_of(inner.right) {
                    let top = self.rotate_left(left);
                    self.node_mut(id).left = Some(top);
                }
                self.rotate_right(id)
            }
            (..=-2, _, Some(right)) => {
                let inner = self.node(right);
                if self.height_of(inner.right) < self.height_of(inner.left) {
                    let top = self.rotate_right(right);
                    self.node_mut(id).right = Some(top);
                }
                self.rotate_left(id)
            }
            _ => id,
        }
    }

    /// Rotates the subtree at `id` to the left (its right child becomes its parent) and
    /// returns the new root.
    fn rotate_left(&mut self, id: NodeId) -> NodeId {
        let top = self.node(id).right.expect("GapTree: rotate_left without a right child");
        self.node_mut(id).right = self.node(top).left;
        self.node_mut(top).left = Some(id);
        self.update(id);
        self.update(top);
        top
    }

    /// Rotates the subtree at `id` to the right (its left child becomes its parent) and
    /// returns the new root.
    fn rotate_right(&mut self, id: NodeId) -> NodeId {
        let top = self.node(id).left.expect("GapTree: rotate_right without a left child");
        self.node_mut(id).left = self.node(top).right;
        self.node_mut(top).right = Some(id);
        self.update(id);
        self.update(top);
        top
    }

    /// Recomputes the height and augmentation of `id` from its own gap and its children.
    fn update(&mut self, id: NodeId) {
        let Node { start, end, left, right, .. } = *self.node(id);
        let height = 1 + self.height_of(left).max(self.height_of(right));
        let max_len = (end - start).max(self.max_len_of(left)).max(self.max_len_of(right));
        let node = self.node_mut(id);
        (node.height, node.max_len) = (height, max_len);
    }

    /// A fresh leaf for `[start, end)`, in a slot from the free list if there is one.
    fn alloc(&mut self, start: u64, end: u64) -> NodeId {
        if let Some(id) = self.free {
            self.free = self.node(id).left;
            *self.node_mut(id) = Node::leaf(start, end);
            return id;
        }
        let id = NodeId::try_from(self.nodes.len()).expect("GapTree: arena exceeds u32 slots");
        self.nodes.push(Node::leaf(start, end));
        id
    }

    /// Puts the unlinked slot `id` on the free list.
    fn release(&mut self, id: NodeId) {
        *self.node_mut(id) = Node::free(self.free);
        self.free = Some(id);
    }

    /// Compacts the arena if it is mostly free: fewer than a quarter of its capacity in use,
    /// and a capacity above [`SHRINK_FLOOR`].
    pub(super) fn shrink_if_sparse(&mut self) {
        let capacity = self.nodes.capacity();
        if capacity > SHRINK_FLOOR && self.len < capacity / 4 {
            self.compact();
        }
    }

    /// Moves the live nodes, in breadth-first order, into a new arena with room for twice
    /// as many, and drops the old one (free list included). The tree keeps its shape, so
    /// heights and augmentation stay valid. O(n); best effort: if the new arena cannot be
    /// allocated, the old one stays.
    fn compact(&mut self) {
        let mut packed: Vec<Node> = Vec::new();
        if packed.try_reserve_exact(2 * self.len).is_err() {
            return;
        }
        if let Some(root) = self.root {
            packed.push(*self.node(root));
        }
        // `packed` doubles as the breadth-first queue: the node at `next` still has its old
        // child links; copying its children to the back gives them their new ids.
        let mut next = 0;
        while let Some(&Node { left, right, .. }) = packed.get(next) {
            let left = left.map(|old| pack(&mut packed, *self.node(old)));
            let right = right.map(|old| pack(&mut packed, *self.node(old)));
            (packed[next].left, packed[next].right) = (left, right);
            next += 1;
        }
        self.root = self.root.map(|_| 0);
        self.nodes = packed;
        self.free = None;
    }
}

/// Appends `node` to `packed` and returns its new id.
fn pack(packed: &mut Vec<Node>, node: Node) -> NodeId {
    let id = NodeId::try_from(packed.len()).expect("GapTree: fewer live nodes than slots");
    packed.push(node);
    id
}
