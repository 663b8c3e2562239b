//! Adversarial shapes: map trees built in degenerate orders, maximal fragmentation, copies of
//! ranges made of thousands of pieces, the deepest shadow chains a task can build. Each shape
//! is built, checked and released in three cycles; after each, every frame, wiring, map
//! entry and handle name must be back (`stress::three_cycles`).

#![no_std]
#![no_main]

use mach::*;

#[path = "../stress.rs"]
mod stress;
use stress::*;

mach::entry!(main);

fn main() -> i32 {
    mach::test::run(&mach::tests![
        fixed_pages_in_ascending_order,
        fixed_pages_in_descending_order,
        fixed_pages_from_both_ends_inwards,
        fixed_pages_in_a_strided_order,
        fixed_pages_with_growing_holes,
        every_other_page_protected_differently,
        copies_of_thousands_of_pieces,
        shadow_chains_of_forks,
        shadow_chains_of_copies,
    ])
}

/// Where the shapes are built.
const BASE: u64 = 0x10_0000_0000;
/// One-page entries in a tree shape (the entry limit is about 500 000 on the test machine).
const TREE_ENTRIES: u64 = 3000;

/// Builds `TREE_ENTRIES` one-page entries, page `order(k)` of the pattern at the `k`-th
/// allocation, where page `p` of the pattern is at `at(p)`; checks the shape; releases it.
fn tree_shape(order: impl Fn(u64) -> u64, at: impl Fn(u64) -> u64) -> u64 {
    let n = TREE_ENTRIES;
    let before = entries();
    for k in 0..n {
        let mut a = at(order(k));
        assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "allocation {k} at {a:#x}");
        put(a, a);
    }
    assert_eq!(entries(), before + n, "one entry per page");
    let end = at(n - 1) + PAGE;
    assert_eq!(regions_in(BASE, end), n, "one region per page");
    for p in (0..n).step_by(97) {
        let mut taken = at(p);
        assert_eq!(vm_allocate(me(), &mut taken, PAGE, VM_FLAGS_FIXED), KERN_NO_SPACE, "page {p} is in use");
        assert_eq!(get(at(p)), at(p), "page {p} kept its contents");
    }
    for p in [0, n / 2, n - 2] {
        let mut hole = at(p) + PAGE;
        if hole < at(p + 1) {
            assert_eq!(vm_allocate(me(), &mut hole, PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "the hole after page {p} is free");
            assert_eq!(vm_deallocate(me(), hole, PAGE), KERN_SUCCESS);
        }
    }
    assert_eq!(vm_deallocate(me(), BASE, end - BASE), KERN_SUCCESS);
    assert_eq!(entries(), before, "every entry removed");
    n
}

/// Every other page.
fn every_other(p: u64) -> u64 {
    BASE + 2 * p * PAGE
}

fn fixed_pages_in_ascending_order() {
    three_cycles("ascending", || tree_shape(|k| k, every_other));
}

fn fixed_pages_in_descending_order() {
    three_cycles("descending", || tree_shape(|k| TREE_ENTRIES - 1 - k, every_other));
}

fn fixed_pages_from_both_ends_inwards() {
    three_cycles("both ends", || tree_shape(|k| if k % 2 == 0 { k / 2 } else { TREE_ENTRIES - 1 - k / 2 }, every_other));
}

fn fixed_pages_in_a_strided_order() {
    // 1543 is prime and does not divide 3000: k * 1543 mod 3000 visits every page once.
    three_cycles("strided", || tree_shape(|k| k * 1543 % TREE_ENTRIES, every_other));
}

fn fixed_pages_with_growing_holes() {
    // Page p sits after holes of 1, 2, ... 7 pages, repeating; built from the top down.
    let at = |p: u64| BASE + PAGE * (p + (0..p).map(|j| 1 + j % 7).sum::<u64>());
    let table: [u64; TREE_ENTRIES as usize] = core::array::from_fn(|p| at(p as u64));
    three_cycles("growing holes", || tree_shape(|k| TREE_ENTRIES - 1 - k, |p| table[p as usize]));
}

