//! Scale: a map of a million one-page entries (every other page, placed with
//! `VM_FLAGS_FIXED`), looked up and protected, refused a fork (its estimate passes the
//! quota), cut down to a hundred thousand and forked, then released; every frame must come
//! back. Prints the time taken and the kernel memory an
//! entry costs. Runs on a 2 GiB machine (`boot::ktest::USER_TEST_MEMORY_MIB`), where the
//! entry limit is about two million.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::*;

#[path = "../stress.rs"]
mod stress;
use stress::*;

mach::entry!(main);

fn main() -> i32 {
    // This task's own pages (stack, statics) are resident before the count.
    pretouch_stack();
    FREE_BEFORE.store(0, Ordering::SeqCst);
    FREE_BEFORE.store(vm_stats().free_count, Ordering::SeqCst);
    ENTRIES_BEFORE.store(entries(), Ordering::SeqCst);
    mach::test::run(&mach::tests![
        a_million_one_page_entries,
        lookups_and_protections_in_a_million_entries,
        a_fork_of_a_million_entries_is_refused_first,
        a_fork_of_a_hundred_thousand_entries,
        everything_comes_back,
    ])
}

/// Where the entries are built: one page every other page from here.
const BASE: u64 = 0x1000_0000_0000;
/// Entries of the big map.
const ENTRIES: u64 = 1_000_000;
/// Entries left for the fork.
const FORKED: u64 = 100_000;

static FREE_BEFORE: AtomicU64 = AtomicU64::new(0);
static ENTRIES_BEFORE: AtomicU64 = AtomicU64::new(0);

/// The page of entry `i`.
fn at(i: u64) -> u64 {
    BASE + 2 * i * PAGE
}

/// Seconds since `start` (a TSC reading).
fn seconds_since(start: u64) -> f64 {
    let mut hz = 0;
    assert_eq!(clock_tsc_hz(&mut hz), KERN_SUCCESS);
    (rdtsc() - start) as f64 / hz as f64
}

fn a_million_one_page_entries() {
    let start = rdtsc();
    let mut free_at_half = 0;
    for i in 0..ENTRIES {
        let mut a = at(i);
        assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "entry {i}");
        if i == ENTRIES / 2 {
            free_at_half = vm_stats().free_count;
        }
    }
    let elapsed = seconds_since(start);
    assert_eq!(entries(), ENTRIES_BEFORE.load(Ordering::SeqCst) + ENTRIES, "one entry per page");
    // Past the memory the kernel keeps for a small heap, every frame the heap takes is one
    // frame less for tasks: the second half's cost is what an entry costs.
    let frames = free_at_half - vm_stats().free_count;
    println!(
        "scale: {ENTRIES} entries in {elapsed:.1} s ({:.1} us each), {} bytes of kernel memory per entry",
        elapsed * 1e6 / ENTRIES as f64,
        frames * PAGE / (ENTRIES / 2)
    );
}

fn region(a: u64) -> (u64, u64, VmRegionInfo) {
    let (mut at, mut size, mut info) = (a, 0, VmRegionInfo::default());
    assert_eq!(vm_region(me(), &mut at, &mut size, &mut info), KERN_SUCCESS, "a region from {a:#x}");
    (at, size, info)
}

fn lookups_and_protections_in_a_million_entries() {
    for i in [0, 1, ENTRIES / 3, ENTRIES / 2, ENTRIES - 2, ENTRIES - 1] {
        let (found, size, info) = region(at(i));
        assert_eq!((found, size), (at(i), PAGE), "entry {i} is its own region");
        assert_eq!(info.protection, VM_PROT_DEFAULT);
        // The hole after it leads to the next entry.
        if i + 1 < ENTRIES {
            assert_eq!(region(at(i) + PAGE).0, at(i + 1), "the region after the hole at {i}");
        }
        let mut taken = at(i);
        assert_eq!(vm_allocate(me(), &mut taken, PAGE, VM_FLAGS_FIXED), KERN_NO_SPACE, "entry {i} is in use");
        put(at(i), i);
        assert_eq!(get(at(i)), i);
    }
    for i in [7, ENTRIES / 2 + 1, ENTRIES - 3] {
        assert_eq!(vm_protect(me(), at(i), PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
        assert_eq!(region(at(i)).2.protection, VM_PROT_READ, "entry {i} is read-only");
        assert_eq!(region(at(i + 1)).2.protection, VM_PROT_DEFAULT, "its neighbour is not");
    }
    // A range over three entries and the holes between them.
    assert_eq!(vm_protect(me(), at(100), 5 * PAGE, FALSE, VM_PROT_READ), KERN_INVALID_ADDRESS, "holes are not mapped");
    assert_eq!(entries(), ENTRIES_BEFORE.load(Ordering::SeqCst) + ENTRIES, "no entry split or merged");
}

/// A fork's estimate (`limits::fork_bytes`: 640 bytes an entry) of a million entries passes
/// what is left of this family's quota (about 480 MB on this machine, 167 MB of it in use):
/// refused before anything is allocated.
fn a_fork_of_a_million_entries_is_refused_first() {
    let (free, count) = (vm_stats().free_count, entries());
    let mut child = 0;
    assert_eq!(task_create(me(), TRUE, &mut child), KERN_RESOURCE_SHORTAGE);
    assert_eq!(child, 0, "no child");
    assert_eq!((vm_stats().free_count, entries()), (free, count), "nothing changed");
}

/// The child of the fork: its map is a copy of the parent's.
extern "C" fn checks_its_inherited_map(entries_expected: u64) -> ! {
    let ok = entries() >= entries_expected && get(at(0)) == 0 && get(at(1)) == 1 && get(at(7)) == 0;
    task_exit(if ok { 0 } else { 1 })
}

fn a_fork_of_a_hundred_thousand_entries() {
    assert_eq!(vm_deallocate(me(), at(FORKED), at(ENTRIES) - at(FORKED)), KERN_SUCCESS);
    let expected = ENTRIES_BEFORE.load(Ordering::SeqCst) + FORKED;
    assert_eq!(entries(), expected);
    let start = rdtsc();
    assert_eq!(run_child(checks_its_inherited_map, expected), 0, "the child sees the parent's map");
    println!("scale: a fork of {FORKED} entries, run and ended in {:.2} s", seconds_since(start));
}

fn everything_comes_back() {
    assert_eq!(vm_deallocate(me(), BASE, at(FORKED) - BASE), KERN_SUCCESS);
    assert_eq!(entries(), ENTRIES_BEFORE.load(Ordering::SeqCst), "every entry removed");
    let before = FREE_BEFORE.load(Ordering::SeqCst);
    let after = settled_free_frames(before);
    println!("scale: free frames {before} before, {after} after");
    assert_eq!(after, before, "every frame came back");
}
