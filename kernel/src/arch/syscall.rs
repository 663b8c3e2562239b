//! The `syscall` entry and the way back to ring 3.
//!
//! `syscall` leaves the user stack pointer in place, so the entry stub first parks it in
//! [`USER_RSP`] and loads the current thread's kernel stack from [`KERNEL_RSP`] (one CPU, and
//! SFMASK clears IF, so nothing can interleave). It then pushes a [`SyscallFrame`] and calls
//! [`dispatch`](crate::syscall::dispatch). On the way out it restores the argument registers
//! (the ABI preserves everything but `rax`, `rcx` and `r11`) and returns with `sysretq`.
//! Interrupts stay off for the whole call; a call that blocks switches threads, and the
//! interrupt flag comes back with the user's RFLAGS.

use core::sync::atomic::{AtomicU64, Ordering};
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

/// Top of the current thread's kernel stack, loaded by the entry stub.
static KERNEL_RSP: AtomicU64 = AtomicU64::new(0);
/// The user stack pointer while the entry stub switches stacks.
static USER_RSP: AtomicU64 = AtomicU64::new(0);

/// Sets the kernel stack the next system call runs on (the current thread's).
pub fn set_kernel_stack(top: VirtAddr) {
    KERNEL_RSP.store(top.as_u64(), Ordering::SeqCst);
}

#[unsafe(naked)]
unsafe extern "C" fn syscall_entry() {
    core::arch::naked_asm!(
        "mov qword ptr [rip + {user_rsp}], rsp",
        "mov rsp, qword ptr [rip + {kernel_rsp}]",
        "push qword ptr [rip + {user_rsp}]",
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
        "sysretq",
        user_rsp = sym USER_RSP,
        kernel_rsp = sym KERNEL_RSP,
        dispatch = sym dispatch_from_entry,
    );
}

extern "C" fn dispatch_from_entry(frame: &mut SyscallFrame) {
    crate::syscall::dispatch(frame);
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
