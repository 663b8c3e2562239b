//! Isolation from ring 3: kernel memory can be neither read, written nor executed (and
//! trying ends only the task that tried), another task's memory and handles cannot be
//! reached, fresh memory is always zero even while other tasks free dirty frames, and system
//! calls preserve every register but `rax`, `rcx` and `r11` while other tasks run.

#![no_std]
#![no_main]

use mach::*;

#[path = "../stress.rs"]
mod stress;
use stress::*;

#[path = "../isolation_asm.rs"]
mod isolation_asm;
use isolation_asm::*;

mach::entry!(main);

fn main() -> i32 {
    mach::test::run(&mach::tests![
        kernel_memory_cannot_be_read,
        kernel_memory_cannot_be_written,
        kernel_memory_cannot_be_executed,
        non_canonical_addresses_end_only_that_task,
        a_kernel_stack_pointer_is_never_used_by_the_kernel,
        a_child_can_name_only_itself,
        another_tasks_memory_is_not_reachable,
        fresh_memory_is_zero_while_other_tasks_free_dirty_frames,
        system_calls_preserve_every_other_register,
        vector_registers_survive_a_blocking_call,
    ])
}

/// Kernel addresses: the direct map, the bootloader's area, the kernel stacks, the kernel
/// image, the last page.
const KERNEL: [u64; 6] = [
    0xffff_8000_0000_0000,
    0xffff_8000_0010_0000,
    0xffff_8080_0000_0000,
    0xffff_ff00_0000_8000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_ffff_f000,
];
/// Non-canonical addresses.
const NON_CANONICAL: [u64; 3] = [0x0000_8000_0000_0000, 0x1234_5678_9abc_def0, 0xffff_7fff_ffff_f000];

extern "C" fn child_reads(address: u64) -> ! {
    // SAFETY: deliberately bad: the kernel must end this task.
    let value = unsafe { (address as *const u64).read_volatile() };
    task_exit(if value == 0 { 2 } else { 3 })
}

extern "C" fn child_writes(address: u64) -> ! {
    // SAFETY: deliberately bad: the kernel must end this task.
    unsafe { (address as *mut u64).write_volatile(0x6666) };
    task_exit(2)
}

extern "C" fn child_calls(address: u64) -> ! {
    // SAFETY: deliberately bad: the fetch must fault and the kernel end this task.
    let f: extern "C" fn() = unsafe { core::mem::transmute(address as usize) };
    f();
    task_exit(2)
}

/// Runs `entry(address)` for each address in a child: each must be killed; this task and
/// its memory go on unharmed.
fn each_kills_only_its_child(entry: extern "C" fn(u64) -> !, addresses: &[u64]) {
    let mine = alloc(1);
    put(mine, 0x5afe);
    three_cycles("killed children", || {
        for &a in addresses {
            assert_eq!(run_child(entry, a), -1, "the task touching {a:#x} was killed");
        }
    });
    assert_eq!(get(mine), 0x5afe, "this task's memory is intact");
    free(mine, 1);
}

fn kernel_memory_cannot_be_read() {
    each_kills_only_its_child(child_reads, &KERNEL);
}

fn kernel_memory_cannot_be_written() {
    each_kills_only_its_child(child_writes, &KERNEL);
}

fn kernel_memory_cannot_be_executed() {
    each_kills_only_its_child(child_calls, &KERNEL);
}

fn non_canonical_addresses_end_only_that_task() {
    each_kills_only_its_child(child_reads, &NON_CANONICAL);
    each_kills_only_its_child(child_writes, &NON_CANONICAL);
    each_kills_only_its_child(child_calls, &NON_CANONICAL);
}

/// A task whose stack pointer is a kernel or non-canonical address makes system calls (the
/// kernel switches stacks and never touches the user's); the first push then ends it.
fn a_kernel_stack_pointer_is_never_used_by_the_kernel() {
    for sp in KERNEL.iter().chain(NON_CANONICAL.iter()) {
        assert_eq!(run_child(child_with_stack_at, *sp), 7, "calls made with rsp = {sp:#x}");
        assert_eq!(run_child(child_pushes_with_stack_at, *sp), -1, "a push with rsp = {sp:#x}");
    }
}

/// How far a child got naming handles: `BAD_NAME` if a name other than its own worked.
const BAD_NAME: i32 = 9;

extern "C" fn child_names(address: u64) -> ! {
    let me = mach_task_self();
    for name in 0..5000u32 {
        let mut info = TaskBasicInfo::default();
        let (mut data, mut count) = (0, 0);
        let own = name == me;
        let works = task_info(name, &mut info) == KERN_SUCCESS || vm_read(name, address, 8, &mut data, &mut count) == KERN_SUCCESS;
        if works != own || (!own && mach_port_deallocate(me, name) != KERN_INVALID_ARGUMENT) {
            task_exit(BAD_NAME);
        }
    }
    task_exit(0)
}

/// A child holds one name, its own: no other number names anything (this task's children
/// and the host included).
fn a_child_can_name_only_itself() {
    let sibling = mach::child::spawn(child_spins_briefly, 0).expect("a sibling");
    let a = alloc(1);
    assert_eq!(run_child(child_names, a), 0, "only its own name works");
    assert_eq!(mach::child::wait(sibling), Ok(0));
    free(a, 1);
}

extern "C" fn child_spins_briefly(_: u64) -> ! {
    spin_until(1, || false);
    task_exit(0)
}

/// Where the memory-isolation test's secret lives.
const SECRET_AT: u64 = 0x50_0000_0000;

