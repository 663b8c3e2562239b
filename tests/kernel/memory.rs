//! Boot smoke tests: the memory map, the frame allocator and the kernel heap.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::run)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use kernel::memory::{self, heap};
use x86_64::structures::paging::PhysFrame;

kernel::test_kernel!(test_main);

const FRAME_SIZE: u64 = 4096;

fn inside_usable_memory(frame: PhysFrame) -> bool {
    let start = frame.start_address().as_u64();
    memory::layout().usable.iter().any(|r| r.start <= start && start + FRAME_SIZE <= r.end)
}

fn inside_heap(frame: PhysFrame) -> bool {
    memory::layout().heap.contains(&frame.start_address().as_u64())
}

#[test_case]
fn memory_map_is_not_empty() {
    let layout = memory::layout();
    assert!(!layout.usable.is_empty());
    assert!(layout.usable.iter().all(|r| r.start >= 1 << 20 && r.start < r.end));
    let stats = memory::stats();
    assert!(stats.usable_frames > 0);
    assert!(stats.free_frames > 0 && stats.free_frames < stats.usable_frames);
    memory::check();
}

#[test_case]
fn frames_are_distinct_usable_and_writable() {
    let before = memory::stats().free_frames;
    let mut seen = BTreeSet::new();
    let frames: Vec<PhysFrame> = (0..2048).map(|_| memory::allocate_frame().expect("a free frame")).collect();
    for (i, &frame) in frames.iter().enumerate() {
        assert!(seen.insert(frame), "frame {frame:?} handed out twice");
        assert!(inside_usable_memory(frame), "frame {frame:?} outside usable memory");
        assert!(!inside_heap(frame), "frame {frame:?} inside the kernel heap");
        let page = memory::phys_to_virt(frame.start_address()).as_mut_ptr::<u64>();
        // SAFETY: the frame was just allocated to this test and is mapped through the
        // physical-memory mapping.
        unsafe { page.write_volatile(i as u64) };
    }
    for (i, &frame) in frames.iter().enumerate() {
        let page = memory::phys_to_virt(frame.start_address()).as_ptr::<u64>();
        // SAFETY: as above; the frame is still allocated to this test.
        assert_eq!(unsafe { page.read_volatile() }, i as u64, "frames share memory");
    }
    assert_eq!(memory::stats().free_frames, before - frames.len() as u64);
    frames.into_iter().for_each(memory::deallocate_frame);
    assert_eq!(memory::stats().free_frames, before);
    memory::check();
}

#[test_case]
fn exhausting_memory_returns_none_then_recovers() {
    let before = memory::stats().free_frames;
    let mut frames = Vec::with_capacity(before as usize);
    while let Some(frame) = memory::allocate_frame() {
        frames.push(frame);
    }
    assert_eq!(frames.len() as u64, before);
    assert_eq!(memory::stats().free_frames, 0);
    assert!(memory::allocate_frame().is_none());
    frames.into_iter().for_each(memory::deallocate_frame);
    assert_eq!(memory::stats().free_frames, before);
    memory::check();
}

#[test_case]
fn heap_serves_box_and_vec() {
    let (in_use_before, size) = heap::usage();
    assert!(size >= 4 << 20);
    {
        let boxed = Box::new(0x5eed_u64);
        assert_eq!(*boxed, 0x5eed);
        let numbers: Vec<u64> = (0..100_000).collect();
        assert_eq!(numbers.iter().sum::<u64>(), 100_000 * 99_999 / 2);
        let big = alloc::vec![0xa5u8; 1 << 20];
        assert!(big.iter().all(|&b| b == 0xa5));
        assert!(heap::usage().0 >= in_use_before + (1 << 20));
    }
    assert_eq!(heap::usage().0, in_use_before);
}

#[test_case]
fn heap_blocks_do_not_overlap() {
    let blocks: Vec<Box<[u8; 256]>> = (0..512).map(|i| Box::new([i as u8; 256])).collect();
    for (i, block) in blocks.iter().enumerate() {
        assert!(block.iter().all(|&b| b == i as u8), "block {i} was overwritten");
    }
}
