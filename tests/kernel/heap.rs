//! The kernel heap: small blocks of every class and large blocks of tens of MiB keep their
//! contents, large blocks are mapped only while allocated, a growing `Vec` moves without
//! losing a byte, failures change nothing, and every frame comes back once everything is
//! freed and the slab caches are drained.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::run)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::alloc::{alloc, dealloc, realloc, Layout};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use kernel::memory::{self, heap};
use kernel::{limits, vm_system};
use vm::api::{USER_MAX, USER_MIN};
use vm::{Access, FaultOutcome, Inherit, NewMemory, Page, Placement, PAGE_SIZE};
use kalloc::classes::CLASS_SIZES;
use x86_64::VirtAddr;

kernel::test_kernel!(test_main);

/// Frames free and in the heap, with the slab caches drained.
fn frames() -> (u64, u64) {
    heap::drain();
    let stats = memory::stats();
    (stats.pool_frames, stats.heap_frames)
}

/// Runs `f`, then checks that the heap holds exactly the frames and bytes it held before.
fn gives_everything_back(what: &str, f: impl FnOnce()) {
    let (before, in_use) = (frames(), heap::usage().in_use);
    f();
    assert_eq!(heap::usage().in_use, in_use, "{what}: bytes in use");
    assert_eq!(frames(), before, "{what}: frames free and in the heap");
    memory::check();
}

fn fill(ptr: *mut u8, len: usize, seed: usize) {
    for i in 0..len {
        // SAFETY: the caller owns `len` bytes at `ptr`.
        unsafe { ptr.add(i).write((seed.wrapping_mul(31) ^ i) as u8) };
    }
}

fn holds(ptr: *const u8, len: usize, seed: usize) -> bool {
    // SAFETY: the caller owns `len` bytes at `ptr`.
    (0..len).all(|i| unsafe { ptr.add(i).read() } == (seed.wrapping_mul(31) ^ i) as u8)
}

#[test_case]
fn small_blocks_of_every_class_keep_their_contents() {
    gives_everything_back("small blocks", || {
        let mut blocks = Vec::new();
        for round in 0..40 {
            for (class, &size) in CLASS_SIZES.iter().enumerate() {
                // The header takes 8 bytes of the class.
                let layout = Layout::from_size_align(size - 8, 8).unwrap();
                // SAFETY: a non-zero-sized layout.
                let ptr = unsafe { alloc(layout) };
                assert!(!ptr.is_null());
                fill(ptr, layout.size(), round * 64 + class);
                blocks.push((ptr, layout, round * 64 + class));
            }
        }
        for &(ptr, layout, seed) in &blocks {
            assert!(holds(ptr, layout.size(), seed), "a block was overwritten");
            // SAFETY: allocated above with this layout.
            unsafe { dealloc(ptr, layout) };
        }
    });
}

#[test_case]
fn a_map_of_a_hundred_thousand_nodes_comes_and_goes() {
    gives_everything_back("B-tree", || {
        let map: BTreeMap<u64, [u64; 4]> = (0..100_000u64).map(|i| (i * 7, [i; 4])).collect();
        assert!(heap::usage().frames > 100_000 * 32 / 4096, "the nodes took frames");
        assert!(map.iter().all(|(&k, v)| v[3] * 7 == k));
    });
}

#[test_case]
fn large_blocks_of_tens_of_mib_are_mapped_only_while_allocated() {
    gives_everything_back("large blocks", || {
        let size = 48 << 20;
        let layout = Layout::from_size_align(size, 8).unwrap();
        let pool = memory::stats().pool_frames;
        // SAFETY: a non-zero-sized layout.
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null());
        let taken = pool - memory::stats().pool_frames;
        assert!(taken >= (size as u64 + 8).div_ceil(4096), "every page is mapped");
        assert!(taken <= (size as u64 + 8).div_ceil(4096) + 32, "only its pages and their tables: {taken}");
        fill(ptr, size, 7);
        assert!(holds(ptr, size, 7));
        let (first, last) = (VirtAddr::from_ptr(ptr), VirtAddr::from_ptr(ptr) + (size as u64 - 1));
        assert!(heap::mapped_frame(first).is_some() && heap::mapped_frame(last).is_some());
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(ptr, layout) };
        assert!(heap::mapped_frame(first).is_none() && heap::mapped_frame(last).is_none(), "unmapped");
    });
}

#[test_case]
fn a_vec_of_a_million_items_grows_and_shrinks() {
    gives_everything_back("growing vec", || {
        let mut v: Vec<[u64; 6]> = Vec::new();
        for i in 0..1_000_000u64 {
            v.push([i, !i, i, !i, i, i ^ 0x5a5a]);
        }
        assert!(v.iter().enumerate().all(|(i, x)| x[0] == i as u64 && x[5] == i as u64 ^ 0x5a5a), "moves kept every item");
        v.truncate(1000);
        v.shrink_to_fit();
        assert!(v.iter().enumerate().all(|(i, x)| x[1] == !(i as u64)));
        v.truncate(10);
        v.shrink_to_fit();
        assert!(v.iter().enumerate().all(|(i, x)| x[0] == i as u64), "back to a small block");
    });
}

