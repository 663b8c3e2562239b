//! Exhaustion of every limit a task can reach: map entries, tasks (in a family and families),
//! threads, handles, copies, physical frames, and the kernel heap across several families.
//! Each is driven to its limit, which must give a clean `KERN_RESOURCE_SHORTAGE` (or
//! `ENOMEM`), then released; three cycles must reach the same limit and every frame, wiring,
//! map entry and handle name must come back (`stress::three_cycles`). Runs on a 64 MiB
//! machine (`boot::ktest::USER_TEST_MEMORY_MIB`), where filling memory is quick.

#![no_std]
#![no_main]

use mach::*;

#[path = "../stress.rs"]
mod stress;
use stress::*;

#[path = "../limits_children.rs"]
mod limits_children;
use limits_children::*;

mach::entry!(main);

fn main() -> i32 {
    pretouch_stack();
    control();
    mach::test::run(&mach::tests![
        map_entries_run_out,
        families_run_out,
        tasks_of_one_family_run_out,
        threads_of_one_family_run_out,
        handles_run_out,
        copies_run_out,
        frames_run_out_for_map_now,
        frames_run_out_for_wiring,
        a_task_faulting_without_frames_ends_alone,
        the_kernel_heap_runs_out_across_families,
    ])
}

/// Where the entry test builds its pages.
const BASE: u64 = 0x20_0000_0000;

fn map_entries_run_out() {
    let made = three_cycles("map entries", || {
        let mut made = 0u64;
        loop {
            let mut a = BASE + made * 2 * PAGE;
            match vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED) {
                KERN_SUCCESS => made += 1,
                kr => {
                    assert_eq!(kr, KERN_RESOURCE_SHORTAGE);
                    break;
                }
            }
            assert!(made < 1 << 17, "the map grows without limit");
        }
        assert_eq!(vm_deallocate(me(), BASE, made * 2 * PAGE), KERN_SUCCESS);
        made
    });
    println!("limit: {made} one-page entries");
    assert!(made >= 900, "the limit is generous ({made})");
}

/// Creates thread-less tasks with `create` until it fails (which must be a resource
/// shortage); ends and drops them; returns how many were made.
pub fn tasks_until_shortage(parent: mach_port_t, names: &mut [mach_port_t]) -> usize {
    let mut made = 0;
    loop {
        assert!(made < names.len(), "tasks without limit");
        match task_create(parent, FALSE, &mut names[made]) {
            KERN_SUCCESS => made += 1,
            kr => {
                assert_eq!(kr, KERN_RESOURCE_SHORTAGE, "after {made} tasks");
                break;
            }
        }
    }
    for &name in &names[..made] {
        assert_eq!(task_terminate(name), KERN_SUCCESS);
        assert_eq!(mach_port_deallocate(me(), name), KERN_SUCCESS);
    }
    made
}

/// Init's children each head a family: they run out when the kernel's family slots do.
fn families_run_out() {
    let made = three_cycles("families", || tasks_until_shortage(me(), &mut [0; 1100]));
    println!("limit: {made} families");
    assert!(made >= 8, "room for several families ({made})");
}

/// A task's children join its family, which runs out at its share of the task table.
fn tasks_of_one_family_run_out() {
    let made = three_cycles("tasks of a family", || run_child(child_makes_tasks, 0));
    println!("limit: {made} tasks in one family");
    assert!(made >= 64, "room for many tasks ({made})");
}

/// A family runs out of threads at its share of the thread limit.
fn threads_of_one_family_run_out() {
    let made = three_cycles("threads of a family", threads_until_shortage);
    println!("limit: {made} more threads in one family");
    assert!(made >= 16, "room for many threads ({made})");
}

