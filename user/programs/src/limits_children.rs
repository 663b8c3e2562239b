//! The child tasks of `test_limits`: a family that makes tasks until it runs out, one that
//! starts threads until it runs out (blocked on a task that spins until told to stop), one
//! that touches memory until a fault finds no frame, and families that fill the kernel heap
//! with map entries.

#![allow(dead_code)]

use super::stress::*;
use mach::*;

/// A page shared (by inheritance) with every child: words of control and results.
const CONTROL: u64 = 0x30_0000_0000;
/// Control words: the spinning task's name (in the thread family), the stop flag, then per
/// heap-hog slot its count and its done flag.
const B_NAME: u64 = 0;
const STOP: u64 = 1;
const COUNTS: u64 = 8;
const DONE: u64 = 16;
/// Families filling the heap at once (more than the four whose quotas fill it).
const HOGS: u64 = 5;

fn word(i: u64) -> u64 {
    // SAFETY: the control page is mapped shared in every task of this program once
    // `control()` has run; these are plain words, written by one task each.
    unsafe { (CONTROL as *const u64).add(i as usize).read_volatile() }
}

fn set_word(i: u64, value: u64) {
    // SAFETY: as in `word`.
    unsafe { (CONTROL as *mut u64).add(i as usize).write_volatile(value) }
}

/// Maps the control page (once) and clears it.
pub fn control() {
    let mut at = CONTROL;
    if vm_allocate(me(), &mut at, PAGE, VM_FLAGS_FIXED) == KERN_SUCCESS {
        assert_eq!(vm_inherit(me(), CONTROL, PAGE, VM_INHERIT_SHARE), KERN_SUCCESS);
    }
    for i in 0..PAGE / 8 {
        set_word(i, 0);
    }
}

/// Makes thread-less children until a resource shortage; exits with how many it made.
pub extern "C" fn child_makes_tasks(_: u64) -> ! {
    let mut names = [0u32; 1100];
    let mut made = 0;
    while made < names.len() && task_create(me(), FALSE, &mut names[made]) == KERN_SUCCESS {
        made += 1;
    }
    for &name in &names[..made] {
        task_terminate(name);
        mach_port_deallocate(me(), name);
    }
    task_exit(made as i32)
}

/// Stack of each thread of the thread family.
const THREAD_STACK: u64 = 16 * 1024;
/// Threads tried at most.
const MOST_THREADS: u64 = 300;

/// In a new family T: one thread makes task B spin, then threads that wait for B are started
/// until a resource shortage; B is stopped and T ends. Returns how many waiters started.
pub fn threads_until_shortage() -> u64 {
    control();
    let mut t = 0;
    assert_eq!(task_create(me(), TRUE, &mut t), KERN_SUCCESS);
    let mut stacks = 0;
    assert_eq!(vm_allocate(t, &mut stacks, (MOST_THREADS + 1) * THREAD_STACK, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    assert_eq!(thread_create_running(t, start_spinner, stacks + THREAD_STACK - 8, 0), KERN_SUCCESS);
    assert!(spin_until(30, || word(B_NAME) != 0), "the spinning task started");
    let mut made = 0;
    loop {
        let stack = stacks + (made + 2) * THREAD_STACK - 8;
        match thread_create_running(t, wait_for_spinner, stack, word(B_NAME)) {
            KERN_SUCCESS => made += 1,
            kr => {
                assert_eq!(kr, KERN_RESOURCE_SHORTAGE, "after {made} threads");
                break;
            }
        }
        assert!(made < MOST_THREADS, "threads without limit");
    }
    set_word(STOP, 1);
    let mut status = 0;
    assert_eq!(task_wait(t, &mut status), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), t), KERN_SUCCESS);
    made
}

