//! Switching kernel stacks between threads, and the first entry of a thread into ring 3.
//!
//! A thread that is not running is a kernel stack whose top holds the callee-saved registers
//! and a return address, pushed by [`switch`]. A new thread's stack is made to look the same
//! ([`prepare_first_entry`]), with [`enter_user`] as the return address and an `iretq` frame
//! above it, so that the first switch to it drops into ring 3.

use x86_64::VirtAddr;

/// Saves the callee-saved registers and RFLAGS on the current stack, stores the stack pointer
/// in `*save`, loads `load` and returns into whatever that stack was switched away with. Each
/// context keeps its own flags, so nothing a thread's flags hold follows the switch.
///
/// # Safety
///
/// Interrupts must be off. `load` must be a stack prepared by [`prepare_first_entry`] or
/// saved by an earlier `switch`, not in use by anyone else; `save` must be valid for a write.
#[unsafe(naked)]
pub unsafe extern "C" fn switch(save: *mut u64, load: u64) {
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "pushfq",
        "mov qword ptr [rdi], rsp",
        "mov rsp, rsi",
        "popfq",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    );
}

/// Leaves for ring 3 through the `iretq` frame on the stack, with the thread's argument in
/// `rdi` (popped first) and every other general register cleared so that nothing of the
/// kernel leaks. Entered with interrupts off (the first switch's flags).
#[unsafe(naked)]
unsafe extern "C" fn enter_user() {
    core::arch::naked_asm!(
        "pop rdi",
        "xor eax, eax",
        "xor ebx, ebx",
        "xor ecx, ecx",
        "xor edx, edx",
        "xor esi, esi",
        "xor ebp, ebp",
        "xor r8d, r8d",
        "xor r9d, r9d",
        "xor r10d, r10d",
        "xor r11d, r11d",
        "xor r12d, r12d",
        "xor r13d, r13d",
        "xor r14d, r14d",
        "xor r15d, r15d",
        // The task's GS base (never set: 0) in, the processor's record back to
        // KERNEL_GS_BASE (`percpu`).
        "swapgs",
        "iretq",
    );
}

/// Words [`prepare_first_entry`] writes below the top of a stack (the `iretq` frame, five
/// words and one of padding, ends at the 16-byte-aligned top).
pub const FIRST_ENTRY_WORDS: usize = 1 + 6 + 1 + 1 + 5 + 1;

/// The kernel RFLAGS a new thread's first switch loads: interrupts off, only the reserved bit.
const FIRST_KERNEL_FLAGS: u64 = 0x2;

/// Lays out `stack` (a fresh kernel stack, 16-byte aligned at its end) so that the first
/// [`switch`] to it enters ring 3 at `entry` with stack pointer `user_stack`, `arg` in `rdi`
/// and interrupts on; returns the stack pointer to switch to.
pub fn prepare_first_entry(stack: &mut [u64], entry: VirtAddr, user_stack: VirtAddr, arg: u64) -> u64 {
    let selectors = super::gdt::selectors();
    let n = stack.len();
    let frame = [
        FIRST_KERNEL_FLAGS,
        0, 0, 0, 0, 0, 0, // r15, r14, r13, r12, rbx, rbp
        enter_user as *const () as u64,
        arg,
        entry.as_u64(),
        u64::from(selectors.user_code.0),
        0x202, // RFLAGS: IF and the reserved bit 1
        user_stack.as_u64(),
        u64::from(selectors.user_data.0),
        0, // padding
    ];
    stack[n - FIRST_ENTRY_WORDS..].copy_from_slice(&frame);
    stack[n - FIRST_ENTRY_WORDS..].as_ptr() as u64
}
