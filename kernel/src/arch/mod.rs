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
    program_pat();
    idt::init();
    let features = cpu::init();
    fpu::init();
    syscall::init();
    timer::init();
    log::info!("cpu: {features:?}");
}

/// Gives this processor the page attribute table the pmap's device mappings assume.
fn program_pat() {
    // SAFETY: ring 0, on every processor before it runs tasks: no mapping of the boot
    // loader's or the kernel's selects PAT entry 1, the one this changes to write-combining.
    unsafe { pmap_x86::program_pat() };
}

/// Brings an application processor's CPU state up, once it has entered its record: the IDT,
/// the protection features, `syscall`, the local APIC and its timer.
pub(crate) fn init_processor() {
    program_pat();
    idt::init();
    cpu::init();
    fpu::init();
    syscall::init();
    apic::enable();
    timer::start_local();
}
