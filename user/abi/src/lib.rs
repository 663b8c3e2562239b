//! The system-call interface, defined once for the kernel and the user library.
//!
//! # Register convention
//!
//! A user task enters the kernel with the `syscall` instruction:
//!
//! | register | holds |
//! |---|---|
//! | `rax` | the call number ([`Sysno`]) |
//! | `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9` | arguments 1 to 6 |
//! | `rax` (on return) | the result: a `kern_return_t`, an errno value for the Hurd calls, or a handle |
//!
//! `rcx` and `r11` are destroyed (the CPU keeps the return address and flags there); every
//! other register is preserved. Calls with more than six arguments (`vm_map`, `vm_remap`)
//! take one pointer to an argument block ([`VmMapArgs`]). Out-parameters are pointers into
//! the caller's memory, written through checked copies: a bad pointer gives
//! `KERN_INVALID_ADDRESS` and changes nothing.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![allow(non_camel_case_types)]

pub mod kern;
pub mod layout;
pub mod logspec;
pub mod ramdisk;
pub mod sysno;
pub mod vm;

pub use sysno::Sysno;
pub use vm::{VmMapArgs, VmRemapArgs};
