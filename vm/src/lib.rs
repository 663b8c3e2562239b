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
pub mod pmap;
pub mod prot;

pub use addr::{Frame, Page, PageRange, PAGE_SIZE};
pub use prot::Prot;
