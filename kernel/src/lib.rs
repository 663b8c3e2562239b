//! The microkernel: boot, CPU tables, physical memory, the console and the in-kernel test
//! framework.
//!
//! The kernel binary (`main.rs`) and every test kernel (`tests/kernel/*.rs`) start through
//! [`init`], which brings the machine into a known state:
//!
//! 1. the serial console and the `log` facade ([`console`]);
//! 2. the GDT with its TSS and the IDT with a handler for every CPU exception ([`arch`]);
//! 3. physical memory: the frame allocator over the boot memory map and the kernel heap
//!    ([`memory`]);
//! 4. the VM system ([`vm_system`]) over the physical map of the boot page table's kernel
//!    half ([`pmap`]).

#![no_std]
#![feature(abi_x86_interrupt)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod arch;
pub mod boot;
pub mod console;
pub mod init_task;
pub mod limits;
pub mod memory;
pub mod panic;
pub mod pmap;
pub mod qemu;
pub mod sync;
pub mod syscall;
pub mod task;
pub mod testing;
pub mod vm_system;

pub use bootloader_api;

use bootloader_api::BootInfo;

/// Brings the kernel up on the boot CPU: console, CPU tables, physical memory.
///
/// # Panics
///
/// If the boot information lacks what [`boot::BOOTLOADER_CONFIG`] asks for (the physical
/// memory mapping), or if memory is too small to hold the kernel heap.
pub fn init(boot_info: &'static mut BootInfo) {
    console::init();
    arch::init();
    memory::init(boot_info);
    vm_system::init();
}
