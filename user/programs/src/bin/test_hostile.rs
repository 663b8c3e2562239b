//! User-mode regression tests of what a hostile task can do with its own CPU state and its
//! tasks: flags it sets before entering the kernel, instructions that make the CPU touch
//! memory as a supervisor, descriptor-table reads, unreachable tasks, and out-parameters in
//! memory the kernel cannot write.

#![no_std]
#![no_main]

use mach::child::{spawn, wait};
use mach::raw::{syscall, Sysno, VmRemapArgs};
use mach::*;

#[path = "../common.rs"]
mod common;
use common::*;

mach::entry!(main);

const PAGE: u64 = 4096;
const KILLED: i32 = -1;

fn main() -> i32 {
    mach::test::run(&mach::tests![
        nested_task_flag_survives_a_blocking_call,
        alignment_check_flag_is_cleared_on_every_exception,
        iretq_in_ring_3_never_takes_the_kernel_down,
        far_return_in_ring_3_never_takes_the_kernel_down,
        descriptor_table_reads_fault_in_ring_3,
        a_dropped_thread_less_child_ends,
        thread_less_children_end_with_their_parent,
        unreachable_tasks_never_fill_the_task_table,
        memory_entry_with_a_read_only_size_changes_nothing,
        copyin_with_a_read_only_out_pointer_changes_nothing,
        copyin_that_would_remove_its_own_out_pointer_is_refused,
        remap_with_a_read_only_argument_block_changes_nothing,
        a_family_at_its_quota_cannot_starve_others,
    ])
}

/// Sets the RFLAGS bits `bits` (ring 3 may change NT and AC with `popfq`).
fn set_flags(bits: u64) {
    // SAFETY: only RFLAGS changes; the stack is balanced.
    unsafe { core::arch::asm!("pushfq", "or qword ptr [rsp], {bits}", "popfq", bits = in(reg) bits) };
}

const NT: u64 = 1 << 14;
const AC: u64 = 1 << 18;

extern "C" fn spins_then_exits(spins: u64) -> ! {
    for i in 0..spins {
        core::hint::black_box(i);
    }
    task_exit(0)
}

/// With NT set, waits for a grandchild that runs long enough for timer interrupts to hit
/// the kernel meanwhile.
extern "C" fn waits_with_nested_task_set(_: u64) -> ! {
    let grandchild = spawn(spins_then_exits, 3_000_000).expect("the grandchild starts");
    set_flags(NT | AC);
    let status = wait(grandchild);
    task_exit(if status == Ok(0) { 0 } else { 1 })
}

fn nested_task_flag_survives_a_blocking_call() {
    assert_eq!(run_child(waits_with_nested_task_set, 0), 0);
}

extern "C" fn faults_with_alignment_check_set(kind: u64) -> ! {
    set_flags(AC);
    // SAFETY: each instruction raises an exception that ends this task.
    unsafe {
        match kind {
            0 => core::arch::asm!("ud2"),
            1 => core::arch::asm!("int3"),
            2 => core::arch::asm!("mov rax, 0xffff800000000000", "mov rax, [rax]", out("rax") _),
            _ => core::arch::asm!("mov rax, 0x0000900000000000", "mov rax, [rax]", out("rax") _),
        }
    }
    task_exit(0)
}

/// #UD, #BP, a kernel-address read (#PF) and a non-canonical read (#GP) from ring 3 with AC set: each
/// ends the task, and the kernel (whose scheduler asserts AC clear) goes on.
fn alignment_check_flag_is_cleared_on_every_exception() {
    for kind in 0..4 {
        assert_eq!(run_child(faults_with_alignment_check_set, kind), KILLED, "exception kind {kind}");
    }
}

/// Returns to the next instruction through an `iretq` frame built on the user stack.
extern "C" fn returns_with_iretq(_: u64) -> ! {
    // SAFETY: the frame holds this task's own CS, SS, RFLAGS and stack pointer and the address
    // of the next instruction, so a successful `iretq` continues right after itself.
    unsafe {
        core::arch::asm!(
            "mov rax, rsp",
            "mov rcx, ss",
            "push rcx",
            "push rax",
            "pushfq",
            "mov rcx, cs",
            "push rcx",
            "lea rax, [rip + 2f]",
            "push rax",
            "iretq",
            "2:",
            out("rax") _,
            out("rcx") _,
        )
    };
    task_exit(0)
}

/// Returns to the next instruction with a far return (`rex64 retf`).
extern "C" fn returns_with_far_return(_: u64) -> ! {
    // SAFETY: as above, with a far-return frame (RIP, CS).
    unsafe {
        core::arch::asm!(
            "mov rax, cs",
            "push rax",
            "lea rax, [rip + 2f]",
            "push rax",
            "rex64 retf",
            "2:",
            out("rax") _,
        )
    };
    task_exit(0)
}

/// Hardware returns normally; QEMU's TCG pops the frame with supervisor accesses, which SMAP
/// refuses, so the task ends there. Either way the kernel goes on.
fn iretq_in_ring_3_never_takes_the_kernel_down() {
    let status = run_child(returns_with_iretq, 0);
    assert!(status == 0 || status == KILLED, "status {status}");
}

