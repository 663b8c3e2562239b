//! CPU exception handlers.
//!
//! Every handler first forbids kernel access to user pages (`cpu::forbid_user_access`: an
//! exception from ring 3 keeps the task's RFLAGS.AC, which would lift SMAP); the CPU itself
//! clears TF and NT on delivery, and the handlers' calling convention clears DF. Whether an
//! exception came from ring 3 is decided by the interrupted CS alone; every such exception
//! goes to the task's fault path (a page fault to the VM, anything else ends the task).
//!
//! A breakpoint is counted and execution resumes. A page fault is decoded (CR2 and the error
//! code); if it was raised by a [`probe`](super::probe) routine it is recovered, otherwise it is
//! a kernel bug and panics with the decoded fault. A double fault runs on its own IST stack and
//! goes to the installed [double-fault hook](set_double_fault_hook) (the stack-overflow tests
//! use it) or panics, as a kernel stack overflow (naming the stack) when CR2 lies in the guard
//! page of a kernel stack (`memory::kstack`). Every other exception panics with its name and
//! the interrupted frame.

use super::probe;
use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptStackFrame, PageFaultErrorCode};
use x86_64::VirtAddr;

static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// Number of breakpoint exceptions handled since boot.
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::SeqCst)
}

/// A page fault as the handler decoded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFault {
    /// The faulting address (CR2).
    pub address: VirtAddr,
    /// The error code the CPU pushed.
    pub error: PageFaultErrorCode,
    /// Address of the faulting instruction.
    pub ip: VirtAddr,
}

impl PageFault {
    /// What the access was.
    pub fn access_kind(&self) -> vm::Access {
        if self.error.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
            vm::Access::Execute
        } else if self.error.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
            vm::Access::Write
        } else {
            vm::Access::Read
        }
    }

    /// What the access was: `"read"`, `"write"` or `"execute"`.
    pub fn access(&self) -> &'static str {
        match self.access_kind() {
            vm::Access::Execute => "execute",
            vm::Access::Write => "write",
            vm::Access::Read => "read",
        }
    }

    /// Why it faulted: the page was not present, or present without the needed permission.
    pub fn reason(&self) -> &'static str {
        if self.error.contains(PageFaultErrorCode::MALFORMED_TABLE) {
            "reserved bit set in a page table"
        } else if self.error.contains(PageFaultErrorCode::PROTECTION_VIOLATION) {
            "protection violation"
        } else {
            "page not present"
        }
    }
}

impl fmt::Display for PageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.error.contains(PageFaultErrorCode::USER_MODE) { "user" } else { "kernel" };
        write!(
            f,
            "{} of {:#x} by {} code at {:#x}: {} (error code {:#x})",
            self.access(),
            self.address.as_u64(),
            mode,
            self.ip.as_u64(),
            self.reason(),
            self.error.bits()
        )
    }
}

/// A function that takes over a double fault: it receives the interrupted frame and the stack
/// pointer the handler runs on, and never returns.
pub type DoubleFaultHook = fn(&InterruptStackFrame, VirtAddr) -> !;

static DOUBLE_FAULT_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Installs `hook` to run on the next double fault instead of the panic.
pub fn set_double_fault_hook(hook: DoubleFaultHook) {
    DOUBLE_FAULT_HOOK.store(hook as usize, Ordering::SeqCst);
}

fn double_fault_hook() -> Option<DoubleFaultHook> {
    match DOUBLE_FAULT_HOOK.load(Ordering::SeqCst) {
        0 => None,
        // SAFETY: the only non-zero value ever stored is a `DoubleFaultHook` cast to usize by
        // `set_double_fault_hook`, and fn pointers round-trip through usize on x86_64.
        raw => Some(unsafe { core::mem::transmute::<usize, DoubleFaultHook>(raw) }),
    }
}

pub(super) extern "x86-interrupt" fn page_fault(
    mut frame: InterruptStackFrame,
    error: PageFaultErrorCode,
) {
    let _entry = super::percpu::UserEntry::new(&frame);
    super::cpu::forbid_user_access();
    let fault = PageFault {
        address: VirtAddr::new_truncate(Cr2::read_raw()),
        error,
        ip: frame.instruction_pointer,
    };
    if from_user(&frame) {
        // CR2 is read: the VM works with interrupts on (a shootdown may be waiting for this
        // processor), and they are off again before the way back to ring 3.
        with_interrupts(true, || crate::task::user_fault(&fault, implicit_supervisor_access(&fault)));
        crate::task::sched::leave_if_ended();
        return;
    }
    if let Some(fixup) = probe::fixup_for(fault.ip) {
        let interrupted_with_interrupts = frame.cpu_flags.contains(x86_64::registers::rflags::RFlags::INTERRUPT_FLAG);
        if with_interrupts(interrupted_with_interrupts, || crate::task::resolve_for_kernel(&fault)) {
            return;
        }
        probe::record_fault(fault);
        // SAFETY: the fault was raised by a probe instruction; its fixup code is written to be
        // entered in place of that instruction, with the same stack and registers.
        unsafe { frame.as_mut().update(|value| value.instruction_pointer = fixup) };
        return;
    }
    if is_fetch_by_call_probe(&frame, &fault) {
        probe::record_fault(fault);
        // SAFETY: `probe_call` called the faulting address; popping the return address it
        // pushed and resuming at the fixup is exactly a return from the call with result 1.
        unsafe {
            frame.as_mut().update(|value| {
                value.instruction_pointer = probe::fixup();
                value.stack_pointer += 8u64;
            })
        };
        return;
    }
    if let Some(overflow) = crate::memory::kstack::overflow_at(fault.address) {
        panic!("{overflow}: {fault}\n{frame:#?}");
    }
    panic!("unhandled page fault: {fault}\n{frame:#?}");
}

