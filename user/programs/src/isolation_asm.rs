//! The machine-level pieces of `test_isolation`: children that run with a kernel or
//! non-canonical stack pointer, and system calls with every register set to a known value.

#![allow(dead_code)]

use core::arch::asm;

/// With `rsp = sp`: two system calls (which must not touch the user stack), then exit 7.
pub extern "C" fn child_with_stack_at(sp: u64) -> ! {
    // SAFETY: nothing here uses the stack; the kernel switches to its own on `syscall`.
    unsafe {
        asm!(
            "mov rsp, rdi",
            "mov eax, 2",
            "syscall",
            "mov eax, 18",
            "mov edi, 8",
            "syscall",
            "mov eax, 1",
            "mov edi, 7",
            "syscall",
            "ud2",
            in("rdi") sp,
            options(noreturn),
        )
    }
}

/// With `rsp = sp`: a push, which must end the task.
pub extern "C" fn child_pushes_with_stack_at(sp: u64) -> ! {
    // SAFETY: the push faults on purpose; the kernel ends this task.
    unsafe { asm!("mov rsp, rdi", "push rax", "mov eax, 1", "xor edi, edi", "syscall", "ud2", in("rdi") sp, options(noreturn)) }
}

/// Which registers a call kept, one bit each: rdi, rsi, rdx, r10, r8, r9, r12, r13, r14, r15,
/// rbx and rbp, and r11 equal to the flags after the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept(pub u32);

impl Kept {
    pub const ALL: Kept = Kept(0xfff);
}

const P12: u64 = 0x1212_1212_1212_1212;
const P13: u64 = 0x1313_1313_1313_1313;
const P14: u64 = 0x1414_1414_1414_1414;
const P15: u64 = 0x1515_1515_1515_1515;

/// Makes call `no` with `args` and known values in every other register; returns which were
/// kept.
pub fn registers_across(no: u64, args: [u64; 6]) -> Kept {
    let (rdi, rsi, rdx, r10, r8, r9, r12, r13, r14, r15, rbx_rbp, flags, r11): (u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: the call's pointers are the caller's live objects or bad on purpose; rbx and
    // rbp are saved and restored around it; the stack is balanced.
    unsafe {
        asm!(
            "push rbx",
            "push rbp",
            "mov rbx, 0x0b0b0b0b0b0b0b0b",
            "mov rbp, 0x0d0d0d0d0d0d0d0d",
            "syscall",
            "pushfq",
            "pop rcx",
            "mov rax, 0x0b0b0b0b0b0b0b0b",
            "xor rbx, rax",
            "mov rax, 0x0d0d0d0d0d0d0d0d",
            "xor rbp, rax",
            "or rbx, rbp",
            "mov rax, rbx",
            "pop rbp",
            "pop rbx",
            inout("rax") no => rbx_rbp,
            inout("rdi") args[0] => rdi,
            inout("rsi") args[1] => rsi,
            inout("rdx") args[2] => rdx,
            inout("r10") args[3] => r10,
            inout("r8") args[4] => r8,
            inout("r9") args[5] => r9,
            inout("r12") P12 => r12,
            inout("r13") P13 => r13,
            inout("r14") P14 => r14,
            inout("r15") P15 => r15,
            out("rcx") flags,
            out("r11") r11,
        );
    }
    let kept = [
        rdi == args[0],
        rsi == args[1],
        rdx == args[2],
        r10 == args[3],
        r8 == args[4],
        r9 == args[5],
        r12 == P12,
        r13 == P13,
        r14 == P14,
        r15 == P15,
        rbx_rbp == 0,
        (r11 ^ flags) & !(1 << 16) == 0,
    ];
    Kept(kept.iter().enumerate().map(|(i, &k)| u32::from(k) << i).sum())
}

/// Loads `values` into xmm0..xmm15 (low halves), then runs `body`, then stores them back.
macro_rules! with_vectors {
    ($values:expr, $out:expr, [$($body:literal),*] $($extra:tt)*) => {
        asm!(
            "movq xmm0, [{v}]", "movq xmm1, [{v} + 8]", "movq xmm2, [{v} + 16]", "movq xmm3, [{v} + 24]",
            "movq xmm4, [{v} + 32]", "movq xmm5, [{v} + 40]", "movq xmm6, [{v} + 48]", "movq xmm7, [{v} + 56]",
            "movq xmm8, [{v} + 64]", "movq xmm9, [{v} + 72]", "movq xmm10, [{v} + 80]", "movq xmm11, [{v} + 88]",
            "movq xmm12, [{v} + 96]", "movq xmm13, [{v} + 104]", "movq xmm14, [{v} + 112]", "movq xmm15, [{v} + 120]",
            $($body,)*
            "movq [{o}], xmm0", "movq [{o} + 8], xmm1", "movq [{o} + 16], xmm2", "movq [{o} + 24], xmm3",
            "movq [{o} + 32], xmm4", "movq [{o} + 40], xmm5", "movq [{o} + 48], xmm6", "movq [{o} + 56], xmm7",
            "movq [{o} + 64], xmm8", "movq [{o} + 72], xmm9", "movq [{o} + 80], xmm10", "movq [{o} + 88], xmm11",
            "movq [{o} + 96], xmm12", "movq [{o} + 104], xmm13", "movq [{o} + 112], xmm14", "movq [{o} + 120], xmm15",
            v = in(reg) $values.as_ptr(),
            o = in(reg) $out.as_mut_ptr(),
            out("rcx") _,
            out("r11") _,
            inout("rax") 0u64 => _,
            inout("rdx") 0u64 => _
            $($extra)*
        )
    };
}

fn patterns(seed: u64) -> [u64; 16] {
    core::array::from_fn(|i| seed.wrapping_mul(i as u64 + 1) ^ 0x0f0f_0f0f_0f0f_0f0f)
}

/// xmm0..xmm15 set, then `task_wait(child)` (which blocks while the child runs with values
/// of its own in those registers): whether they came back.
pub fn vectors_across_wait(child: u32) -> bool {
    let values = patterns(0x1111_2222_3333_4444);
    let mut out = [0u64; 16];
    let mut status = 0u64;
    // SAFETY: only xmm0..xmm15 (which the compiler, built without SSE, never uses), rax, rdx,
    // rcx and r11 change; `values`, `out` and `status` are live.
    unsafe {
        with_vectors!(values, out,
            ["mov eax, 33", "syscall"],
            in("rdi") u64::from(child),
            in("rsi") core::ptr::addr_of_mut!(status),
        );
    }
    out == values && status == 0
}

/// A child that holds values of its own in xmm0..xmm15 for a while (spinning, preempted),
/// then exits 0 if they came back.
pub extern "C" fn child_spins_with_vectors(_: u64) -> ! {
    let values = patterns(0x5555_6666_7777_8888);
    let mut out = [0u64; 16];
    // SAFETY: as in `vectors_across_wait`; the loop only counts down rax.
    unsafe {
        with_vectors!(values, out, ["mov rax, 20000000", "2:", "dec rax", "jnz 2b"]);
    }
    mach::task_exit(i32::from(out != values))
}
