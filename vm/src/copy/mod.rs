//! Copy objects (seeds 000 and 001's `vm_map_copy_t`): a snapshot of a range of a map, taken
//! by [`copyin`](crate::Vm::copyin) and given to a map by [`copyout`](crate::Vm::copyout)
//! (new memory) or [`copy_overwrite`](crate::Vm::copy_overwrite) (existing memory).
//!
//! Two formats, as in the seeds:
//!
//! - **entry list**: for copies of [`BUFFER_THRESHOLD`] bytes or more, of the pages the
//!   range touches (an unaligned copy keeps its offset in the first page). Each piece refers
//!   to the source's object copy-on-write (the source entry gets `needs_copy` and loses write
//!   in the pmap), so no page moves until someone writes. Wired or shared (not frozen) source
//!   memory is copied at once, as fork does, and so is memory at the end of a shadow chain
//!   of [`MAX_CHAIN_LENGTH`](crate::object::MAX_CHAIN_LENGTH) objects.
//! - **kernel buffer**: for smaller copies, the bytes themselves (so the kernel heap never
//!   holds more than the threshold per copy).
//!
//! Either way the copy is a snapshot: later writes to the source never show in it, and
//! writes to what it is copied into never show in the source.

mod copyin;
mod copyout;
mod overwrite;
mod pieces;
pub mod remap;
mod transfer;

use crate::object::ObjectId;
use crate::Prot;
use alloc::vec::Vec;

/// Copies shorter than this are kept by content.
pub const BUFFER_THRESHOLD: u64 = 16 * 1024;

/// Identifies a copy object held by a [`Vm`](crate::Vm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
///
/// Generational: once the copy is consumed or discarded, the id names nothing (calls fail
/// with [`VmError::InvalidArgument`](crate::VmError::InvalidArgument)), even after its slot
/// holds another copy.
pub struct CopyId(pub(crate) crate::slab::Key);

/// What happens to the source of a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceDisposal {
    /// The source stays (a copy).
    Keep,
    /// The source range is removed (a move, `src_destroy`).
    Destroy,
}

/// One page-aligned piece of an entry-list copy.
///
/// Invariant: with an object, holds one reference to it, and `object_offset + pages` is
/// within it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CopyPiece {
    /// First page of the piece, from the start of the copy.
    pub offset: u64,
    /// Pages in the piece.
    pub pages: u64,
    /// The memory (copy-on-write), or `None` for zero-fill memory never touched.
    pub object: Option<ObjectId>,
    /// First page of the piece in the object.
    pub object_offset: u64,
    /// The source's current protection.
    pub protection: Prot,
    /// The source's maximum protection.
    pub max_protection: Prot,
}

/// The contents of a copy.
#[derive(Debug)]
pub(crate) enum CopyData {
    /// Page-aligned pieces covering the copy in order.
    Entries(Vec<CopyPiece>),
    /// The bytes.
    Buffer(Vec<u8>),
}

/// A copy object. Invariant: the pieces of an `Entries` copy cover the pages of
/// `[page_offset, page_offset + size)` exactly, in order; a `Buffer` holds `size` bytes.
#[derive(Debug)]
pub(crate) struct VmMapCopy {
    pub data: CopyData,
    /// Size in bytes.
    pub size: u64,
    /// Offset of the source's first byte within its page (kept by copyout).
    pub page_offset: u64,
}

impl VmMapCopy {
    /// The objects the copy holds references to.
    pub fn objects(&self) -> impl Iterator<Item = ObjectId> + '_ {
        let pieces = match &self.data {
            CopyData::Entries(pieces) => pieces.as_slice(),
            CopyData::Buffer(_) => &[],
        };
        pieces.iter().filter_map(|p| p.object)
    }
}