#[test_case]
fn large_blocks_grow_in_place_within_their_buddy_block() {
    gives_everything_back("in place", || {
        let layout = Layout::from_size_align(5 * 4096, 8).unwrap();
        // SAFETY: a non-zero-sized layout; realloc gets this pointer and layout, and sizes
        // valid for the alignment.
        unsafe {
            let ptr = alloc(layout);
            fill(ptr, layout.size(), 3);
            let grown = realloc(ptr, layout, 7 * 4096);
            assert_eq!(grown, ptr, "5 and 7 pages share an order-3 block");
            assert!(holds(grown, layout.size(), 3));
            let moved = realloc(grown, Layout::from_size_align(7 * 4096, 8).unwrap(), 40 * 4096);
            assert!(!moved.is_null());
            assert!(holds(moved, layout.size(), 3), "frames moved with their bytes");
            dealloc(moved, Layout::from_size_align(40 * 4096, 8).unwrap());
        }
    });
}

#[test_case]
fn blocks_are_aligned_as_asked() {
    gives_everything_back("alignment", || {
        for align in [16, 32, 64, 4096, 8192, 1 << 16] {
            for size in [8, 100, 3000, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero-sized layout.
                let ptr = unsafe { alloc(layout) };
                assert!(!ptr.is_null() && ptr as usize % align == 0, "{size} bytes aligned to {align}");
                fill(ptr, size, align);
                assert!(holds(ptr, size, align));
                // SAFETY: allocated above with this layout.
                unsafe { dealloc(ptr, layout) };
            }
        }
    });
}

#[test_case]
fn a_block_larger_than_memory_fails_and_changes_nothing() {
    gives_everything_back("failure", || {
        let pages = memory::stats().pool_frames + 100;
        let layout = Layout::from_size_align(pages as usize * 4096, 8).unwrap();
        let free_area = heap::large_free_pages();
        // SAFETY: a non-zero-sized layout. (`black_box`: an allocation whose result is only
        // compared with null may be optimised away.)
        let ptr = core::hint::black_box(unsafe { alloc(layout) });
        assert!(ptr.is_null(), "more memory than there is");
        assert_eq!(heap::large_free_pages(), free_area, "the buddy block went back");
    });
}

#[test_case]
fn the_heap_takes_frames_the_vm_side_may_not() {
    // The VM side stops at the floor; the heap goes on below it.
    let mut frames = Vec::new();
    while let Some(frame) = memory::allocate_frame() {
        frames.push(frame);
    }
    let stats = memory::stats();
    assert_eq!(stats.free_frames, 0);
    assert!(stats.pool_frames > 0, "the floor is left free");
    let block: Vec<u8> = core::hint::black_box(alloc::vec![1; 1 << 20]);
    assert!(memory::stats().pool_frames < stats.pool_frames, "the heap grew below the floor");
    drop(block);
    frames.into_iter().for_each(memory::deallocate_frame);
}

#[test_case]
fn mixed_blocks_come_back_exactly() {
    gives_everything_back("mixed", || {
        let mut live: Vec<Vec<u8>> = Vec::new();
        let mut seed = 12345usize;
        for i in 0..20_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let size = match seed >> 60 {
                0 => (seed >> 20) % (1 << 20),
                1..=3 => (seed >> 20) % 20_000,
                _ => (seed >> 20) % 2100,
            };
            live.push(alloc::vec![(i % 251) as u8; size]);
            if seed & 1 == 0 && !live.is_empty() {
                let victim = (seed >> 8) % live.len();
                let v = live.swap_remove(victim);
                assert!(v.iter().all(|&b| b == v.first().copied().unwrap_or(0)));
            }
        }
        assert!(live.iter().all(|v| v.iter().all(|&b| b == v.first().copied().unwrap_or(0))));
    });
}

/// How the entries of a forked map are made.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// One-page entries never touched: no object.
    Bare,
    /// Each page written once: an object each, shared copy-on-write with the child.
    Touched,
    /// Never touched and inherited SHARE: the fork makes an object for each.
    Shared,
}

/// A fork holds no more heap at its peak than the estimate its gate checks
/// (`limits::fork_bytes`), on the shapes that cost the most per entry: the estimate is what
/// keeps a fork of a large map from running the heap dry.
#[test_case]
fn a_fork_holds_less_heap_than_its_estimate() {
    const ENTRIES: u64 = 20_000;
    const BASE: u64 = 0x1000_0000_0000;
    for shape in [Shape::Bare, Shape::Touched, Shape::Shared] {
        let mut vm = vm_system::lock();
        let map = vm.create_map(USER_MIN, USER_MAX).unwrap();
        for i in 0..ENTRIES {
            let page = Page::containing(BASE + 2 * i * PAGE_SIZE);
            vm.allocate(map, Placement::Fixed(page), 1, NewMemory::DEFAULT).unwrap();
            match shape {
                Shape::Bare => {}
                Shape::Touched => assert_eq!(vm.fault(map, page.addr(), Access::Write), FaultOutcome::Resolved),
                Shape::Shared => vm.inherit(map, page, Page::containing(page.addr() + PAGE_SIZE), Inherit::Share).unwrap(),
            }
        }
        let entries = vm.map(map).entry_count();
        heap::reset_peak();
        let before = heap::usage().in_use;
        let child = vm.fork(map).unwrap();
        let peak = heap::usage().peak - before;
        // Measured: 166 bytes an entry at the peak for bare and touched entries, 323 for
        // shared ones (an object each); the estimate allows 640.
        assert!(peak <= limits::fork_bytes(entries), "{shape:?}: {} bytes an entry at the peak", peak / entries);
        vm.destroy_map(child).expect("a live map");
        vm.destroy_map(map).expect("a live map");
    }
}