extern "C" fn child_keeps_a_secret(_: u64) -> ! {
    let mut at = SECRET_AT;
    if vm_allocate(mach_task_self(), &mut at, PAGE, VM_FLAGS_FIXED) != KERN_SUCCESS {
        task_exit(1);
    }
    put(SECRET_AT, 0x5ec2e7);
    spin_until(2, || false);
    task_exit(i32::from(get(SECRET_AT) != 0x5ec2e7))
}

/// Reads the secret's address: unmapped in this task, it must end it.
extern "C" fn child_reads_the_secret(_: u64) -> ! {
    task_exit(if get(SECRET_AT) == 0x5ec2e7 { 2 } else { 3 })
}

extern "C" fn child_maps_the_secrets_address(_: u64) -> ! {
    let mut at = SECRET_AT;
    let kr = vm_allocate(mach_task_self(), &mut at, PAGE, VM_FLAGS_FIXED);
    task_exit(if kr == KERN_SUCCESS && get(SECRET_AT) == 0 { 0 } else { 4 })
}

/// One child keeps a secret at an address; another, running at the same time, finds the
/// address unmapped (a read ends it) or, mapping it itself, finds zeros; a page this task
/// keeps from its children (inheritance NONE) is absent from them.
fn another_tasks_memory_is_not_reachable() {
    let keeper = mach::child::spawn(child_keeps_a_secret, 0).expect("the keeper");
    assert_eq!(run_child(child_reads_the_secret, 0), -1);
    assert_eq!(run_child(child_maps_the_secrets_address, 0), 0);
    assert_eq!(mach::child::wait(keeper), Ok(0), "the keeper's secret stayed");
    let private = alloc(1);
    put(private, 0x5ec2e7);
    assert_eq!(vm_inherit(me(), private, PAGE, VM_INHERIT_NONE), KERN_SUCCESS);
    assert_eq!(run_child(child_reads, private), -1, "a page kept from children");
    free(private, 1);
}

/// Pages per round of the dirty-frame test.
const DIRTY_PAGES: u64 = 48;

/// Rounds of: take fresh memory (four ways), check it is all zero, dirty it, free it. Returns
/// the number of non-zero words found.
fn churn(rounds: u64, pattern: u64) -> u64 {
    let mut dirty = 0;
    for round in 0..rounds {
        let a = fresh(round % 4);
        for word in 0..DIRTY_PAGES * PAGE / 8 {
            dirty += u64::from(get(a + 8 * word) != 0);
            put(a + 8 * word, pattern ^ word);
        }
        free(a, DIRTY_PAGES);
    }
    dirty
}

/// Fresh memory, made one of four ways: zero-fill faults, `map_now`, wiring (init only:
/// a child falls back to faults), an anonymous `vm_map`.
fn fresh(way: u64) -> u64 {
    let size = DIRTY_PAGES * PAGE;
    let mut a = 0;
    match way {
        1 => assert_eq!(hurd_vm_allocate(&mut a, size, 0, true), 0),
        3 => assert_eq!(vm_map(me(), &mut a, size, 0, VM_FLAGS_ANYWHERE, 0, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_COPY), KERN_SUCCESS),
        _ => a = alloc(DIRTY_PAGES),
    }
    if way == 2 && mach_host_priv() != 0 {
        // Wiring needs the host handle: init's (a child's vm_wire fails and leaves faults).
        let _ = vm_wire(mach_host_priv(), me(), a, size, VM_PROT_DEFAULT);
    }
    a
}

extern "C" fn child_churns(rounds: u64) -> ! {
    task_exit(churn(rounds, 0xc41d_0000_0000_0000) as i32)
}

/// Two children and this task take fresh memory, check it, dirty it and free it, all at
/// once: every fresh word reads zero, whoever dirtied the frame before.
fn fresh_memory_is_zero_while_other_tasks_free_dirty_frames() {
    const ROUNDS: u64 = 24;
    let a = mach::child::spawn(child_churns, ROUNDS).expect("a churning child");
    let b = mach::child::spawn(child_churns, ROUNDS).expect("another");
    assert_eq!(churn(ROUNDS, 0x1417_0000_0000_0000), 0, "every fresh word is zero (this task)");
    assert_eq!(mach::child::wait(a), Ok(0), "every fresh word is zero (a child)");
    assert_eq!(mach::child::wait(b), Ok(0), "every fresh word is zero (another child)");
}

fn system_calls_preserve_every_other_register() {
    let mut stats = VmStatistics::default();
    let mut address = 0u64;
    let mut info = VmRegionInfo::default();
    let mut size = 0u64;
    let calls: [(u64, [u64; 6]); 6] = [
        (2, [0; 6]),
        (1000, [1, 2, 3, 4, 5, 6]),
        (18, [core::ptr::addr_of_mut!(stats) as u64, 0, 0, 0, 0, 0]),
        (10, [1, 0xffff_8000_0000_0000, PAGE, 1, 0, 0]),
        (14, [1, core::ptr::addr_of_mut!(address) as u64, core::ptr::addr_of_mut!(size) as u64, core::ptr::addr_of_mut!(info) as u64, 0, 0]),
        (0, [0x1000, 0, 0, 0, 0, 0]),
    ];
    for (no, args) in calls {
        let kept = registers_across(no, args);
        assert_eq!(kept, Kept::ALL, "call {no}: registers other than rax, rcx and r11 kept");
    }
}

fn vector_registers_survive_a_blocking_call() {
    let child = mach::child::spawn(child_spins_with_vectors, 0).expect("a child");
    assert!(vectors_across_wait(child), "xmm0..xmm15 kept across task_wait");
}
