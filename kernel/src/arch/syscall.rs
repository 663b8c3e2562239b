//! The `syscall` entry and the way back to ring 3.
//!
//! `syscall` leaves the user stack pointer in place, so the entry stub first loads the
//! kernel's GS base (`swapgs`: the processor's record, `percpu`), parks the user stack
//! pointer in the record and loads the running thread's kernel stack from it (SFMASK clears
//! IF, so nothing can interleave). It then pushes a [`SyscallFrame`] and calls
//! [`dispatch`](crate::syscall::dispatch) with interrupts on. On the way out, with interrupts
//! off again, a thread whose task has ended meanwhile gives up its processor for good;
//! otherwise the stub restores the argument registers (the ABI preserves everything but
//! `rax`, `rcx` and `r11`), swaps the task's GS base back and returns with `sysretq`. A call
//! that blocks switches threads, and the thread may come back on another processor: the
//! stub reads nothing of the record after the call.

use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::VirtAddr;

/// The registers a user thread entered the kernel with, as the entry stub pushed them.
#[repr(C)]
#[derive(Debug)]
pub struct SyscallFrame {
    /// Call number on entry; the result on return.
    pub rax: u64,
    /// Argument 1.
    pub rdi: u64,
    /// Argument 2.
    pub rsi: u64,
    /// Argument 3.
    pub rdx: u64,
    /// Argument 4.
    pub r10: u64,
    /// Argument 5.
    pub r8: u64,
    /// Argument 6.
    pub r9: u64,
    /// The user's RFLAGS.
    pub rflags: u64,
    /// The user's return address.
    pub rip: u64,
    /// The user's stack pointer.
    pub rsp: u64,
}

impl SyscallFrame {
    /// The six arguments in order.
    pub fn args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

#[unsafe(naked)]
unsafe extern "C" fn syscall_entry() {
    core::arch::naked_asm!(
        "swapgs",
        "mov qword ptr gs:[{user_rsp}], rsp",
        "mov rsp, qword ptr gs:[{kernel_rsp}]",
        "push qword ptr gs:[{user_rsp}]",
        "push rcx",
        "push r11",
        "push r9",
        "push r8",
        "push r10",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rax",
        "mov rdi, rsp",
        "call {dispatch}",
        "pop rax",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop r10",
        "pop r8",
        "pop r9",
        "pop r11",
        "pop rcx",
        "pop rsp",
        "swapgs",
        "sysretq",
        user_rsp = const super::percpu::USER_RSP,
        kernel_rsp = const super::percpu::KERNEL_RSP,
        dispatch = sym dispatch_from_entry,
    );
}

extern "C" fn dispatch_from_entry(frame: &mut SyscallFrame) {
    x86_64::instructions::interrupts::enable();
    crate::syscall::dispatch(frame);
    // Off until `sysretq` restores the user's flags: the stub's last steps run on the user
    // stack, where no interrupt may arrive in ring 0.
    x86_64::instructions::interrupts::disable();
    crate::task::sched::leave_if_ended();
}

/// The RFLAGS bits `syscall` clears on entry, so that nothing a task sets in its own flags
/// reaches kernel code: interrupts stay off until the stub is on a kernel stack (IF), string
/// instructions run forwards (DF), no single-step trap in the kernel (TF), SMAP stays on (AC),
/// no nested-task return (NT: an `iretq` with it set faults in long mode), and the I/O
/// privilege level is 0 (IOPL, which ring 3 cannot raise but is cleared all the same).
pub const ENTRY_FLAGS_MASK: RFlags = RFlags::INTERRUPT_FLAG
    .union(RFlags::DIRECTION_FLAG)
    .union(RFlags::TRAP_FLAG)
    .union(RFlags::ALIGNMENT_CHECK)
    .union(RFlags::NESTED_TASK)
    .union(RFlags::IOPL_HIGH)
    .union(RFlags::IOPL_LOW)
    .union(RFlags::RESUME_FLAG);

/// Turns on `syscall`/`sysret` and points them at the entry stub.
pub fn init() {
    let selectors = super::gdt::selectors();
    // SAFETY: the selectors are those of the loaded GDT in the order STAR needs (kernel code,
    // kernel data; user data, user code); LSTAR points at an entry stub that switches to a
    // kernel stack before touching memory, and SFMASK keeps interrupts off until it has.
    unsafe {
        Star::write(selectors.user_code, selectors.user_data, selectors.kernel_code, selectors.kernel_data)
            .expect("GDT order fits STAR");
        LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
        SFMask::write(ENTRY_FLAGS_MASK);
        Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
}
