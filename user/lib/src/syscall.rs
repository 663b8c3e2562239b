//! The `syscall` instruction, with the register convention of [`machvm_abi`].

use machvm_abi::Sysno;

/// Enters the kernel for call `n` with up to six arguments; returns `rax`.
///
/// # Safety
///
/// Pointer arguments must be valid for what the call does with them (the kernel checks every
/// user pointer, so a bad one only yields an error; but a valid pointer to a Rust object that
/// the call writes must be one the caller may write).
pub unsafe fn syscall(n: Sysno, a: [u64; 6]) -> u64 {
    // SAFETY: as the caller promises.
    unsafe { syscall_number(n as u64, a) }
}

/// Enters the kernel with any number in `rax`, a call or not (for tests of the kernel's
/// decoding); returns `rax`.
///
/// # Safety
///
/// As [`syscall`]; a number that is a call does what that call does.
pub unsafe fn syscall_number(n: u64, a: [u64; 6]) -> u64 {
    let result: u64;
    // SAFETY: `syscall` transfers to the kernel, which preserves every register except rax
    // (the result), rcx and r11 (declared clobbered); memory effects are the caller's.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n => result,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}
