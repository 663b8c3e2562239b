//! Machine-independent Mach virtual memory.
//!
//! This crate holds what every port shares: address and protection types and the contract
//! with the machine-dependent layer ([`pmap`]): the [`Pmap`](pmap::Pmap) trait that a port
//! implements over its page tables (`pmap-x86` for x86_64), and the [`FrameAllocator`] and
//! [`PhysMemory`] traits through which the kernel lends physical memory. Nothing here names a
//! machine, and nothing here is `unsafe`.
//!
//! [`FrameAllocator`]: pmap::FrameAllocator
//! [`PhysMemory`]: pmap::PhysMemory

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod addr;
pub mod api;
mod chain;
mod check;
mod error;
mod fault;
pub mod map;
pub mod object;
mod ops;
pub mod pmap;
pub mod prot;
mod slab;
mod system;
mod types;

pub use addr::{Frame, Page, PageRange, PAGE_SIZE};
pub use check::FrameAccounts;
pub use error::VmError;
pub use fault::FaultOutcome;
pub use map::{MapEntry, VmMap, MAX_WIRE_COUNT};
pub use object::ObjectId;
pub use ops::{MapMode, NamedEntry, NamedId, NewMemory, RegionInfo};
pub use prot::Prot;
pub use system::{Machine, MapId, Vm, VmCounters};
pub use types::{Access, Behavior, Inherit, Placement, ProtectTarget};
