//! Machine-independent Mach virtual memory.
//!
//! [`Vm`] holds every address map ([`VmMap`]: entries and a free-gap index), every memory
//! object (anonymous, with shadow chains for copy-on-write), the named memory entries, and
//! the page-fault handler ([`Vm::fault`]); its operations are the Mach VM calls in Rust form
//! (`allocate`, `deallocate`, `protect`, `inherit`, `wire`, `region`, `fork`, `map_named`...),
//! each all-or-nothing. [`api`] turns a caller's raw `(address, size)` into a checked range
//! and a [`VmError`] into a `kern_return_t`.
//!
//! Below it sits the machine-dependent layer ([`pmap`]): the [`Pmap`](pmap::Pmap) trait that a
//! port implements over its page tables, and the [`FrameAllocator`] and [`PhysMemory`] traits
//! through which the kernel lends physical memory. Nothing here names a machine, and nothing
//! here is `unsafe`. [`machvm-pmap-x86`](https://docs.rs/machvm-pmap-x86) is the x86_64 port,
//! with a simulated MMU and memory (`machvm_pmap_x86::sim`) on which all of this runs on a
//! host, in a kernel's own tests.
//!
//! # Using it in a kernel
//!
//! 1. Implement [`FrameAllocator`] over your physical frame allocator, and [`PhysMemory`]
//!    over a mapping of physical memory (or use `machvm_pmap_x86::DirectMap`).
//! 2. Implement [`Pmap`](pmap::Pmap) over your page tables, or use
//!    `machvm_pmap_x86::X86Pmap`.
//! 3. Name the three in a [`Machine`], make one [`Vm`], and keep it behind a readers-writer
//!    lock: shared for [`Vm::fault_shared`], exclusive for everything else ([`Vm`]'s
//!    locking rules).
//! 4. Create a map per address space, call the operations from your system calls (sanitize
//!    arguments with [`api::sanitize`] first), and send user page faults to
//!    [`Vm::fault_shared`], then [`Vm::fault`] if it declines.
//!
//! `PORTING.md`, beside this crate's manifest, walks through a port step by step: the
//! traits, the order of calls, the locking rules, what the fault handler needs, and testing
//! on the host.
//!
//! The whole cycle on the host, on `machvm-pmap-x86`'s simulation (the block is not run here:
//! that crate depends on this one; it runs as its crate-level example and as its
//! `examples/host.rs`):
//!
//! ```ignore
//! use machvm::{Access, FaultOutcome, NewMemory, Placement};
//! let (_arena, mut vm) = machvm_pmap_x86::sim::vm(256);
//! let map = vm.create_map(machvm::api::USER_MIN, machvm::api::USER_MAX)?;
//! let at = vm.allocate(map, Placement::Anywhere { mask: 0 }, 16, NewMemory::DEFAULT)?;
//! match vm.fault(map, at.addr(), Access::Write) {
//!     FaultOutcome::Resolved => { /* retry the access */ }
//!     other => { /* end the task: a bad access */ }
//! }
//! vm.destroy_map(map);
//! ```
//!
//! [`FrameAllocator`]: pmap::FrameAllocator
//! [`PhysMemory`]: pmap::PhysMemory

#![cfg_attr(not(any(test, loom)), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod addr;
pub mod api;
mod chain;
mod check;
pub mod copy;
mod error;
mod fault;
pub mod map;
pub mod object;
mod ops;
pub mod pmap;
pub mod prot;
mod slab;
pub mod sync;
mod system;
mod types;

pub use addr::{Frame, Page, PageRange, PAGE_SIZE};
pub use check::FrameAccounts;
pub use copy::remap::{RemapMode, Remapped};
pub use copy::{CopyId, SourceDisposal, BUFFER_THRESHOLD};
pub use error::VmError;
pub use fault::FaultOutcome;
pub use map::{MapEntry, VmMap, MAX_WIRE_COUNT};
pub use object::ObjectId;
pub use ops::{MapMode, NamedEntry, NamedId, NewMemory, RegionInfo};
pub use prot::Prot;
pub use system::{Machine, MapId, Vm, VmCounters};
pub use types::{Access, Behavior, Inherit, Placement, ProtectTarget};
