//! Memory objects: the pages behind map entries, and the shadow chains of copy-on-write.
//!
//! An object holds resident pages by page index. A *shadow* object sits in front of another
//! (its backing object) at a page offset: a page missing from the shadow is looked up in the
//! backing object, at `index + shadow_offset`, and so on down the chain. Copy-on-write makes a
//! shadow on the first write and copies the page into it.
//!
//! ```text
//!  entry ──▶ S (shadow: private copies) ──▶ O (shared, read-only to both sides) ──▶ ...
//! ```
//!
//! Invariants (checked by `Vm::check_invariants`):
//! - `refs` counts the map entries, shadow objects and memory entries referring to the
//!   object; an object with `refs == 0` does not exist;
//! - `children` lists exactly the objects whose `shadow` is this one, and each child's
//!   `child_slot` is its position in that list;
//! - every page index is below `size`;
//! - a frame belongs to at most one object.

use crate::addr::Frame;
use crate::sync::{Lock, LockGuard};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The longest shadow chain (objects from an entry's object down to the last backing object,
/// counted as [`Vm::chain_length`](crate::Vm::chain_length) does) that can exist.
///
/// Every walk of a chain (a fault's page lookup, a byte copy, an eager copy) costs its length
/// per page, so the length must not be a size a task chooses. Chains grow only when memory
/// shared copy-on-write (`needs_copy`) is written or shared: a lazy snapshot of an object is
/// taken only while its chain is shorter than this, and a longer one is copied at once (as
/// wired memory is), so the shadow a later write makes is at most this long.
pub const MAX_CHAIN_LENGTH: usize = 32;

/// Identifies an object in the VM's object table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
///
/// Generational: the id of a freed object names nothing, even once its slot is reused.
pub struct ObjectId(pub(crate) crate::slab::Key);

/// Resident pages, by page index within an object.
///
/// Behind a lock: the faults that run side by side under a shared VM lock
/// ([`Vm::fault_shared`](crate::Vm::fault_shared)) look pages up and insert them
/// ([`Pages::lock`]); code holding the VM exclusively uses [`Pages::map`], which does not
/// lock.
#[derive(Debug, Default)]
pub struct Pages(Lock<BTreeMap<u64, Frame>>);

impl Pages {
    /// The pages, through exclusive access.
    pub fn map(&mut self) -> &mut BTreeMap<u64, Frame> {
        self.0.get_mut()
    }

    /// The pages, locked.
    pub fn lock(&self) -> LockGuard<'_, BTreeMap<u64, Frame>> {
        self.0.lock()
    }

    /// The frame at `index`, if resident.
    pub fn get(&self, index: u64) -> Option<Frame> {
        self.lock().get(&index).copied()
    }

    /// Resident pages.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no page is resident.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Takes every page out.
    pub fn take(&mut self) -> BTreeMap<u64, Frame> {
        core::mem::take(self.map())
    }
}

/// An anonymous memory object.
#[derive(Debug)]
pub struct VmObject {
    /// Resident pages, by page index within the object.
    pub pages: Pages,
    /// The backing object and the page offset of this object's page 0 in it.
    pub shadow: Option<(ObjectId, u64)>,
    /// Size in pages.
    pub size: u64,
    /// References (see the module invariants).
    pub refs: u32,
    /// Objects shadowing this one, in no particular order.
    pub children: Vec<ObjectId>,
    /// With a backing object: where this object is in the backing object's `children`, so
    /// that unlinking it never searches the list (an object may have thousands of shadows).
    pub child_slot: usize,
    /// Nobody may write the object in place: no map entry maps it shared with write in its
    /// maximum protection, and no named entry grants write. A frozen object (an executable's
    /// segment) can be copied lazily even while it is shared; a shared object that is not
    /// frozen is copied at once.
    pub frozen: bool,
    /// Device memory the object stands for (`ops::device`): it then holds no page, has no
    /// backing object and no shadow, and is never copied.
    pub device: Option<crate::ops::device::Device>,
}

impl VmObject {
    /// An empty zero-fill object of `size` pages with one reference.
    pub fn new(size: u64) -> Self {
        Self { pages: Pages::default(), shadow: None, size, refs: 1, children: Vec::new(), child_slot: 0, frozen: false, device: None }
    }

    /// A shadow of `backing` at `offset`, of `size` pages, with one reference.
    pub fn shadowing(backing: ObjectId, offset: u64, size: u64) -> Self {
        Self { shadow: Some((backing, offset)), ..Self::new(size) }
    }

    /// Whether every page of the object is resident (a shadow then hides its backing object
    /// completely).
    pub fn fully_resident(&self) -> bool {
        self.pages.len() as u64 == self.size
    }

    /// Whether the object has a resident page in `[start, start + count)`.
    pub fn has_pages_in(&self, start: u64, count: u64) -> bool {
        self.pages.lock().range(start..start.saturating_add(count)).next().is_some()
    }
}
