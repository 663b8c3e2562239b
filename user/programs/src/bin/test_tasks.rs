//! User-mode tests of tasks: inheritance, isolation of faults, wiring without faults, calls
//! on another task through its handle, handle checks, and frames returned at exit.

#![no_std]
#![no_main]

use mach::child::{spawn, wait};
use mach::*;

#[path = "../common.rs"]
mod common;
use common::*;

mach::entry!(main);

const PAGE: u64 = 4096;

fn main() -> i32 {
    mach::test::run(&mach::tests![
        share_copy_and_none_are_inherited,
        a_copy_is_a_snapshot_both_ways,
        a_protection_violation_kills_only_the_faulting_task,
        an_invalid_instruction_kills_only_the_faulting_task,
        a_looping_child_is_preempted_and_terminated,
        wired_memory_takes_no_faults,
        calls_on_a_child_through_its_handle,
        bad_handles_are_refused,
        only_the_host_handle_wires,
        task_wait_checks,
        garbage_pointers_in_task_calls,
        every_frame_comes_back_when_a_task_ends,
        sse_registers_survive_preemption,
    ])
}


fn alloc(pages: u64, inheritance: vm_inherit_t) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    assert_eq!(vm_inherit(me(), a, pages * PAGE, inheritance), KERN_SUCCESS);
    a
}

fn free(a: u64, pages: u64) {
    assert_eq!(vm_deallocate(me(), a, pages * PAGE), KERN_SUCCESS);
}




/// Three pages: SHARE, COPY, NONE, each starting with its letter.
fn three() -> u64 {
    let a = alloc(3, VM_INHERIT_COPY);
    assert_eq!(vm_inherit(me(), a, PAGE, VM_INHERIT_SHARE), KERN_SUCCESS);
    assert_eq!(vm_inherit(me(), a + 2 * PAGE, PAGE, VM_INHERIT_NONE), KERN_SUCCESS);
    for (i, v) in [b'S', b'C', b'N'].into_iter().enumerate() {
        poke(a + i as u64 * PAGE, v);
    }
    a
}

extern "C" fn child_checks_three(a: u64) -> ! {
    let (mut at, mut size, mut info) = (a + 2 * PAGE, 0, VmRegionInfo::default());
    let none_absent = vm_region(mach_task_self(), &mut at, &mut size, &mut info) != KERN_SUCCESS || at > a + 2 * PAGE;
    let saw = peek(a) == b'S' && peek(a + PAGE) == b'C';
    poke(a, b's');
    poke(a + PAGE, b'c');
    task_exit(if none_absent && saw { 0 } else { 1 })
}

fn share_copy_and_none_are_inherited() {
    let a = three();
    assert_eq!(run_child(child_checks_three, a), 0);
    assert_eq!((peek(a), peek(a + PAGE), peek(a + 2 * PAGE)), (b's', b'C', b'N'));
    free(a, 3);
}

extern "C" fn child_writes_then_reads(a: u64) -> ! {
    poke(a, 7);
    // The parent writes a+1 only after the child started; the child must keep its snapshot.
    let mut spins = 0u64;
    while peek(a + 1) == 0 && spins < 2_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    task_exit(i32::from(peek(a + 1)))
}

fn a_copy_is_a_snapshot_both_ways() {
    let a = alloc(1, VM_INHERIT_COPY);
    let child = spawn(child_writes_then_reads, a).expect("the child starts");
    poke(a + 1, 9);
    let status = wait(child).expect("the child ends");
    assert_eq!(status, 0, "the parent's later write never shows in the child's copy");
    assert_eq!(peek(a), 0, "the child's write never shows in the parent");
    free(a, 1);
}

extern "C" fn child_writes_read_only(a: u64) -> ! {
    poke(a, 1);
    task_exit(0)
}