/// T's first thread: makes B (a copy of T) spin, publishes B's name, waits for B.
extern "C" fn start_spinner(_: u64) -> ! {
    let (mut b, mut stack) = (0, 0);
    let ok = task_create(me(), TRUE, &mut b) == KERN_SUCCESS
        && vm_allocate(b, &mut stack, THREAD_STACK, VM_FLAGS_ANYWHERE) == KERN_SUCCESS
        && thread_create_running(b, spin_until_stopped, stack + THREAD_STACK - 8, 0) == KERN_SUCCESS;
    if !ok {
        task_exit(1);
    }
    set_word(B_NAME, b.into());
    wait_for_spinner(b.into())
}

extern "C" fn spin_until_stopped(_: u64) -> ! {
    while word(STOP) == 0 {
        core::hint::spin_loop();
    }
    task_exit(0)
}

extern "C" fn wait_for_spinner(b: u64) -> ! {
    let mut status = 0;
    task_wait(b as u32, &mut status);
    task_exit(0)
}

/// Allocates a gibibyte and writes every page: the kernel ends it when no frame is left.
pub extern "C" fn child_touches_everything(_: u64) -> ! {
    let mut a = 0;
    if vm_allocate(me(), &mut a, 1 << 30, VM_FLAGS_ANYWHERE) != KERN_SUCCESS {
        task_exit(1);
    }
    for page in 0..(1 << 30) / PAGE {
        put(a + page * PAGE, page);
    }
    task_exit(0)
}

/// Starts `HOGS` families that each fill their map entries (removing every other page of
/// large regions in thread-less children of their own) until refused; once all are refused,
/// checks that the kernel still answers and that this task's faults still find frames, then
/// lets them end. (The heap shares memory with tasks' pages: once calls have filled it up to
/// the reserve, no frame is left for calls, but faults may still take them down to half the
/// reserve.)
pub fn heap_hogs() {
    control();
    let spare = alloc(SPARE_PAGES);
    let mut hogs = [0u32; HOGS as usize];
    for (slot, hog) in hogs.iter_mut().enumerate() {
        *hog = mach::child::spawn(hog_entry, slot as u64).expect("a hog starts");
    }
    assert!(spin_until(120, || (0..HOGS).all(|s| word(DONE + s) != 0)), "every hog was refused at last");
    let total: u64 = (0..HOGS).map(|s| word(COUNTS + s)).sum();
    assert!((0..HOGS).all(|s| word(COUNTS + s) > 0), "every family made some entries");
    vm_stats(); // the kernel still answers (`vm_stats` checks the call succeeds)
    for page in 0..SPARE_PAGES {
        put(spare + page * PAGE, page); // a fault each: this task is not killed
    }
    assert_eq!(info(me()).region_count, entries());
    set_word(STOP, 1);
    for hog in hogs {
        assert_eq!(mach::child::wait(hog), Ok(0));
    }
    println!("the heap filled at {total} entries split off in {HOGS} families");
    free(spare, SPARE_PAGES);
}

/// Pages the heap test touches for the first time once the heap is full.
const SPARE_PAGES: u64 = 16;

/// Regions each hog's children get.
const HOG_PAGES: u64 = 4096;

extern "C" fn hog_entry(slot: u64) -> ! {
    let mut total = 0;
    'children: for _ in 0..32 {
        let (mut child, mut a) = (0, 0);
        if task_create(me(), FALSE, &mut child) != KERN_SUCCESS {
            break;
        }
        if vm_allocate(child, &mut a, HOG_PAGES * PAGE, VM_FLAGS_ANYWHERE) != KERN_SUCCESS {
            break;
        }
        for page in (1..HOG_PAGES).step_by(2) {
            if vm_deallocate(child, a + page * PAGE, PAGE) != KERN_SUCCESS {
                if page == 1 {
                    break 'children;
                }
                continue 'children;
            }
            total += 1;
        }
    }
    set_word(COUNTS + slot, total);
    set_word(DONE + slot, 1);
    while word(STOP) == 0 {
        core::hint::spin_loop();
    }
    task_exit(0)
}
