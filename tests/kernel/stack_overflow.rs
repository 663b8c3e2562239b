//! A kernel stack overflow hits the guard page and becomes a double fault, handled on its own
//! IST stack. A double fault cannot be resumed, so this test kernel holds this test alone.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::run)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::{exceptions, gdt};
use kernel::{memory, testing};
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::InterruptStackFrame;
use x86_64::VirtAddr;

kernel::test_kernel!(test_main);

const PAGE: u64 = 4096;

#[test_case]
fn stack_overflow_is_caught_as_a_double_fault_on_the_ist_stack() {
    exceptions::set_double_fault_hook(on_double_fault);
    testing::overflow_the_stack()
}

fn on_double_fault(frame: &InterruptStackFrame, rsp: VirtAddr) -> ! {
    let (ist_start, ist_end) = gdt::double_fault_stack();
    assert!((ist_start..ist_end).contains(&rsp), "handler not on the IST stack: {rsp:?}");
    let stack = &memory::layout().kernel_stack;
    let guard = stack.start - PAGE..stack.start;
    let cr2 = Cr2::read_raw();
    assert!(guard.contains(&cr2), "fault at {cr2:#x}, not in the guard page {guard:#x?}");
    let sp = frame.stack_pointer.as_u64();
    assert!(sp >= guard.start && sp < stack.start + PAGE, "interrupted stack pointer {sp:#x}");
    testing::pass_and_exit()
}
