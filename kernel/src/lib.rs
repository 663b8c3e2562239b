//! The microkernel: boot, CPU tables, physical memory, the console and the in-kernel test
//! framework.
//!
//! The kernel binary (`main.rs`) and every test kernel (`tests/kernel/*.rs`) start through
//! [`init`], which brings the machine into a known state:
//!
//! 1. the serial console and the `log` facade ([`console`]);
//! 2. physical memory: the frame allocator over the boot memory map and the kernel heap
//!    ([`memory`]), then the kernel-stack area ([`memory::kstack`]);
//! 3. the GDT with its TSS, whose interrupt stacks come from the kernel-stack area, and the IDT
//!    with a handler for every CPU exception ([`arch`]);
//! 4. the VM system ([`vm_system`]) over the physical map of the boot page table's kernel
//!    half ([`pmap`]);
//! 5. the other processors (`arch::smp`), each of which enters its scheduler loop and runs
//!    threads as soon as there are any.
//!
//! Memory comes before the CPU tables because the double-fault stack is a guarded kernel
//! stack; the bootloader installs no IDT, so a CPU exception in step 2 resets the machine
//! (a panic there is still reported).

#![no_std]
#![feature(abi_x86_interrupt)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod arch;
pub mod boot;
pub mod console;
pub mod framebuffer;
pub mod init_task;
pub mod ledger;
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

/// Brings the kernel up on the boot CPU: console, physical memory and kernel stacks, CPU
/// tables, the VM system.
///
/// # Panics
///
/// If the boot information lacks what [`boot::BOOTLOADER_CONFIG`] asks for (the physical
/// memory mapping), or if memory is too small to hold the allocators' metadata.
pub fn init(boot_info: &'static mut BootInfo) {
    let rsdp = boot_info.rsdp_addr.into_option();
    console::init();
    memory::init(boot_info);
    framebuffer::init(boot_info);
    memory::kstack::init();
    arch::init();
    vm_system::init();
    arch::smp::start_all(rsdp);
    log::info!("smp: {} processor{} running", arch::smp::online(), if arch::smp::online() == 1 { "" } else { "s" });
}
