//! Starting the application processors.
//!
//! The boot processor reads the MADT (`madt`), copies the start-up code ([`trampoline`]) to
//! low memory (`memory::Layout::low_pages`) with a small page table of its own (the first
//! 2 MiB identity-mapped, the kernel half shared with the kernel's table), and wakes each
//! processor in turn with INIT and start-up interrupts (`apic`). The code takes the processor
//! from real mode to long mode and jumps to [`ap_entry`] on a stack the boot processor gave
//! it; there it loads the kernel's own page table and control registers (those of the boot
//! processor), its GDT and TSS, the IDT, its per-processor record and its APIC timer, says it
//! is up, and enters the scheduler loop. The boot processor waits for each (a second at
//! most; a processor that does not come up is reported and left out).

use super::{apic, percpu, tsc};
use crate::memory::kstack::{KernelStack, StackOwner};
use crate::memory::{phys_to_virt, FRAME_SIZE};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use x86_64::registers::control::{Cr0, Cr3, Cr4};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::PhysAddr;

static ONLINE: AtomicUsize = AtomicUsize::new(1);
static ONLINE_MASK: AtomicU64 = AtomicU64::new(1);

/// Processors running threads (the boot processor and every application processor started).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The online processors, bit `i` for processor `i`.
pub fn online_mask() -> u64 {
    ONLINE_MASK.load(Ordering::Acquire)
}

/// Offsets in the start-up code (fixed with `.org`, as its 16- and 32-bit parts can only
/// address their data by number).
mod layout {
    pub const PROTECTED: usize = 0x80;
    pub const LONG: usize = 0x100;
    pub const GDT: usize = 0x180;
    pub const GDTR: usize = 0x1a0;
    pub const PARAMETERS: usize = 0x1b0;
    pub const END: usize = 0x1d8;
}

core::arch::global_asm!(
    ".pushsection .text.ap_trampoline, \"ax\"",
    ".global ap_trampoline_start",
    ".code16",
    "ap_trampoline_start:",
    "cli",
    "cld",
    "mov ax, cs",
    "mov ds, ax",
    "mov ss, ax",
    "mov sp, 0x1000",
    "xor ebx, ebx",
    "mov bx, ax",
    "shl ebx, 4",
    "lea eax, [ebx + {gdt}]",
    "mov dword ptr [{gdtr} + 2], eax",
    "lgdt [{gdtr}]",
    "mov eax, cr0",
    "or eax, 1",
    "mov cr0, eax",
    "mov eax, 0x08",
    "push eax",
    "lea eax, [ebx + {protected}]",
    "push eax",
    ".byte 0x66, 0xcb",
    ".org {protected}",
    ".code32",
    "mov ax, 0x10",
    "mov ds, ax",
    "mov es, ax",
    "mov ss, ax",
    "lea esp, [ebx + 0x1000]",
    "mov eax, cr4",
    "or eax, 0xa0",
    "mov cr4, eax",
    "mov eax, [ebx + {parameters}]",
    "mov cr3, eax",
    "mov ecx, 0xc0000080",
    "rdmsr",
    "or eax, [ebx + {parameters} + 8]",
    "wrmsr",
    "mov eax, cr0",
    "or eax, 0x80010000",
    "mov cr0, eax",
    "push 0x18",
    "lea eax, [ebx + {long}]",
    "push eax",
    "retf",
    ".org {long}",
    ".code64",
    "mov ebx, ebx",
    "mov ax, 0x10",
    "mov ss, ax",
    "mov rsp, [rbx + {parameters} + 16]",
    "mov rdi, [rbx + {parameters} + 24]",
    "mov rax, [rbx + {parameters} + 32]",
    "jmp rax",
    ".org {gdt}",
    ".quad 0",
    ".quad 0x00cf9a000000ffff",
    ".quad 0x00cf92000000ffff",
    ".quad 0x00af9a000000ffff",
    ".org {gdtr}",
    ".word 31",
    ".long 0",
    ".org {parameters}",
    ".quad 0, 0, 0, 0, 0",
    ".org {end}",
    ".popsection",
    gdt = const layout::GDT,
    gdtr = const layout::GDTR,
    protected = const layout::PROTECTED,
    long = const layout::LONG,
    parameters = const layout::PARAMETERS,
    end = const layout::END,
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
}

/// The values the start-up code reads, in its order from `tramp_cr3`.
#[repr(C)]
struct Parameters {
    cr3: u64,
    efer: u64,
    stack: u64,
    arg: u64,
    entry: u64,
}

/// The boot processor's control registers, which each application processor loads.
#[derive(Clone, Copy)]
struct Registers {
    cr0: u64,
    cr4: u64,
    kernel_root: u64,
}

static REGISTERS: spin::Once<Registers> = spin::Once::new();
/// Set by an application processor once it runs on its own tables.
static ARRIVED: AtomicBool = AtomicBool::new(false);

fn trampoline_bytes() -> &'static [u8] {
    // SAFETY: the start-up code is `layout::END` bytes of the kernel image from its symbol.
    unsafe { core::slice::from_raw_parts(&raw const ap_trampoline_start, layout::END) }
}