fn handles_run_out() {
    let made = three_cycles("handles", || {
        let mut names = [0u32; 4200];
        let mut made = 0;
        loop {
            let (mut size, name) = (PAGE, &mut names[made]);
            match mach_make_memory_entry(me(), &mut size, 0, VM_PROT_READ | MAP_MEM_NAMED_CREATE, name, 0) {
                KERN_SUCCESS => made += 1,
                kr => {
                    assert_eq!(kr, KERN_RESOURCE_SHORTAGE, "after {made} handles");
                    break;
                }
            }
            assert!(made < names.len(), "handles without limit");
        }
        for &name in &names[..made] {
            assert_eq!(mach_port_deallocate(me(), name), KERN_SUCCESS);
        }
        made
    });
    println!("limit: {made} handles");
    assert!(made >= 1000, "room for many handles ({made})");
}

/// Copies held at once: small ones (kernel buffers) and large ones (entry lists of a
/// fragmented range).
fn copies_run_out() {
    let source = alloc(64);
    for page in (1..64).step_by(2) {
        assert_eq!(vm_protect(me(), source + page * PAGE, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    }
    for (size, what) in [(PAGE, "small copies"), (64 * PAGE, "copies of 64 pieces")] {
        let made = three_cycles(what, || {
            let mut copies = [0u32; 4200];
            let mut made = 0;
            loop {
                match vm_copyin(me(), source, size, FALSE, &mut copies[made]) {
                    KERN_SUCCESS => made += 1,
                    kr => {
                        assert_eq!(kr, KERN_RESOURCE_SHORTAGE, "after {made} {what}");
                        break;
                    }
                }
                assert!(made < copies.len(), "{what} without limit");
            }
            for &copy in &copies[..made] {
                assert_eq!(vm_copy_discard(copy), KERN_SUCCESS);
            }
            made
        });
        println!("limit: {made} {what}");
        assert!(made >= 100, "room for many {what} ({made})");
    }
    free(source, 64);
}

/// Chunks of memory made resident at once.
const CHUNK_PAGES: u64 = 64;

fn frames_run_out_for_map_now() {
    let made = three_cycles("map_now", || {
        let mut chunks = [0u64; 1024];
        let mut made = 0;
        loop {
            let mut a = 0;
            match hurd_vm_allocate(&mut a, CHUNK_PAGES * PAGE, 0, true) {
                0 => chunks[made] = a,
                errno => {
                    assert_eq!(errno, ENOMEM, "after {made} chunks");
                    assert_eq!(a, 0, "unchanged");
                    break;
                }
            }
            made += 1;
            assert!(made < chunks.len(), "memory without end");
        }
        for &a in &chunks[..made] {
            assert_eq!(hurd_vm_deallocate(a, CHUNK_PAGES * PAGE), 0);
        }
        made
    });
    println!("limit: {made} chunks of {CHUNK_PAGES} resident pages");
    assert!(made >= 64, "most of the memory ({made} chunks)");
}

fn frames_run_out_for_wiring() {
    let made = three_cycles("wiring", || {
        let a = alloc(1 << 16);
        let mut made = 0;
        loop {
            let at = a + made * CHUNK_PAGES * PAGE;
            match vm_wire(mach_host_priv(), me(), at, CHUNK_PAGES * PAGE, VM_PROT_DEFAULT) {
                KERN_SUCCESS => made += 1,
                kr => {
                    assert_eq!(kr, KERN_RESOURCE_SHORTAGE, "after {made} chunks");
                    break;
                }
            }
            assert!(made < (1 << 16) / CHUNK_PAGES, "memory without end");
        }
        free(a, 1 << 16);
        made
    });
    println!("limit: {made} chunks of {CHUNK_PAGES} wired pages");
    assert!(made >= 64, "most of the memory ({made} chunks)");
}

fn a_task_faulting_without_frames_ends_alone() {
    three_cycles("faults without frames", || {
        assert_eq!(run_child(child_touches_everything, 0), -1, "killed when no frame is left");
    });
}

fn the_kernel_heap_runs_out_across_families() {
    three_cycles("kernel heap", heap_hogs);
}
