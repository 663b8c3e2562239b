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
//! port implements over its page tables (`pmap-x86` for x86_64), and the [`FrameAllocator`]
//! and [`PhysMemory`] traits through which the kernel lends physical memory. Nothing here
//! names a machine, and nothing here is `unsafe`.
//!
//! # Porting to another kernel
//!
//! 1. Implement [`FrameAllocator`] over your physical frame allocator, and [`PhysMemory`]
//!    over a mapping of physical memory (or use `pmap_x86::DirectMap`).
//! 2. Implement [`Pmap`](pmap::Pmap) over your page tables, or use `pmap_x86::X86Pmap`.
//! 3. Name the three in a [`Machine`], make one [`Vm`] and keep it behind one lock.
//! 4. Create a map per address space, call the operations from your system calls (sanitize
//!    arguments with [`api::sanitize`] first), and send user page faults to [`Vm::fault`].
//!    Take frames only under the VM lock: wiring counts free frames before it starts.
//!
//! ```ignore
//! struct MyMachine;
//! impl vm::Machine for MyMachine {
//!     type Pmap = pmap_x86::X86Pmap<MyFrames, pmap_x86::HardwareMmu>;
//!     type Frames = MyFrames;
//!     type Phys = pmap_x86::DirectMap;
//! }
//! let mut vm: vm::Vm<MyMachine> = vm::Vm::new(pmap, MyFrames, window);
//! let map = vm.create_map(vm::api::USER_MIN, vm::api::USER_MAX)?;
//! let at = vm.allocate(map, vm::Placement::Anywhere { mask: 0 }, 16, vm::NewMemory::DEFAULT)?;
//! match vm.fault(map, at.addr(), vm::Access::Write) {
//!     vm::FaultOutcome::Resolved => { /* retry the access */ }
//!     other => { /* end the task: a bad access */ }
//! }
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
