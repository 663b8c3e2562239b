//! The Mach user library, for programs built for `x86_64-unknown-none`.
//!
//! - [`mach`](crate) calls with their Mach names and argument order:
//!   `vm_allocate(mach_task_self(), &mut address, size, VM_FLAGS_ANYWHERE)`;
//! - the `vm_prot_t`, `KERN_*`, `VM_*` types and constants ([`machvm_abi`]);
//! - a runtime: [`entry!`] names the program's `main`, [`println!`] prints on the console,
//!   a panic prints its message and ends the task with status 101, and [`test::run`] runs
//!   a program's tests with libtest-style output;
//! - threads of the calling task ([`thread::spawn`], [`Thread::join`](thread::Thread::join)).
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use mach::*;
//! mach::entry!(main);
//! fn main() -> i32 {
//!     let mut address = 0;
//!     let kr = vm_allocate(mach_task_self(), &mut address, 4096, VM_FLAGS_ANYWHERE);
//!     println!("vm_allocate: {kr} at {address:#x}");
//!     0
//! }
//! ```

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![allow(non_camel_case_types)]

mod calls;
pub mod child;
pub mod rt;
mod syscall;

/// The raw system-call interface, for programs that pass what the typed calls cannot (tests
/// of the kernel's argument checks).
pub mod raw {
    pub use crate::syscall::{syscall, syscall_number};
    pub use machvm_abi::{Sysno, VmMapArgs, VmRemapArgs};
}
pub mod test;
pub mod thread;

pub use calls::*;
pub use machvm_abi::kern::*;
pub use machvm_abi::vm::*;
