//! Per-processor data, reached through the GS base.
//!
//! Each processor has one [`Cpu`] record, made when it starts and never freed. In the kernel
//! the GS base points at it (its first word points at itself, so [`current`] is one load); in
//! ring 3 the GS base is the task's, swapped in and out with `swapgs` by every path between
//! the two (`arch::syscall`'s entry stub, [`UserEntry`] in the interrupt and exception
//! handlers, `context::enter_user`). A task can load a GS selector but never reach the
//! kernel's base: `swapgs` runs before the kernel reads GS.

use super::gdt::CpuTables;
use crate::memory::kstack::KernelStackError;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use x86_64::registers::model_specific::{GsBase, KernelGsBase};
use x86_64::structures::idt::InterruptStackFrame;
use x86_64::VirtAddr;

/// The most processors the kernel runs on.
pub const MAX_CPUS: usize = 16;

/// One processor's data. The first three fields are read by the system-call entry stub at
/// fixed offsets (`SELF`, `KERNEL_RSP`, `USER_RSP`).
#[repr(C)]
pub struct Cpu {
    this: *const Cpu,
    /// The stack the next system call runs on: the running thread's kernel stack.
    kernel_rsp: AtomicU64,
    /// The user stack pointer while the entry stub switches stacks.
    user_rsp: AtomicU64,
    /// The processor's number, from 0 (the boot processor) in start-up order.
    pub index: usize,
    /// Its local APIC's id.
    pub apic_id: u32,
    /// Its GDT, TSS and interrupt stacks.
    pub(crate) tables: &'static CpuTables,
    /// The scheduler loop's saved stack pointer while a thread runs.
    pub(crate) scheduler_rsp: AtomicU64,
    /// The running thread's number, 0 if none.
    pub(crate) current: AtomicU32,
    /// The running thread's task (meaningful while `current` is not 0).
    pub(crate) current_task: AtomicU32,
    /// Set when the task of the thread this processor picked has ended: the thread gives the
    /// processor up on its way back to ring 3 (`sched::leave_if_ended`), which then needs no
    /// lock to find out.
    pub(crate) current_ended: AtomicBool,
    /// The ledger this processor's heap allocations are charged to (`ledger`).
    pub(crate) ledger: AtomicU32,
}

// SAFETY: `this` is only ever the record's own address; every other field is immutable or an
// atomic, so sharing the record between processors is sound.
unsafe impl Sync for Cpu {}
// SAFETY: as above.
unsafe impl Send for Cpu {}

/// Offset of `kernel_rsp` in [`Cpu`], for the entry stub.
pub const KERNEL_RSP: usize = core::mem::offset_of!(Cpu, kernel_rsp);
/// Offset of `user_rsp` in [`Cpu`], for the entry stub.
pub const USER_RSP: usize = core::mem::offset_of!(Cpu, user_rsp);

static CPUS: [AtomicPtr<Cpu>; MAX_CPUS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
/// Whether the boot processor has entered its record (before, nothing reads GS).
static READY: AtomicBool = AtomicBool::new(false);

/// Makes the record of processor `index` (with APIC id `apic_id`): its descriptor tables and
/// interrupt stacks included. The boot processor makes every record, before the processor
/// starts.
///
/// # Errors
///
/// If the interrupt stacks cannot be allocated.
pub fn prepare(index: usize, apic_id: u32) -> Result<&'static Cpu, KernelStackError> {
    let tables = super::gdt::build_for(index)?;
    let cpu = alloc::boxed::Box::leak(alloc::boxed::Box::new(Cpu {
        this: core::ptr::null(),
        kernel_rsp: AtomicU64::new(0),
        user_rsp: AtomicU64::new(0),
        index,
        apic_id,
        tables,
        scheduler_rsp: AtomicU64::new(0),
        current: AtomicU32::new(0),
        current_task: AtomicU32::new(0),
        current_ended: AtomicBool::new(false),
        ledger: AtomicU32::new(0),
    }));
    cpu.this = cpu;
    Ok(cpu)
}

/// Enters `cpu` on the processor running this: points the GS base at it, loads its GDT and
/// TSS, and lists it. The first thing a processor does.
///
/// # Safety
///
/// `cpu` must be this processor's record, made by [`prepare`], entered once.
pub unsafe fn enter(cpu: &'static Cpu) {
    GsBase::write(VirtAddr::from_ptr(cpu));
    KernelGsBase::write(VirtAddr::zero());
    // SAFETY: the caller enters each record once, on its own processor.
    unsafe { cpu.tables.load() };
    CPUS[cpu.index].store(core::ptr::from_ref(cpu).cast_mut(), Ordering::Release);
    READY.store(true, Ordering::Release);
}

/// The record of the processor running this, once the boot processor has entered its own
/// (application processors enter theirs before anything else).
#[inline]
pub fn try_current() -> Option<&'static Cpu> {
    READY.load(Ordering::Relaxed).then(current)
}

/// The record of the processor running this.
#[inline]
pub fn current() -> &'static Cpu {
    let this: *const Cpu;
    // SAFETY: in the kernel the GS base points at this processor's record (module docs), whose
    // first word is its own address; records are never freed.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) this, options(nostack, readonly, preserves_flags));
        &*this
    }
}

/// The number of the processor running this: 0 also before the boot processor has entered
/// its record (early boot runs on it alone).
#[inline]
pub fn index() -> usize {
    try_current().map_or(0, |cpu| cpu.index)
}

/// The record of processor `index`, if it has started.
pub fn get(index: usize) -> Option<&'static Cpu> {
    let cpu = CPUS.get(index)?.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was stored by `install` from a leaked record, never freed.
    (!cpu.is_null()).then(|| unsafe { &*cpu })
}

impl Cpu {
    /// Sets the stack the next system call or interrupt from ring 3 runs on.
    pub fn set_kernel_stack(&self, top: VirtAddr) {
        self.kernel_rsp.store(top.as_u64(), Ordering::Relaxed);
        self.tables.set_ring0_stack(top);
    }
}

/// Brackets a handler that may have interrupted ring 3: `swapgs` on entry from ring 3 (so
/// that the kernel's GS base is loaded), and again when dropped, before the handler returns
/// there. A handler that never returns (the thread ends) keeps the kernel's base, as the
/// kernel needs.
pub struct UserEntry {
    from_user: bool,
}

impl UserEntry {
    /// Enters from the interrupted context `frame`.
    #[inline]
    pub fn new(frame: &InterruptStackFrame) -> Self {
        let from_user = frame.code_segment.rpl() == x86_64::PrivilegeLevel::Ring3;
        if from_user {
            // SAFETY: the handler interrupted ring 3, where the GS base is the task's and the
            // kernel's waits in KERNEL_GS_BASE; nothing in this handler has read GS yet.
            unsafe { core::arch::asm!("swapgs", options(nostack, preserves_flags)) };
        }
        Self { from_user }
    }
}

impl Drop for UserEntry {
    #[inline]
    fn drop(&mut self) {
        if self.from_user {
            // SAFETY: the handler returns to ring 3 with interrupts off (an interrupt gate),
            // and nothing reads the kernel's GS between this and `iretq`.
            unsafe { core::arch::asm!("swapgs", options(nostack, preserves_flags)) };
        }
    }
}
