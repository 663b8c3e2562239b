//! The x86_64 pmap on the real MMU: CR3 switches, page faults and their error codes, the
//! reverse map across address spaces, NX, SMEP and SMAP.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::run)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::cpu::{self, with_user_access};
use kernel::arch::exceptions::PageFault;
use kernel::arch::probe;
use kernel::pmap::{self, KernelFrames};
use kernel::memory;
use vm::pmap::{FrameAllocator, PhysMemory, Pmap, SpaceId, Wiring};
use vm::{Frame, Page, PageRange, Prot};
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::structures::idt::PageFaultErrorCode as E;
use x86_64::VirtAddr;

kernel::test_kernel!(test_main);

const USER_VA: u64 = 0x4000_0000;
const OTHER_VA: u64 = 0x7f00_0000_0000;

/// A user address space with one frame, torn down (and checked for leaks) on drop.
struct Scratch {
    space: SpaceId,
    frame: Frame,
    free_before: u64,
}

impl Scratch {
    fn new(prot: Prot) -> Self {
        let free_before = memory::stats().free_frames;
        let frame = KernelFrames.allocate_frame().expect("a frame");
        let mut pmap = pmap::lock();
        pmap.zero_page(frame);
        let space = pmap.create().expect("a root table");
        let flush = pmap.enter(space, page(USER_VA), frame, prot, Wiring::Pageable).expect("tables");
        pmap.flush(flush);
        pmap.activate(space);
        Self { space, frame, free_before }
    }

    fn apply(&self, f: impl FnOnce(&mut pmap::KernelPmap, SpaceId) -> vm::pmap::TlbFlush) {
        let mut pmap = pmap::lock();
        let flush = f(&mut pmap, self.space);
        pmap.flush(flush);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut pmap = pmap::lock();
        pmap.deactivate();
        let flush = pmap.destroy(self.space);
        pmap.flush(flush);
        pmap.check_invariants();
        drop(pmap);
        KernelFrames.deallocate_frame(self.frame);
        assert_eq!(memory::stats().free_frames, self.free_before, "frames leaked");
    }
}

fn page(addr: u64) -> Page {
    Page::from_aligned(addr).expect("aligned")
}

fn user_read(addr: u64) -> Result<u8, PageFault> {
    // SAFETY: plain memory (a test frame) or unmapped; the probe recovers a fault.
    with_user_access(|| unsafe { probe::read_u8(VirtAddr::new(addr)) })
}

fn user_write(addr: u64, value: u8) -> Result<(), PageFault> {
    // SAFETY: the target is a test frame mapped for this purpose, or not writable.
    with_user_access(|| unsafe { probe::write_u8(VirtAddr::new(addr), value) })
}

#[test_case]
fn protection_features_are_on() {
    let features = cpu::features();
    assert!(features.no_execute && features.smep && features.smap, "{features:?}");
    let cr4 = Cr4::read();
    assert!(cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION | Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION));
    assert_eq!(cr4.contains(Cr4Flags::PCID), features.pcid);
}

#[test_case]
fn mapped_frame_is_read_and_written_through_a_fresh_space() {
    let s = Scratch::new(Prot::DEFAULT);
    pmap::direct_map().write(s.frame, 0, b"mach");
    let word = with_user_access(|| {
        let p = USER_VA as *mut [u8; 4];
        // SAFETY: USER_VA maps the test frame read-write in the active space.
        let word = unsafe { p.read_volatile() };
        // SAFETY: as above.
        unsafe { (USER_VA as *mut u8).add(8).write_volatile(0x5a) };
        word
    });
    assert_eq!(&word, b"mach");
    let mut out = [0u8; 1];
    pmap::direct_map().read(s.frame, 8, &mut out);
    assert_eq!(out[0], 0x5a, "the write reached the frame");
    let t = pmap::lock().extract(s.space, USER_VA).expect("mapped");
    assert_eq!(t.frame, s.frame);
}

#[test_case]
fn write_to_read_only_page_faults_with_protection_and_write_bits() {
    let s = Scratch::new(Prot::DEFAULT);
    user_write(USER_VA, 1).expect("writable at first");
    s.apply(|p, space| p.protect(space, PageRange::single(page(USER_VA)).unwrap(), Prot::READ));
    let fault = user_write(USER_VA, 2).expect_err("a protection fault");
    assert_eq!(fault.address.as_u64(), USER_VA);
    assert_eq!(fault.error, E::PROTECTION_VIOLATION | E::CAUSED_BY_WRITE);
    assert_eq!(user_read(USER_VA), Ok(1), "still readable, the write did not land");
}

#[test_case]
fn removed_page_faults_as_not_present() {
    let s = Scratch::new(Prot::DEFAULT);
    assert_eq!(user_read(USER_VA + 5), Ok(0));
    s.apply(|p, space| p.remove(space, PageRange::single(page(USER_VA)).unwrap()));
    let fault = user_read(USER_VA + 5).expect_err("a fault");
    assert_eq!(fault.address.as_u64(), USER_VA + 5);
    assert!(!fault.error.contains(E::PROTECTION_VIOLATION), "not-present: {:?}", fault.error);
    assert_eq!(pmap::lock().extract(s.space, USER_VA), None);
}

