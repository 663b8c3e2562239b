//! A thread's kernel stack (a slot of the kernel-stack area) overflows into its guard page: the
//! page fault cannot push its frame there, so the CPU raises a double fault, which runs on its
//! IST stack (itself a guarded slot), and the stack lookup the handler uses names the thread
//! and the slot. A double fault cannot be resumed, so this test kernel holds this test alone.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::run)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::arch::{exceptions, gdt};
use kernel::memory::kstack::{self, KernelStack, StackOwner, StackOverflow};
use kernel::testing;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::InterruptStackFrame;
use x86_64::VirtAddr;

kernel::test_kernel!(test_main);

const PAGE: u64 = 4096;
/// The thread number the overflowing stack is allocated for.
const THREAD: u32 = 77;

/// The overflowing stack's slot and bottom, for the hook.
static SLOT: AtomicU64 = AtomicU64::new(0);
static BOTTOM: AtomicU64 = AtomicU64::new(0);

#[test_case]
fn thread_stack_overflow_hits_its_guard_page_and_is_reported() {
    exceptions::set_double_fault_hook(on_double_fault);
    let stack = KernelStack::allocate(StackOwner::Thread(THREAD)).expect("a kernel stack");
    SLOT.store(stack.slot() as u64, Ordering::SeqCst);
    BOTTOM.store(stack.bottom().as_u64(), Ordering::SeqCst);
    // SAFETY: the stack is mapped, owned by `stack` (never dropped: this never returns) and
    // unused; its top is 16-byte aligned, so after the call pushes the return address the
    // callee starts with the alignment the C calling convention expects. The callee never
    // returns: the recursion ends in a double fault, whose hook ends the run.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "call {entry}",
            "ud2",
            top = in(reg) stack.top().as_u64(),
            entry = sym overflow_this_stack,
            options(noreturn),
        )
    }
}

extern "C" fn overflow_this_stack() -> ! {
    testing::overflow_the_stack()
}

fn on_double_fault(frame: &InterruptStackFrame, rsp: VirtAddr) -> ! {
    let (ist_start, ist_end) = gdt::double_fault_stack();
    assert!((ist_start..ist_end).contains(&rsp), "handler not on the IST stack: {rsp:?}");
    let ist_guard = kstack::overflow_at(ist_start - 8u64).expect("the IST stack has a guard page");
    assert_eq!(ist_guard.owner, StackOwner::Interrupt { cpu: 0, index: gdt::DOUBLE_FAULT_IST_INDEX });
    let (slot, bottom) = (SLOT.load(Ordering::SeqCst) as usize, BOTTOM.load(Ordering::SeqCst));
    let cr2 = Cr2::read_raw();
    assert!((bottom - PAGE..bottom).contains(&cr2), "fault at {cr2:#x}, not in the guard page below {bottom:#x}");
    let sp = frame.stack_pointer.as_u64();
    assert!(sp >= bottom - PAGE && sp < bottom + PAGE, "interrupted stack pointer {sp:#x}");
    let overflow = kstack::overflow_at(VirtAddr::new(cr2)).expect("the handler's lookup finds the stack");
    let expected = StackOverflow { slot, owner: StackOwner::Thread(THREAD), address: VirtAddr::new(cr2) };
    assert_eq!(overflow, expected);
    let report = alloc::format!("{overflow}");
    assert_eq!(report, alloc::format!("kernel stack overflow: thread {THREAD} / stack slot {slot}, fault at {cr2:#x}"));
    testing::pass_and_exit()
}
