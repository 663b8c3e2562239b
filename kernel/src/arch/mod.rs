//! x86_64 CPU state owned by the kernel: segments, exception handling, control registers.

pub mod context;
pub mod cpu;
pub mod exceptions;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod probe;
pub mod smp;
pub mod syscall;
pub mod timer;
pub mod tsc;

/// Loads the GDT/TSS and IDT and turns on the CPU's protection features.
pub fn init() {
    gdt::init();
    idt::init();
    let features = cpu::init();
    fpu::init();
    syscall::init();
    timer::init();
    log::info!("cpu: {features:?}");
}