#[test_case]
fn remapping_a_page_invalidates_the_old_translation() {
    let s = Scratch::new(Prot::DEFAULT);
    let other = KernelFrames.allocate_frame().expect("a frame");
    pmap::direct_map().write(s.frame, 0, &[1]);
    pmap::direct_map().write(other, 0, &[2]);
    assert_eq!(user_read(USER_VA), Ok(1)); // now cached in the TLB
    s.apply(|p, space| p.enter(space, page(USER_VA), other, Prot::READ, Wiring::Pageable).unwrap());
    assert_eq!(user_read(USER_VA), Ok(2), "the stale translation was flushed");
    s.apply(|p, space| p.remove(space, PageRange::single(page(USER_VA)).unwrap()));
    KernelFrames.deallocate_frame(other);
}

#[test_case]
fn page_protect_stops_writes_in_every_space() {
    let s = Scratch::new(Prot::DEFAULT);
    let second = pmap::lock().create().expect("a root");
    s.apply(|p, _| p.enter(second, page(OTHER_VA), s.frame, Prot::DEFAULT, Wiring::Pageable).unwrap());
    let switch = |space| pmap::lock().activate(space);
    user_write(USER_VA, 7).expect("first space writes");
    switch(second);
    user_write(OTHER_VA + 1, 8).expect("second space writes");
    assert_eq!(user_read(OTHER_VA), Ok(7), "one frame, two mappings");
    s.apply(|p, _| p.page_protect(s.frame, Prot::READ));
    let fault = user_write(OTHER_VA, 9).expect_err("read-only in the second space");
    assert_eq!(fault.error, E::PROTECTION_VIOLATION | E::CAUSED_BY_WRITE);
    switch(s.space);
    let fault = user_write(USER_VA, 9).expect_err("read-only in the first space");
    assert_eq!(fault.error, E::PROTECTION_VIOLATION | E::CAUSED_BY_WRITE);
    assert_eq!(user_read(USER_VA + 1), Ok(8));
    let mut pmap = pmap::lock();
    assert!(pmap.referenced(s.frame) && pmap.modified(s.frame), "hardware set A and D");
    let flush = pmap.destroy(second);
    pmap.flush(flush);
}

/// Writes `ret` at the start of the scratch frame.
fn plant_ret(frame: Frame) {
    pmap::direct_map().write(frame, 0, &[0xc3]);
}

/// Runs `f` with SMEP off, so that the kernel may execute user pages.
fn without_smep<R>(f: impl FnOnce() -> R) -> R {
    let smep = Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    // SAFETY: clearing SMEP only allows more; it is restored below before anything else runs.
    unsafe { Cr4::update(|flags| flags.remove(smep)) };
    let result = f();
    // SAFETY: restores the boot setting.
    unsafe { Cr4::update(|flags| flags.insert(smep)) };
    result
}

#[test_case]
fn fetch_from_a_no_execute_page_faults() {
    let s = Scratch::new(Prot::READ);
    plant_ret(s.frame);
    // SAFETY: the target holds `ret`.
    let fault = without_smep(|| unsafe { probe::call(VirtAddr::new(USER_VA)) }).expect_err("NX fault");
    assert_eq!(fault.address.as_u64(), USER_VA);
    assert_eq!(fault.error, E::PROTECTION_VIOLATION | E::INSTRUCTION_FETCH);
    s.apply(|p, space| p.enter(space, page(USER_VA), s.frame, Prot::READ | Prot::EXECUTE, Wiring::Pageable).unwrap());
    // SAFETY: as above.
    without_smep(|| unsafe { probe::call(VirtAddr::new(USER_VA)) }).expect("executable now");
}

#[test_case]
fn smep_forbids_the_kernel_to_execute_user_pages() {
    let s = Scratch::new(Prot::READ | Prot::EXECUTE);
    plant_ret(s.frame);
    // SAFETY: the target holds `ret`.
    let fault = unsafe { probe::call(VirtAddr::new(USER_VA)) }.expect_err("SMEP fault");
    assert_eq!(fault.error, E::PROTECTION_VIOLATION | E::INSTRUCTION_FETCH);
}

#[test_case]
fn smap_forbids_plain_kernel_access_to_user_pages() {
    let _s = Scratch::new(Prot::DEFAULT);
    // SAFETY: a mapped test frame; the probe recovers the fault.
    let fault = unsafe { probe::read_u8(VirtAddr::new(USER_VA)) }.expect_err("SMAP fault");
    assert_eq!(fault.error, E::PROTECTION_VIOLATION);
    assert_eq!(user_read(USER_VA), Ok(0), "allowed inside with_user_access");
}

#[test_case]
fn the_processor_runs_with_the_pmaps_pat() {
    // SAFETY: reading IA32_PAT has no side effect.
    let pat = unsafe { x86_64::registers::model_specific::Msr::new(0x277).read() };
    assert_eq!(pat, pmap_x86::PAT, "entry 1 write-combining, the rest as at reset");
}

#[test_case]
fn device_mappings_carry_their_memory_type_in_the_leaf() {
    let s = Scratch::new(Prot::DEFAULT);
    let device = Frame::containing(0xfd00_0000);
    for (cache, addr) in [(vm::pmap::Cache::WriteCombining, USER_VA + 0x1000), (vm::pmap::Cache::Uncached, USER_VA + 0x2000)] {
        let flush = pmap::lock().enter_device(s.space, page(addr), device, Prot::DEFAULT, cache).expect("a table");
        pmap::lock().flush(flush);
        let t = pmap::lock().extract(s.space, addr).expect("mapped");
        assert_eq!((t.frame, t.cache), (device, cache));
        let flush = pmap::lock().remove(s.space, PageRange::single(page(addr)).expect("one page"));
        pmap::lock().flush(flush);
    }
}
