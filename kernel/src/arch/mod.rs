//! x86_64 CPU state owned by the kernel: segments, exception handling, control registers.

pub mod apic;
pub mod context;
pub mod cpu;
pub mod exceptions;
pub mod fpu;
pub mod fw_cfg;
pub mod gdt;
pub mod idt;
pub mod madt;
pub mod percpu;
pub mod sched_ipi;
pub mod probe;
pub mod smp;
pub mod syscall;
pub mod timer;
pub mod tlb;
pub mod tsc;

/// Brings the boot processor's CPU state up: its per-processor record with its GDT/TSS, the
/// IDT, the protection features, `syscall`, the local APIC and the timer.
pub fn init() {
    let apic_id = apic::enable();
    let cpu = percpu::prepare(0, apic_id).expect("the boot processor's interrupt stacks");
    // SAFETY: the boot processor's own record, entered once, before anything reads GS.
    unsafe { percpu::enter(cpu) };
    idt::init();
    let features = cpu::init();
    fpu::init();
    syscall::init();
    timer::init();
    log::info!("cpu: {features:?}");
}

/// Brings an application processor's CPU state up, once it has entered its record: the IDT,
/// the protection features, `syscall`, the local APIC and its timer.
pub(crate) fn init_processor() {
    idt::init();
    cpu::init();
    fpu::init();
    syscall::init();
    apic::enable();
    timer::start_local();
}
