//! x86_64 CPU state owned by the kernel: segments, exception handling, control registers.

pub mod exceptions;
pub mod gdt;
pub mod idt;
pub mod probe;

use x86_64::registers::control::{Cr0, Cr0Flags};

/// Loads the GDT/TSS and IDT and sets the control-register bits the kernel relies on.
pub fn init() {
    gdt::init();
    idt::init();
    // SAFETY: setting CR0.WP makes read-only pages read-only for the kernel too; every kernel
    // mapping that is written to is mapped writable.
    unsafe { Cr0::update(|flags| flags.insert(Cr0Flags::WRITE_PROTECT)) };
}
