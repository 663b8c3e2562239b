//! x86_64 CPU state owned by the kernel: segments, exception handling, control registers.

pub mod cpu;
pub mod exceptions;
pub mod gdt;
pub mod idt;
pub mod probe;

/// Loads the GDT/TSS and IDT and turns on the CPU's protection features.
pub fn init() {
    gdt::init();
    idt::init();
    let features = cpu::init();
    log::info!("cpu: {features:?}");
}