/// Runs `f` with interrupts on if `on` (they are off again when it returns).
fn with_interrupts<R>(on: bool, f: impl FnOnce() -> R) -> R {
    if on {
        x86_64::instructions::interrupts::enable();
    }
    let result = f();
    x86_64::instructions::interrupts::disable();
    result
}

/// Whether a fault raised by ring-3 code is an *implicit supervisor access*: the CPU touched
/// a user page with supervisor rights on the task's behalf (under QEMU TCG, `iretq` and far
/// returns pop their frame that way), and SMAP refused it. Mapping the page would not help, as
/// it is already there: such a fault cannot be resolved and ends the task.
fn implicit_supervisor_access(fault: &PageFault) -> bool {
    !fault.error.contains(PageFaultErrorCode::USER_MODE) && fault.error.contains(PageFaultErrorCode::PROTECTION_VIOLATION)
}

/// Whether `fault` is a failed fetch of the target of `probe::call`: a kernel-mode fetch at
/// the interrupted instruction pointer, with the probe's return address on top of the stack.
fn is_fetch_by_call_probe(frame: &InterruptStackFrame, fault: &PageFault) -> bool {
    let fetch = PageFaultErrorCode::INSTRUCTION_FETCH;
    if !fault.error.contains(fetch) || fault.error.contains(PageFaultErrorCode::USER_MODE) || fault.address != fault.ip {
        return false;
    }
    // SAFETY: the fault came from kernel mode, so the interrupted stack pointer is a kernel
    // stack, and a fetch fault at the first instruction of a call target leaves the pushed
    // return address at its top.
    let top = unsafe { frame.stack_pointer.as_ptr::<u64>().read() };
    probe::is_call_probe(top)
}

pub(super) extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    let _entry = super::percpu::UserEntry::new(&frame);
    super::cpu::forbid_user_access();
    if from_user(&frame) {
        crate::task::kill_current(format_args!("breakpoint trap at {:#x}", frame.instruction_pointer.as_u64()));
    }
    BREAKPOINTS.fetch_add(1, Ordering::SeqCst);
    log::debug!("breakpoint at {:#x}", frame.instruction_pointer.as_u64());
}

pub(super) extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, _code: u64) -> ! {
    let _entry = super::percpu::UserEntry::new(&frame);
    super::cpu::forbid_user_access();
    let rsp: u64;
    // SAFETY: reads the stack pointer into a register; no memory is touched.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack)) };
    if let Some(hook) = double_fault_hook() {
        hook(&frame, VirtAddr::new(rsp));
    }
    // A kernel stack that overflowed into its guard page: the page fault could not push its
    // frame there, so it escalated; CR2 still holds the guard-page address.
    if let Some(overflow) = crate::memory::kstack::overflow_at(VirtAddr::new_truncate(Cr2::read_raw())) {
        panic!("{overflow} (stack pointer {:#x})\n{frame:#?}", frame.stack_pointer.as_u64());
    }
    panic!("double fault\n{frame:#?}");
}

pub(super) extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    let _entry = super::percpu::UserEntry::new(&frame);
    super::cpu::forbid_user_access();
    panic!("machine check\n{frame:#?}");
}

/// Whether the exception interrupted ring 3: decided by the interrupted code segment, never
/// by an error-code bit (a ring-3 instruction can make the CPU access memory as a supervisor).
fn from_user(frame: &InterruptStackFrame) -> bool {
    frame.code_segment.rpl() == x86_64::PrivilegeLevel::Ring3
}

/// Handlers for the exceptions the kernel never expects: each panics with its name.
macro_rules! fatal {
    ($($name:ident => $what:literal),* $(,)?) => {$(
        pub(super) extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            let _entry = super::percpu::UserEntry::new(&frame);
            super::cpu::forbid_user_access();
            if from_user(&frame) {
                crate::task::kill_current(format_args!(concat!($what, " at {:#x}"), frame.instruction_pointer.as_u64()));
            }
            panic!(concat!($what, "\n{:#?}"), frame);
        }
    )*};
}

/// As [`fatal!`], for exceptions that push an error code.
macro_rules! fatal_with_code {
    ($($name:ident => $what:literal),* $(,)?) => {$(
        pub(super) extern "x86-interrupt" fn $name(frame: InterruptStackFrame, code: u64) {
            let _entry = super::percpu::UserEntry::new(&frame);
            super::cpu::forbid_user_access();
            if from_user(&frame) {
                crate::task::kill_current(format_args!(concat!($what, " (error code {:#x}) at {:#x}"), code, frame.instruction_pointer.as_u64()));
            }
            panic!(concat!($what, " (error code {:#x})\n{:#?}"), code, frame);
        }
    )*};
}

fatal! {
    divide_error => "divide error",
    debug => "debug exception",
    non_maskable_interrupt => "non-maskable interrupt",
    overflow => "overflow",
    bound_range_exceeded => "bound range exceeded",
    invalid_opcode => "invalid opcode",
    device_not_available => "device not available",
    x87_floating_point => "x87 floating-point exception",
    simd_floating_point => "SIMD floating-point exception",
    virtualization => "virtualization exception",
    hv_injection => "hypervisor injection exception",
}

fatal_with_code! {
    invalid_tss => "invalid TSS",
    segment_not_present => "segment not present",
    stack_segment_fault => "stack-segment fault",
    general_protection_fault => "general protection fault",
    alignment_check => "alignment check",
    cp_protection => "control-protection exception",
    vmm_communication => "VMM communication exception",
    security => "security exception",
}
