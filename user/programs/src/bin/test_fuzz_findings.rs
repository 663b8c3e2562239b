//! Regression tests for what the fuzz campaign found (`user/programs/FUZZ.md`, "Findings"),
//! each reduced to the fewest calls that show it.

#![no_std]
#![no_main]

use mach::*;

#[path = "../common.rs"]
mod common;
use common::*;

mach::entry!(main);

const PAGE: u64 = 4096;
/// Never mapped by these tests.
const UNMAPPED: u64 = 0x7100_0000_0000;

fn main() -> i32 {
    mach::test::run(&mach::tests![
        a_failed_vm_copy_leaves_no_clipped_entry,
        a_failed_vm_write_leaves_no_clipped_entry,
    ])
}

fn entries() -> u64 {
    let mut info = TaskBasicInfo::default();
    assert_eq!(task_info(me(), &mut info), KERN_SUCCESS);
    info.region_count
}

/// `pages` new pages, each written (so that they have an object and resident pages).
fn alloc(pages: u64) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    for page in 0..pages {
        poke(a + page * PAGE + 8, page as u8 + 1);
    }
    a
}

/// F1 (seed 0x5eed0103, call #3014: `vm_copy(self, 0x1503, 0xd000, unmapped)`): the call
/// returned KERN_INVALID_ADDRESS but left the source clipped into one more entry (the middle
/// marked copy-on-write for a virtual copy that was then dropped).
fn a_failed_vm_copy_leaves_no_clipped_entry() {
    let source = alloc(32);
    let before = entries();
    assert_eq!(vm_copy(me(), source + 0x503, 0xd000, UNMAPPED), KERN_INVALID_ADDRESS);
    assert_eq!(entries(), before, "a failed call clips no entry");
    assert_eq!(vm_deallocate(me(), source, 32 * PAGE), KERN_SUCCESS);
}

/// F1 again, through `vm_write` (seed 0x5eed0102, call #2010: `vm_write(self, unmapped,
/// 0x1001, 0x7000)`), and with a destination that is only partly writable.
fn a_failed_vm_write_leaves_no_clipped_entry() {
    let source = alloc(32);
    let before = entries();
    assert_eq!(vm_write(me(), UNMAPPED, source + 1, 0x7000), KERN_INVALID_ADDRESS);
    assert_eq!(entries(), before, "a failed call clips no entry");
    let dest = alloc(16);
    assert_eq!(vm_protect(me(), dest + 4 * PAGE, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    let before = entries();
    assert_eq!(vm_write(me(), dest + 0x93, source + 0x200, 0xa000), KERN_PROTECTION_FAILURE);
    assert_eq!(entries(), before, "a failed call clips no entry");
    assert_eq!(peek(dest + 0x93), 0, "nothing written");
    assert_eq!(vm_deallocate(me(), source, 32 * PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), dest, 16 * PAGE), KERN_SUCCESS);
}
