//! x86_64 page tables behind the `machvm` crate's [`Pmap`](machvm::pmap::Pmap) contract.
//!
//! [`X86Pmap`] keeps one 4-level table tree per user address space (the kernel half of every
//! top-level table is copied from the kernel's own, so it is shared), a reverse map from frames
//! to mappings for `page_protect` and the referenced/modified queries, and per-table live counts
//! so that intermediate tables are freed as soon as they empty.
//!
//! - User leaves carry `USER`; `WRITABLE` only with [`Prot::WRITE`](machvm::Prot::WRITE);
//!   `NO_EXECUTE` unless [`Prot::EXECUTE`](machvm::Prot::EXECUTE) (when EFER.NXE is on). Wired
//!   leaves carry the software bit 9.
//! - The hardware's accessed and dirty bits answer the referenced and modified queries.
//! - TLB invalidation: a [`TlbFlush`](machvm::pmap::TlbFlush) lists up to
//!   [`FLUSH_BATCH`](machvm::pmap::FLUSH_BATCH) (32) pages, each invalidated with `invlpg` if its
//!   space is active on the processor running the flush; past that, the whole active space
//!   is flushed. Other processors where a space is loaded get one round of shootdowns per
//!   flush ([`Mmu::shootdown`]); the rest mark it stale. With PCIDs (used when the CPU has
//!   them), a processor's next activation of a space stale there reloads CR3 without the
//!   no-flush bit; without PCIDs every switch flushes anyway.
//! - Frames removed from the tables are released to the allocator only inside
//!   [`Pmap::flush`](machvm::pmap::Pmap::flush), after the invalidation and the acknowledgement of
//!   every processor it was sent to.
//!
//! - Locking: the contract's `&self` methods (`enter`, `flush`, `extract`, `activate`) run
//!   on several processors at once and lock one address space each, and for a moment the
//!   record of one frame; the `&mut self` methods lock nothing.
//!
//! # On the host
//!
//! [`sim`] simulates the memory (an [`Arena`](sim::Arena) of frames, reached through a
//! [`DirectMap`] as a kernel's direct map is) and the MMU ([`SimMmu`](sim::SimMmu) records
//! invalidations and switches), so the VM runs with real x86_64 page tables in a test:
//!
//! ```
//! use machvm::{Access, FaultOutcome, NewMemory, Placement};
//! let (_arena, mut vm) = machvm_pmap_x86::sim::vm(256);
//! let map = vm.create_map(machvm::api::USER_MIN, machvm::api::USER_MAX)?;
//! let at = vm.allocate(map, Placement::Anywhere { mask: 0 }, 16, NewMemory::DEFAULT)?.addr();
//! assert_eq!(vm.fault(map, at, Access::Write), FaultOutcome::Resolved);
//! vm.write_bytes(map, at, b"hello")?;
//! let child = vm.fork(map)?;
//! let mut seen = [0; 5];
//! vm.read_bytes(child, at, &mut seen)?;
//! assert_eq!(&seen, b"hello");
//! vm.destroy_map(child)?;
//! vm.destroy_map(map)?;
//! vm.check_invariants();
//! # Ok::<(), machvm::VmError>(())
//! ```
//!
//! # In a kernel
//!
//! With physical memory mapped at `PHYS_BASE`, a frame allocator of the kernel's, and the
//! boot page table's root as the kernel half (not run here: it needs ring 0):
//!
//! ```no_run
//! use machvm::pmap::{FrameAllocator, Pmap};
//! use machvm::Frame;
//! # struct MyFrames;
//! # impl FrameAllocator for MyFrames {
//! #     fn allocate_frame(&self) -> Option<Frame> { None }
//! #     fn deallocate_frame(&self, _: Frame) {}
//! #     fn free_frames(&self) -> u64 { 0 }
//! # }
//! const PHYS_BASE: u64 = 0xffff_8000_0000_0000;
//! let (boot_root, _) = x86_64::registers::control::Cr3::read();
//! let kernel_root = Frame::containing(boot_root.start_address().as_u64());
//! // SAFETY: all of physical memory is mapped at PHYS_BASE for the kernel's whole life.
//! let window = unsafe { machvm_pmap_x86::DirectMap::new(PHYS_BASE as *mut u8) };
//! // SAFETY: ring 0, once, at boot (PCID 0 in use); only this pmap writes CR3 from now on.
//! let mmu = unsafe { machvm_pmap_x86::HardwareMmu::new(true) };
//! let mut pmap = machvm_pmap_x86::X86Pmap::new(window, MyFrames, mmu, kernel_root, 1 << 20);
//! let space = pmap.create().expect("a frame for the root");
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

pub use mmu::{program_pat, HardwareMmu, Invalidate, Mmu, MAX_CPUS, PAT};
pub use pmap::{PmapStats, X86Pmap};
pub use walk::USER_END;
pub use window::DirectMap;
