//! x86_64 page tables behind the `vm` crate's [`Pmap`](vm::pmap::Pmap) contract.
//!
//! [`X86Pmap`] keeps one 4-level table tree per user address space (the kernel half of every
//! top-level table is copied from the kernel's own, so it is shared), a reverse map from frames
//! to mappings for `page_protect` and the referenced/modified queries, and per-table live counts
//! so that intermediate tables are freed as soon as they empty.
//!
//! - User leaves carry `USER`; `WRITABLE` only with [`Prot::WRITE`](vm::Prot::WRITE);
//!   `NO_EXECUTE` unless [`Prot::EXECUTE`](vm::Prot::EXECUTE) (when EFER.NXE is on). Wired
//!   leaves carry the software bit 9.
//! - The hardware's accessed and dirty bits answer the referenced and modified queries.
//! - TLB invalidation: a [`TlbFlush`](vm::pmap::TlbFlush) lists up to
//!   [`FLUSH_BATCH`](vm::pmap::FLUSH_BATCH) (32) pages, each invalidated with `invlpg` if its
//!   space is active on the processor running the flush; past that, the whole active space
//!   is flushed. Other processors where a space is loaded get one round of shootdowns per
//!   flush ([`Mmu::shootdown`]); the rest mark it stale. With PCIDs (used when the CPU has
//!   them), a processor's next activation of a space stale there reloads CR3 without the
//!   no-flush bit; without PCIDs every switch flushes anyway.
//! - Frames removed from the tables are released to the allocator only inside
//!   [`Pmap::flush`](vm::pmap::Pmap::flush), after the invalidation and the acknowledgement of
//!   every processor it was sent to.
//!
//! # Porting
//!
//! ```ignore
//! // In a kernel with physical memory mapped at PHYS_BASE:
//! let window = unsafe { pmap_x86::DirectMap::new(PHYS_BASE as *mut u8) };
//! let mmu = unsafe { pmap_x86::HardwareMmu::new(true) };
//! let mut pmap = pmap_x86::X86Pmap::new(window, my_frames, mmu, kernel_root, frame_limit);
//! let space = pmap.create()?;
//! let flush = pmap.enter(space, page, frame, Prot::DEFAULT, Wiring::Pageable)?;
//! pmap.flush(flush);
//! pmap.activate(space);
//! ```

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

mod check;
mod entry;
mod meta;
pub mod mmu;
mod ops;
mod pmap;
mod shootdown;
pub mod sim;
mod walk;
mod window;

pub use mmu::{HardwareMmu, Invalidate, Mmu, MAX_CPUS};
pub use pmap::{PmapStats, X86Pmap};
pub use walk::USER_END;
pub use window::DirectMap;
