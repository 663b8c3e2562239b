//! The kernel heap's data structures, kept apart from the kernel so that they can be tested on
//! the host: plain data over memory handed in by the caller, no locking, no `alloc`.
//!
//! - [`classes`]: the size classes of small blocks and where their objects lie in a slab;
//! - [`slab`]: slab caches of small blocks, one 4 KiB page per slab, pages from a
//!   [`slab::PageSource`];
//! - [`bittree`] and [`buddy`]: a buddy allocator of page ranges whose free blocks are kept in
//!   hierarchical bitmaps (its metadata is fixed in size and lives outside the memory it
//!   manages, which may be unmapped);
//! - [`budget`]: the rule that splits free frames between the kernel heap and everything
//!   else.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod bittree;
pub mod buddy;
pub mod budget;
pub mod classes;
pub mod slab;

/// Bytes in a page (and in a slab).
pub const PAGE_SIZE: usize = 4096;