/// Starts every processor the MADT lists besides this one. Runs once, on the boot processor,
/// after the VM system is up (the stacks come from the kernel-stack area).
pub fn start_all(rsdp: Option<u64>) {
    let Some(ids) = rsdp.and_then(super::madt::processors) else {
        log::info!("smp: no MADT, one processor");
        return;
    };
    let Some(low) = crate::memory::layout().low_pages else {
        log::warn!("smp: no low memory for the start-up code, one processor");
        return;
    };
    let (root, _) = Cr3::read();
    REGISTERS.call_once(|| Registers { cr0: Cr0::read_raw(), cr4: Cr4::read_raw(), kernel_root: root.start_address().as_u64() });
    prepare_low_memory(low, root.start_address().as_u64());
    let me = percpu::current().apic_id;
    for apic_id in ids.into_iter().filter(|&id| id != me) {
        let index = online();
        if index >= percpu::MAX_CPUS {
            log::warn!("smp: more than {} processors; the rest stay off", percpu::MAX_CPUS);
            break;
        }
        if !start_one(low, apic_id, index) {
            log::warn!("smp: the processor with APIC id {apic_id} did not start");
        }
    }
}

/// Copies the start-up code to `low` and builds its page table in the three pages after it.
fn prepare_low_memory(low: u64, kernel_root: u64) {
    let code = trampoline_bytes();
    const _: () = assert!(layout::END <= 0xc00, "the start-up code and its stack fit one page");
    let page = |i: u64| phys_to_virt(PhysAddr::new(low + i * FRAME_SIZE)).as_mut_ptr::<u64>();
    // SAFETY: the low pages are usable RAM that no allocator hands out (below 1 MiB),
    // mapped writable by the direct map; nothing else uses them.
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), page(0).cast::<u8>(), code.len());
        for i in 1..4 {
            core::ptr::write_bytes(page(i), 0, 512);
        }
        let kernel = phys_to_virt(PhysAddr::new(kernel_root)).as_ptr::<u64>();
        for i in 256..512 {
            *page(1).add(i) = *kernel.add(i);
        }
        *page(1) = (low + 2 * FRAME_SIZE) | 0x3;
        *page(2) = (low + 3 * FRAME_SIZE) | 0x3;
        *page(3) = 0x83;
    }
}

/// Wakes the processor `apic_id` as processor `index`; whether it came up.
fn start_one(low: u64, apic_id: u32, index: usize) -> bool {
    let Ok(stack) = KernelStack::allocate(StackOwner::Scheduler(index as u16)) else { return false };
    let Ok(cpu) = percpu::prepare(index, apic_id) else { return false };
    let efer = Efer::read() & (EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::LONG_MODE_ENABLE | EferFlags::NO_EXECUTE_ENABLE);
    let parameters = Parameters {
        cr3: low + FRAME_SIZE,
        efer: efer.bits(),
        stack: stack.top().as_u64(),
        arg: core::ptr::from_ref(cpu) as u64,
        entry: ap_entry as *const () as u64,
    };
    // SAFETY: the parameters' slot lies in the copy of the start-up code in low memory, which
    // no processor runs now (the previous one has arrived, or timed out and never will).
    unsafe {
        let at = phys_to_virt(PhysAddr::new(low + layout::PARAMETERS as u64)).as_mut_ptr::<Parameters>();
        at.write_volatile(parameters);
    }
    ARRIVED.store(false, Ordering::SeqCst);
    let hz = tsc::hz();
    let delay = |us: u64| {
        let end = tsc::read() + hz / 1_000_000 * us;
        while tsc::read() < end {
            core::hint::spin_loop();
        }
    };
    apic::start_processor(apic_id, (low >> 12) as u8, delay);
    let deadline = tsc::read() + hz;
    while !ARRIVED.load(Ordering::SeqCst) {
        if tsc::read() > deadline {
            core::mem::forget(stack);
            return false;
        }
        core::hint::spin_loop();
    }
    // The processor runs on this stack for good.
    core::mem::forget(stack);
    true
}

/// Where an application processor arrives in long mode, on its scheduler stack, still on
/// the start-up page table. `arg` is its record's address (`percpu::prepare`).
extern "C" fn ap_entry(arg: u64) -> ! {
    // SAFETY: the boot processor made this record for this processor alone and passed its
    // address; records are never freed.
    let cpu: &'static percpu::Cpu = unsafe { &*(arg as *const percpu::Cpu) };
    let registers = *REGISTERS.get().expect("set before any processor starts");
    // SAFETY: the kernel's table maps everything this code uses (the kernel half is the same
    // in both tables); CR0 and CR4 are the boot processor's, valid on an identical processor,
    // set after the switch so that PCIDE is set with PCID 0 loaded.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) registers.kernel_root, options(nostack));
        core::arch::asm!("mov cr0, {}", in(reg) registers.cr0, options(nostack));
        core::arch::asm!("mov cr4, {}", in(reg) registers.cr4, options(nostack));
    }
    // SAFETY: this processor's own record, entered once, first.
    unsafe { percpu::enter(cpu) };
    super::init_processor();
    ONLINE_MASK.fetch_or(1 << cpu.index, Ordering::SeqCst);
    ONLINE.fetch_add(1, Ordering::SeqCst);
    ARRIVED.store(true, Ordering::SeqCst);
    crate::task::sched::run_processor()
}