fn a_protection_violation_kills_only_the_faulting_task() {
    let a = alloc(1, VM_INHERIT_COPY);
    assert_eq!(vm_protect(me(), a, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    assert_eq!(run_child(child_writes_read_only, a), -1, "killed by the kernel");
    assert_eq!(peek(a), 0, "the parent goes on, memory intact");
    free(a, 1);
}

extern "C" fn child_executes_ud2(_: u64) -> ! {
    // SAFETY: ud2 raises #UD; the kernel ends this task.
    unsafe { core::arch::asm!("ud2") };
    task_exit(0)
}

fn an_invalid_instruction_kills_only_the_faulting_task() {
    assert_eq!(run_child(child_executes_ud2, 0), -1);
}

extern "C" fn child_loops(_: u64) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

fn a_looping_child_is_preempted_and_terminated() {
    let child = spawn(child_loops, 0).expect("the child starts");
    let mut info = TaskBasicInfo::default();
    assert_eq!(task_info(child, &mut info), KERN_SUCCESS, "the parent runs while the child loops");
    assert_eq!(task_terminate(child), KERN_SUCCESS);
    assert_eq!(wait(child), Ok(-1));
}

fn faults() -> u64 {
    let mut info = TaskBasicInfo::default();
    assert_eq!(task_info(me(), &mut info), KERN_SUCCESS);
    info.faults
}

fn wired_memory_takes_no_faults() {
    let a = alloc(8, VM_INHERIT_COPY);
    assert_eq!(vm_wire(mach_host_priv(), me(), a, 8 * PAGE, VM_PROT_DEFAULT), KERN_SUCCESS);
    let before = faults();
    for page in 0..8 {
        poke(a + page * PAGE, 1);
        assert_eq!(peek(a + page * PAGE + 1), 0);
    }
    assert_eq!(faults(), before, "no fault on wired pages");
    let mut info = TaskBasicInfo::default();
    assert_eq!(task_info(me(), &mut info), KERN_SUCCESS);
    assert!(info.wired_count >= 8);
    assert_eq!(vm_wire(mach_host_priv(), me(), a, 8 * PAGE, VM_PROT_NONE), KERN_SUCCESS);
    free(a, 8);
    let b = alloc(1, VM_INHERIT_COPY);
    let before = faults();
    poke(b, 1);
    assert_eq!(faults(), before + 1, "the counter does count faults");
    free(b, 1);
}

extern "C" fn child_reads_fixed(a: u64) -> ! {
    let (mut at, mut size, mut info) = (a, 0, VmRegionInfo::default());
    let mapped = vm_region(mach_task_self(), &mut at, &mut size, &mut info) == KERN_SUCCESS && at == a;
    task_exit(if mapped && peek(a) == 0 && info.protection == VM_PROT_READ { 0 } else { 1 })
}

fn calls_on_a_child_through_its_handle() {
    let mut child = 0;
    assert_eq!(task_create(me(), TRUE, &mut child), KERN_SUCCESS);
    let mut a = 0x5000_0000;
    assert_eq!(vm_allocate(child, &mut a, 2 * PAGE, VM_FLAGS_FIXED), KERN_SUCCESS);
    assert_eq!(vm_protect(child, a, 2 * PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    let (mut at, mut size, mut info) = (a, 0, VmRegionInfo::default());
    assert_eq!(vm_region(child, &mut at, &mut size, &mut info), KERN_SUCCESS);
    assert_eq!((at, size, info.protection), (a, 2 * PAGE, VM_PROT_READ));
    let (mut mine, mut s2, mut i2) = (a, 0, VmRegionInfo::default());
    let parent_has_it = vm_region(me(), &mut mine, &mut s2, &mut i2) == KERN_SUCCESS && mine == a;
    assert!(!parent_has_it, "the allocation went to the child only");
    let mut stack = 0;
    assert_eq!(vm_allocate(child, &mut stack, 16 * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    assert_eq!(thread_create_running(child, child_reads_fixed, stack + 16 * PAGE - 8, a), KERN_SUCCESS);
    assert_eq!(wait(child), Ok(0));
}

fn bad_handles_are_refused() {
    let mut a = 0;
    let mut child = 0;
    for bad in [0, 99, u32::MAX, mach_host_priv()] {
        assert_eq!(vm_allocate(bad, &mut a, PAGE, VM_FLAGS_ANYWHERE), KERN_INVALID_TASK);
        assert_eq!(task_create(bad, TRUE, &mut child), KERN_INVALID_TASK);
        assert_eq!(task_terminate(bad), KERN_INVALID_TASK);
        assert_eq!(task_info(bad, &mut TaskBasicInfo::default()), KERN_INVALID_TASK);
    }
    assert_eq!(task_create(me(), FALSE, &mut child), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
    assert_eq!(vm_allocate(child, &mut a, PAGE, VM_FLAGS_ANYWHERE), KERN_INVALID_TASK, "a dropped handle");
    assert_eq!(mach_port_deallocate(me(), child), KERN_INVALID_ARGUMENT);
    assert_eq!(mach_port_deallocate(me(), 0), KERN_INVALID_ARGUMENT);
}

extern "C" fn child_tries_to_wire(a: u64) -> ! {
    let kr = vm_wire(mach_host_priv(), mach_task_self(), a, PAGE, VM_PROT_READ);
    task_exit(if kr == KERN_INVALID_HOST { 0 } else { 1 })
}

fn only_the_host_handle_wires() {
    let a = alloc(1, VM_INHERIT_COPY);
    assert_eq!(run_child(child_tries_to_wire, a), 0, "a task without the host handle cannot wire");
    assert_eq!(vm_wire(me(), me(), a, PAGE, VM_PROT_READ), KERN_INVALID_HOST);
    free(a, 1);
}

fn task_wait_checks() {
    let mut status = 0;
    assert_eq!(task_wait(me(), &mut status), KERN_INVALID_ARGUMENT, "waiting for oneself");
    let mut child = 0;
    assert_eq!(task_create(me(), FALSE, &mut child), KERN_SUCCESS);
    assert_eq!(task_wait(child, &mut status), KERN_FAILURE, "a task without threads never ends");
    assert_eq!(task_terminate(child), KERN_SUCCESS);
    assert_eq!(task_wait(child, &mut status), KERN_SUCCESS);
    assert_eq!(status, -1);
    assert_eq!(task_terminate(child), KERN_INVALID_TASK, "already ended");
    assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
}

fn raw(call: mach::raw::Sysno, args: [u64; 6]) -> kern_return_t {
    // SAFETY: the pointers are deliberately bad; the kernel checks them.
    unsafe { mach::raw::syscall(call, args) as kern_return_t }
}

fn garbage_pointers_in_task_calls() {
    use mach::raw::Sysno;
    let kernel = 0xffff_8000_0000_0000u64;
    for bad in [0, 8, kernel, u64::MAX - 2] {
        assert_eq!(raw(Sysno::TaskCreate, [me().into(), 0, bad, 0, 0, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::TaskInfo, [me().into(), bad, 0, 0, 0, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::VmStatistics, [bad, 0, 0, 0, 0, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::VmRegion, [me().into(), bad, bad, bad, 0, 0]), KERN_INVALID_ADDRESS);
    }
    let mut child = 0;
    assert_eq!(task_create(me(), FALSE, &mut child), KERN_SUCCESS);
    assert_eq!(raw(Sysno::TaskWait, [child.into(), kernel, 0, 0, 0, 0]), KERN_INVALID_ADDRESS);
    assert_eq!(task_terminate(child), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
    assert_eq!(raw(Sysno::ThreadCreateRunning, [me().into(), kernel, kernel, 0, 0, 0]), KERN_INVALID_ADDRESS);
    assert_eq!(mach_port_deallocate(me(), 3), KERN_INVALID_ARGUMENT, "no task handles left behind");
}

extern "C" fn child_touches(a: u64) -> ! {
    for page in 0..64 {
        poke(a + page * PAGE, 3);
    }
    let mut b = 0;
    let kr = vm_allocate(mach_task_self(), &mut b, 32 * PAGE, VM_FLAGS_ANYWHERE);
    for page in 0..32 {
        poke(b + page * PAGE, 4);
    }
    task_exit(kr)
}


fn every_frame_comes_back_when_a_task_ends() {
    let a = alloc(64, VM_INHERIT_COPY);
    for page in 0..64 {
        poke(a + page * PAGE, 1);
    }
    // Warm up: the first spawn makes this task's own stack and tables as deep as they get.
    assert_eq!(run_child(child_touches, a), 0);
    let before = free_frames();
    assert_eq!(run_child(child_touches, a), 0);
    assert_eq!(free_frames(), before, "the child's frames, tables and copies all came back");
    free(a, 64);
}

/// Puts `pattern` in xmm0, spins `spins` times (long enough to be preempted), and returns
/// what xmm0 holds then. One asm block: the compiler (built without SSE) never uses xmm0.
fn xmm0_after_spinning(pattern: u64, spins: u64) -> u64 {
    let out: u64;
    // SAFETY: only xmm0 and the listed general registers change; no memory is touched.
    unsafe {
        core::arch::asm!(
            "movq xmm0, {pattern}",
            "2:",
            "dec {spins}",
            "jnz 2b",
            "movq {out}, xmm0",
            pattern = in(reg) pattern,
            spins = inout(reg) spins.max(1) => _,
            out = lateout(reg) out,
            options(nomem, nostack),
        );
    }
    out
}

const SPINS: u64 = 30_000_000;

extern "C" fn child_spins_with_xmm0(pattern: u64) -> ! {
    task_exit(i32::from(xmm0_after_spinning(pattern, SPINS) != pattern))
}

/// Two tasks keep different values in an SSE register while the timer switches between them:
/// each finds its own value afterwards (the scheduler saves and restores the SSE state).
fn sse_registers_survive_preemption() {
    let child = spawn(child_spins_with_xmm0, 0x1111_2222_3333_4444).expect("a child");
    let mine = 0x5555_6666_7777_8888;
    assert_eq!(xmm0_after_spinning(mine, SPINS), mine, "the parent's xmm0 survived");
    assert_eq!(wait(child), Ok(0), "the child's xmm0 survived");
}