fn far_return_in_ring_3_never_takes_the_kernel_down() {
    let status = run_child(returns_with_far_return, 0);
    assert!(status == 0 || status == KILLED, "status {status}");
}

extern "C" fn reads_the_gdt_register(_: u64) -> ! {
    let mut gdtr = [0u8; 10];
    // SAFETY: `sgdt` stores 10 bytes into the buffer (or faults under UMIP).
    unsafe { core::arch::asm!("sgdt [{}]", in(reg) gdtr.as_mut_ptr()) };
    core::hint::black_box(&gdtr);
    task_exit(0)
}

/// UMIP is on (the runner's CPU model offers it): `sgdt` in ring 3 faults.
fn descriptor_table_reads_fault_in_ring_3() {
    assert_eq!(run_child(reads_the_gdt_register, 0), KILLED);
}

/// A thread-less child inheriting `pages` touched pages; returns its handle.
fn thread_less_child() -> mach_port_t {
    let mut child = 0;
    assert_eq!(task_create(me(), TRUE, &mut child), KERN_SUCCESS);
    child
}

fn touched(pages: u64) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    for p in 0..pages {
        poke(a + p * PAGE, 1);
    }
    a
}

fn a_dropped_thread_less_child_ends() {
    let a = touched(16);
    let warm_up = thread_less_child(); // this task's own tables reach their size
    assert_eq!(mach_port_deallocate(me(), warm_up), KERN_SUCCESS);
    let before = free_frames();
    let child = thread_less_child();
    assert!(free_frames() < before, "the child's address space takes frames");
    assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
    assert_eq!(free_frames(), before, "the unreachable child's memory came back");
    assert_eq!(vm_deallocate(me(), a, 16 * PAGE), KERN_SUCCESS);
}

/// Makes `n` thread-less children (inheriting this task's memory), then exits.
extern "C" fn makes_thread_less_children(n: u64) -> ! {
    for _ in 0..n {
        let mut child = 0;
        if task_create(mach_task_self(), TRUE, &mut child) != KERN_SUCCESS {
            task_exit(1);
        }
    }
    task_exit(0)
}

fn thread_less_children_end_with_their_parent() {
    assert_eq!(run_child(makes_thread_less_children, 1), 0);
    let before = free_frames();
    assert_eq!(run_child(makes_thread_less_children, 20), 0);
    assert_eq!(free_frames(), before, "the children died with their parent");
}

/// More unreachable tasks than the task table holds, made one after the other.
fn unreachable_tasks_never_fill_the_task_table() {
    let before = free_frames();
    for i in 0..1500 {
        let mut child = 0;
        assert_eq!(task_create(me(), FALSE, &mut child), KERN_SUCCESS, "task {i}");
        assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
    }
    assert_eq!(free_frames(), before);
}

/// A page holding `value` at its start, then made read-only.
fn read_only_word(value: u64) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    // SAFETY: `a` is a fresh writable page of this task.
    unsafe { (a as *mut u64).write_volatile(value) };
    assert_eq!(vm_protect(me(), a, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    a
}

fn region_at(a: u64) -> (u64, VmRegionInfo) {
    let (mut at, mut size, mut info) = (a, 0, VmRegionInfo::default());
    assert_eq!(vm_region(me(), &mut at, &mut size, &mut info), KERN_SUCCESS);
    assert_eq!(at, a);
    (size, info)
}

fn memory_entry_with_a_read_only_size_changes_nothing() {
    let a = touched(4);
    let size_word = read_only_word(4 * PAGE);
    let mut handle = 0u64;
    let before = region_at(a);
    let args = [me().into(), size_word, a, VM_PROT_DEFAULT as u64, &mut handle as *mut u64 as u64, 0];
    // SAFETY: the kernel reads and writes `*size_word` (read-only: refused) and `handle`.
    let kr = unsafe { syscall(Sysno::MachMakeMemoryEntry, args) } as i32;
    assert_eq!(kr, KERN_INVALID_ADDRESS);
    assert_eq!(region_at(a), before, "the region is not marked shared");
    assert_eq!(handle, 0);
    assert_eq!(vm_deallocate(me(), a, 4 * PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), size_word, PAGE), KERN_SUCCESS);
}

fn copyin_with_a_read_only_out_pointer_changes_nothing() {
    let a = touched(8);
    let out = read_only_word(0);
    let args = [me().into(), a, 8 * PAGE, TRUE.into(), out, 0];
    // SAFETY: the kernel writes `*out` (read-only: refused).
    let kr = unsafe { syscall(Sysno::VmCopyin, args) } as i32;
    assert_eq!(kr, KERN_INVALID_ADDRESS);
    assert_eq!(region_at(a).0, 8 * PAGE, "the source was not removed");
    assert_eq!(peek(a + 7 * PAGE), 1);
    assert_eq!(vm_deallocate(me(), a, 8 * PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), out, PAGE), KERN_SUCCESS);
}