/// Pages of the fragmented and pieced regions: a source and a `vm_read` of it fit the map's
/// entry limit (about 500 000 entries on the 512 MiB test machine).
const PIECES: u64 = 1536;

/// `PIECES` pages, each holding its index xor `tag`, every other one read-only: `PIECES`
/// entries.
fn pieces(tag: u64) -> u64 {
    let a = alloc(PIECES);
    for i in 0..PIECES {
        put(a + i * PAGE, tag ^ i);
    }
    for i in (1..PIECES).step_by(2) {
        assert_eq!(vm_protect(me(), a + i * PAGE, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    }
    a
}

/// Checks that the `PIECES` pages at `a` (plus `offset`) hold `tag ^ index`.
fn check_pieces(a: u64, offset: u64, tag: u64, what: &str) {
    for i in 0..PIECES {
        assert_eq!(get(a + offset + i * PAGE), tag ^ i, "{what}: page {i}");
    }
}

fn every_other_page_protected_differently() {
    three_cycles("fragmentation", || {
        let before = entries();
        let a = pieces(0xf00d);
        let size = PIECES * PAGE;
        assert_eq!(entries(), before + PIECES, "one entry per page");
        assert_eq!(vm_inherit(me(), a, size, VM_INHERIT_SHARE), KERN_SUCCESS);
        assert_eq!(vm_behavior_set(me(), a, size, VM_BEHAVIOR_RANDOM), KERN_SUCCESS);
        assert_eq!(vm_msync(me(), a, size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
        assert_eq!(vm_wire(mach_host_priv(), me(), a, size, VM_PROT_READ), KERN_SUCCESS);
        assert_eq!(vm_wire(mach_host_priv(), me(), a, size, VM_PROT_NONE), KERN_SUCCESS);
        assert_eq!(vm_inherit(me(), a, size, VM_INHERIT_COPY), KERN_SUCCESS);
        let mut child = 0;
        assert_eq!(task_create(me(), TRUE, &mut child), KERN_SUCCESS, "a fork of the fragmented map");
        assert!(info(child).region_count >= PIECES);
        assert_eq!(task_terminate(child), KERN_SUCCESS);
        assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
        assert_eq!(vm_protect(me(), a, size, FALSE, VM_PROT_DEFAULT), KERN_SUCCESS);
        assert_eq!(vm_behavior_set(me(), a, size, VM_BEHAVIOR_DEFAULT), KERN_SUCCESS);
        assert_eq!(entries(), before + 1, "uniform attributes merge the entries back");
        check_pieces(a, 0, 0xf00d, "after every change");
        free(a, PIECES);
    });
}

fn copies_of_thousands_of_pieces() {
    three_cycles("pieced copies", || {
        let source = pieces(0xc0de);
        let size = PIECES * PAGE;
        let dest = alloc(PIECES + 1);
        assert_eq!(vm_copy(me(), source, size, dest + 1), KERN_SUCCESS, "into an unaligned destination");
        check_pieces(dest, 1, 0xc0de, "vm_copy");
        let (mut data, mut count) = (0, 0);
        assert_eq!(vm_read(me(), source, size, &mut data, &mut count), KERN_SUCCESS);
        check_pieces(data, 0, 0xc0de, "vm_read");
        free(data, PIECES);
        assert_eq!(vm_write(me(), dest + 3, source, size - 3), KERN_SUCCESS);
        assert_eq!(get(dest + 3 + PAGE), 0xc0de ^ 1, "vm_write");
        let mut copy = 0;
        assert_eq!(vm_copyin(me(), source, size, FALSE, &mut copy), KERN_SUCCESS);
        assert_eq!(vm_copy_overwrite(me(), dest, copy), KERN_SUCCESS, "over aligned memory");
        check_pieces(dest, 0, 0xc0de, "vm_copy_overwrite");
        assert_eq!(vm_copyin(me(), source, size, TRUE, &mut copy), KERN_SUCCESS, "a move");
        let mut moved = 0;
        assert_eq!(vm_copyout(me(), copy, &mut moved), KERN_SUCCESS);
        check_pieces(moved, 0, 0xc0de, "vm_copyout of a move");
        free(moved, PIECES);
        free(dest, PIECES + 1);
    });
}

/// Levels of the shadow chains.
const DEPTH: u64 = 40;
/// Pages of the chained regions.
const CHAIN_PAGES: u64 = 4;

/// Reads `CHAIN_PAGES` pages of `task` at `a` and checks that each holds `value`.
fn check_remote(task: mach_port_t, a: u64, value: u64, what: &str) {
    let (mut data, mut count) = (0, 0);
    assert_eq!(vm_read(task, a, CHAIN_PAGES * PAGE, &mut data, &mut count), KERN_SUCCESS, "{what}");
    for page in 0..CHAIN_PAGES {
        assert_eq!(get(data + page * PAGE), value, "{what}: page {page}");
    }
    free(data, CHAIN_PAGES);
}

/// Writes `value` in each of `CHAIN_PAGES` pages of `task` at `a`.
fn write_remote(task: mach_port_t, a: u64, value: u64) {
    for page in 0..CHAIN_PAGES {
        assert_eq!(vm_write(task, a + page * PAGE, core::ptr::addr_of!(value) as u64, 8), KERN_SUCCESS);
    }
}

/// A chain of forks: task `i + 1` is forked from task `i` (task 0 is this one) after task
/// `i` wrote `i` over the region; every task keeps its own value; ended from the middle out.
fn shadow_chains_of_forks() {
    three_cycles("chain of forks", || {
        let a = alloc(CHAIN_PAGES);
        let mut tasks = [0u32; DEPTH as usize + 1];
        tasks[0] = me();
        for i in 0..DEPTH as usize {
            write_remote(tasks[i], a, i as u64);
            assert_eq!(task_create(tasks[i], TRUE, &mut tasks[i + 1]), KERN_SUCCESS, "fork {i}");
        }
        write_remote(me(), a, 0xffff);
        for (i, &task) in tasks.iter().enumerate().skip(1) {
            let expected = if i == DEPTH as usize { DEPTH - 1 } else { i as u64 };
            if i < DEPTH as usize {
                write_remote(task, a, i as u64);
            }
            check_remote(task, a, expected, "a task in the chain");
        }
        for i in (1..=DEPTH as usize).map(|k| (k * 17) % DEPTH as usize + 1) {
            assert_eq!(task_terminate(tasks[i]), KERN_SUCCESS);
            assert_eq!(mach_port_deallocate(me(), tasks[i]), KERN_SUCCESS);
        }
        check_remote(me(), a, 0xffff, "the first task");
        free(a, CHAIN_PAGES);
    });
}

/// A chain of virtual copies: region `i + 1` is a `vm_copy` of region `i` with one more page
/// written; each keeps what it had; released from the middle out.
fn shadow_chains_of_copies() {
    const LEVELS: usize = 100;
    three_cycles("chain of copies", || {
        let mut regions = [0u64; LEVELS];
        regions[0] = alloc(CHAIN_PAGES);
        for i in 1..LEVELS {
            regions[i] = alloc(CHAIN_PAGES);
            assert_eq!(vm_copy(me(), regions[i - 1], CHAIN_PAGES * PAGE, regions[i]), KERN_SUCCESS);
            put(regions[i] + (i as u64 % CHAIN_PAGES) * PAGE + 8 * (i as u64 / CHAIN_PAGES), i as u64);
        }
        for (i, &r) in regions.iter().enumerate() {
            for j in 1..LEVELS {
                let expected = if j <= i { j as u64 } else { 0 };
                assert_eq!(get(r + (j as u64 % CHAIN_PAGES) * PAGE + 8 * (j as u64 / CHAIN_PAGES)), expected, "level {i} sees write {j}");
            }
        }
        for i in (0..LEVELS).map(|k| k * 37 % LEVELS) {
            free(regions[i], CHAIN_PAGES);
        }
    });
}
