//! Boot smoke tests: the memory map, the frame allocator, the kernel heap and kernel stacks.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::run)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use kernel::arch::probe;
use kernel::memory::kstack::{self, KernelStack, KernelStackError, StackOwner};
use kernel::memory::{self, heap};
use kernel::task::{sched, TaskId};
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::structures::paging::{Page, PhysFrame};
use x86_64::VirtAddr;

kernel::test_kernel!(test_main);

const FRAME_SIZE: u64 = 4096;

fn inside_usable_memory(frame: PhysFrame) -> bool {
    let start = frame.start_address().as_u64();
    memory::layout().usable.iter().any(|r| r.start <= start && start + FRAME_SIZE <= r.end)
}

fn inside_metadata(frame: PhysFrame) -> bool {
    memory::layout().metadata.contains(&frame.start_address().as_u64())
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
        assert!(!inside_metadata(frame), "frame {frame:?} inside the allocators' metadata");
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
    let in_use_before = heap::usage().in_use;
    {
        let boxed = Box::new(0x5eed_u64);
        assert_eq!(*boxed, 0x5eed);
        let numbers: Vec<u64> = (0..100_000).collect();
        assert_eq!(numbers.iter().sum::<u64>(), 100_000 * 99_999 / 2);
        let big = alloc::vec![0xa5u8; 1 << 20];
        assert!(big.iter().all(|&b| b == 0xa5));
        assert!(heap::usage().in_use >= in_use_before + (1 << 20));
    }
    assert_eq!(heap::usage().in_use, in_use_before);
}

#[test_case]
fn heap_blocks_do_not_overlap() {
    let blocks: Vec<Box<[u8; 256]>> = (0..512).map(|i| Box::new([i as u8; 256])).collect();
    for (i, block) in blocks.iter().enumerate() {
        assert!(block.iter().all(|&b| b == i as u8), "block {i} was overwritten");
    }
}

/// Asserts that `page` is unmapped: no leaf entry, and a read through the MMU faults on it
/// (so no stale translation survives either).
fn assert_unmapped(page: Page) {
    assert_eq!(kstack::mapped_frame(page), None, "{page:?} has a leaf entry");
    let addr = page.start_address();
    // SAFETY: a kernel-stack page, ordinary memory; the fault is the point.
    let fault = unsafe { probe::read_u8(addr) }.expect_err("a page fault on an unmapped page");
    assert_eq!(fault.address, addr);
    assert!(!fault.error.contains(PageFaultErrorCode::PROTECTION_VIOLATION), "not present: {fault}");
}

#[test_case]
fn kernel_stacks_have_unmapped_guard_pages_and_return_every_frame() {
    const STACKS: u32 = 16;
    let (free, slots) = (memory::stats().free_frames, kstack::slots_in_use());
    let mut stacks: Vec<KernelStack> =
        (0..STACKS).map(|i| KernelStack::allocate(StackOwner::Thread(1000 + i)).expect("a kernel stack")).collect();
    assert_eq!(memory::stats().free_frames, free - u64::from(STACKS) * kstack::STACK_PAGES);
    assert_eq!(kstack::slots_in_use(), slots + STACKS as usize);
    let mut frames = BTreeSet::new();
    for (i, stack) in stacks.iter_mut().enumerate() {
        assert_eq!(stack.top() - stack.bottom(), kstack::STACK_SIZE);
        assert_eq!(stack.guard_page().start_address() + FRAME_SIZE, stack.bottom());
        assert_unmapped(stack.guard_page());
        let words = stack.words_mut();
        assert!(words.iter().all(|&w| w == 0), "a new stack is zeroed");
        let last = words.len() - 1;
        (words[0], words[last]) = (i as u64, !(i as u64));
        let pages = Page::range(Page::containing_address(stack.bottom()), Page::containing_address(stack.top()));
        frames.extend(pages.map(|page| kstack::mapped_frame(page).expect("a stack page is mapped")));
        let overflow = kstack::overflow_at(stack.bottom() - 8u64).expect("the guard page is recognised");
        assert_eq!((overflow.slot, overflow.owner), (stack.slot(), StackOwner::Thread(1000 + i as u32)));
        assert_eq!(kstack::overflow_at(stack.bottom()), None, "the stack itself is not a guard page");
    }
    assert_eq!(frames.len() as u64, u64::from(STACKS) * kstack::STACK_PAGES, "stacks share frames");
    for (i, stack) in stacks.iter_mut().enumerate() {
        let words = stack.words_mut();
        assert_eq!((words[0], words[words.len() - 1]), (i as u64, !(i as u64)), "stacks share memory");
    }
    let gone: Vec<(VirtAddr, Page)> = stacks.iter().map(|s| (s.bottom(), s.guard_page())).collect();
    drop(stacks);
    assert_eq!(memory::stats().free_frames, free, "a freed stack returns every frame");
    assert_eq!(kstack::slots_in_use(), slots);
    for (bottom, guard) in gone {
        assert_unmapped(Page::containing_address(bottom));
        assert_eq!(kstack::overflow_at(guard.start_address()), None, "a free slot has no owner");
    }
    memory::check();
}

#[test_case]
fn kernel_stack_allocation_fails_cleanly() {
    let (free, slots, threads) = (memory::stats().free_frames, kstack::slots_in_use(), sched::thread_count());
    // Out of frames, with a few left (taken, then given back) or none.
    let mut frames: Vec<PhysFrame> = core::iter::from_fn(memory::allocate_frame).collect();
    let keep = frames.len() - 3;
    frames.drain(keep..).for_each(memory::deallocate_frame);
    for expected_free in [3, 0] {
        assert_eq!(KernelStack::allocate(StackOwner::Thread(1)).err(), Some(KernelStackError::OutOfMemory));
        assert_eq!(memory::stats().free_frames, expected_free, "a failed allocation keeps no frame");
        frames.extend(core::iter::from_fn(memory::allocate_frame));
    }
    let spawned = sched::spawn(TaskId(u32::MAX), VirtAddr::new(0x1000), VirtAddr::new(0x2000), 0);
    assert_eq!(spawned, Err(KernelStackError::OutOfMemory), "spawning without a frame fails");
    assert_eq!((kstack::slots_in_use(), sched::thread_count()), (slots, threads));
    frames.into_iter().for_each(memory::deallocate_frame);
    // Out of slots.
    let stacks: Vec<KernelStack> = core::iter::from_fn(|| KernelStack::allocate(StackOwner::Thread(2)).ok()).collect();
    assert_eq!(stacks.len(), kstack::SLOTS - slots);
    assert_eq!(KernelStack::allocate(StackOwner::Thread(3)).err(), Some(KernelStackError::NoSlot));
    drop(stacks);
    assert_eq!((memory::stats().free_frames, kstack::slots_in_use()), (free, slots));
    memory::check();
}