/// A copy-in whose out-pointer lies in the range it removes would act and then fail to
/// report: refused before anything changes.
fn copyin_that_would_remove_its_own_out_pointer_is_refused() {
    let a = touched(8);
    let args = [me().into(), a, 8 * PAGE, TRUE.into(), a + 3 * PAGE, 0];
    // SAFETY: the kernel writes `*(a + 3 pages)`, a page of this task.
    let kr = unsafe { syscall(Sysno::VmCopyin, args) } as i32;
    assert_eq!(kr, KERN_INVALID_ADDRESS);
    assert_eq!(region_at(a).0, 8 * PAGE, "the source was not removed");
    assert_eq!(vm_deallocate(me(), a, 8 * PAGE), KERN_SUCCESS);
}

fn remap_with_a_read_only_argument_block_changes_nothing() {
    let a = touched(4);
    let mut block = 0;
    assert_eq!(vm_allocate(me(), &mut block, PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    let target = block + 64 * PAGE;
    let args = VmRemapArgs {
        target_address: target,
        size: 4 * PAGE,
        mask: 0,
        src_address: a,
        target_task: me(),
        flags: VM_FLAGS_FIXED,
        src_task: me(),
        copy: FALSE,
        cur_protection: 0,
        max_protection: 0,
        inheritance: VM_INHERIT_SHARE,
        reserved: 0,
    };
    // SAFETY: `block` is a fresh page of this task, large enough for the arguments.
    unsafe { (block as *mut VmRemapArgs).write_volatile(args) };
    assert_eq!(vm_protect(me(), block, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    // SAFETY: the kernel reads and writes the block (read-only: refused).
    let kr = unsafe { syscall(Sysno::VmRemap, [block, 0, 0, 0, 0, 0]) } as i32;
    assert_eq!(kr, KERN_INVALID_ADDRESS);
    let (mut at, mut size, mut info) = (target, 0, VmRegionInfo::default());
    let found = vm_region(me(), &mut at, &mut size, &mut info);
    assert!(found != KERN_SUCCESS || at > target, "nothing was mapped at the target");
    assert_eq!(region_at(a).1.shared, FALSE, "the source is not marked shared");
    assert_eq!(vm_deallocate(me(), a, 4 * PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), block, PAGE), KERN_SUCCESS);
}

/// Splits a fresh region of `pages` pages into one entry per page (every other page made
/// read-only) until the kernel refuses; returns the region and how many splits succeeded.
fn fill_with_entries(pages: u64) -> (u64, u64) {
    let mut a = 0;
    if vm_allocate(mach_task_self(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE) != KERN_SUCCESS {
        return (0, 0);
    }
    let mut splits = 0;
    for p in (1..pages).step_by(2) {
        if vm_protect(mach_task_self(), a + p * PAGE, PAGE, FALSE, VM_PROT_READ) != KERN_SUCCESS {
            break;
        }
        splits += 1;
    }
    (a, splits)
}

/// A hostile family: fills its own map with entries, then copies it into thread-less
/// children (each copy charged to the family) until refused; raises the shared flag at
/// `flag` and spins until terminated.
extern "C" fn fills_its_family_quota(flag: u64) -> ! {
    let mut entries = fill_with_entries(1 << 16).1;
    let mut child = 0;
    while task_create(mach_task_self(), TRUE, &mut child) == KERN_SUCCESS {
        entries += fill_with_entries(1 << 16).1;
    }
    // SAFETY: `flag` is a page shared with the parent.
    unsafe { (flag as *mut u64).write_volatile(entries.max(1)) };
    loop {
        core::hint::spin_loop();
    }
}

fn a_family_at_its_quota_cannot_starve_others() {
    let before = free_frames();
    let mut flag = 0;
    assert_eq!(vm_allocate(me(), &mut flag, PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    assert_eq!(vm_inherit(me(), flag, PAGE, VM_INHERIT_SHARE), KERN_SUCCESS);
    let hostile = spawn(fills_its_family_quota, flag).expect("the hostile family starts");
    // SAFETY: `flag` is this task's page, shared with the child.
    while unsafe { (flag as *const u64).read_volatile() } == 0 {
        core::hint::spin_loop();
    }
    // SAFETY: as above.
    let splits = unsafe { (flag as *const u64).read_volatile() };
    println!("the hostile family was refused after {splits} entry splits");
    // This task, and a new family, still get what they ask for.
    let a = touched(1);
    let (region, splits) = fill_with_entries(64);
    assert_eq!(splits, 32, "this task can still add entries");
    assert_eq!(vm_deallocate(me(), region, 64 * PAGE), KERN_SUCCESS);
    assert_eq!(run_child(makes_thread_less_children, 2), 0, "another family still creates tasks");
    assert_eq!(task_terminate(hostile), KERN_SUCCESS);
    assert_eq!(wait(hostile), Ok(KILLED));
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), flag, PAGE), KERN_SUCCESS);
    assert_eq!(free_frames(), before, "the hostile family's memory came back");
}
