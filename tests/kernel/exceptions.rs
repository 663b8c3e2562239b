//! CPU exceptions: breakpoints resume, page faults reach the handler decoded.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::run)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::exceptions::breakpoint_count;
use kernel::arch::probe;
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::VirtAddr;

kernel::test_kernel!(test_main);

/// An address in the user half, which the kernel's own page tables leave unmapped.
const UNMAPPED: u64 = 0x0000_4000_0000_1234;

static READ_ONLY: [u8; 4] = [1, 2, 3, 4];

#[test_case]
fn breakpoint_is_handled_and_execution_resumes() {
    let before = breakpoint_count();
    x86_64::instructions::interrupts::int3();
    let resumed = core::hint::black_box(true);
    assert!(resumed);
    assert_eq!(breakpoint_count(), before + 1);
}

#[test_case]
fn read_of_unmapped_address_reports_address_and_error_code() {
    // SAFETY: the address is unmapped (the fault is the point); no device lives there.
    let fault = unsafe { probe::read_u8(VirtAddr::new(UNMAPPED)) }.expect_err("a page fault");
    assert_eq!(fault.address.as_u64(), UNMAPPED);
    assert_eq!(fault.error, PageFaultErrorCode::empty(), "kernel read of a non-present page");
    assert_eq!(fault.access(), "read");
    assert!(probe::fixup_for(fault.ip).is_some(), "the fault came from the probe");
}

#[test_case]
fn write_to_unmapped_address_reports_a_write() {
    // SAFETY: nothing is mapped there, so the write cannot land anywhere.
    let fault = unsafe { probe::write_u8(VirtAddr::new(UNMAPPED), 7) }.expect_err("a page fault");
    assert_eq!(fault.address.as_u64(), UNMAPPED);
    assert_eq!(fault.error, PageFaultErrorCode::CAUSED_BY_WRITE);
}

#[test_case]
fn write_to_read_only_kernel_data_is_a_protection_violation() {
    let target = VirtAddr::from_ptr(&READ_ONLY[2]);
    // SAFETY: the page is read-only (that is what is tested), so the write cannot happen.
    let fault = unsafe { probe::write_u8(target, 9) }.expect_err("a page fault");
    assert_eq!(fault.address, target);
    assert_eq!(
        fault.error,
        PageFaultErrorCode::PROTECTION_VIOLATION | PageFaultErrorCode::CAUSED_BY_WRITE
    );
    assert_eq!(core::hint::black_box(&READ_ONLY)[2], 3);
}

#[test_case]
fn probe_of_mapped_memory_reads_it() {
    let target = VirtAddr::from_ptr(&READ_ONLY[1]);
    // SAFETY: ordinary kernel data.
    assert_eq!(unsafe { probe::read_u8(target) }, Ok(2));
}
