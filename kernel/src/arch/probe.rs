//! Memory accesses that survive a page fault.
//!
//! Each probe routine is a few instructions of assembly between the symbols `probe_text_start`
//! and `probe_text_end`. When one of them faults, the page-fault handler records the fault and
//! resumes at `probe_fixup`, which returns 1 from the routine instead of 0. The caller then
//! takes the recorded fault. This is the exception-table technique kernels use for copies from
//! and to user memory.

use super::exceptions::PageFault;
use crate::sync::IrqMutex;
use x86_64::VirtAddr;

core::arch::global_asm!(
    r#"
    .pushsection .text.probe, "ax"
    .p2align 4
    .global probe_text_start
probe_text_start:

    // u32 probe_read_u8(u64 address, u8 *out): *out = *address; returns 0.
    .global probe_read_u8
probe_read_u8:
    movzx eax, byte ptr [rdi]
    mov byte ptr [rsi], al
    xor eax, eax
    ret

    // u32 probe_write_u8(u64 address, u8 value): *address = value; returns 0.
    .global probe_write_u8
probe_write_u8:
    mov byte ptr [rdi], sil
    xor eax, eax
    ret

    // u32 probe_copy(u8 *dst, const u8 *src, u64 len): copies len bytes; returns 0.
    .global probe_copy
probe_copy:
    mov rcx, rdx
    rep movsb
    xor eax, eax
    ret

    .global probe_text_end
probe_text_end:

    // u32 probe_call(u64 target): calls target (which must return); returns 0. A fault on
    // fetching the target's first instruction is recovered through the return address below.
    .global probe_call
probe_call:
    call rdi
    .global probe_call_return
probe_call_return:
    xor eax, eax
    ret

    // Entered instead of a faulting probe instruction: the routine returns 1.
    .global probe_fixup
probe_fixup:
    mov eax, 1
    ret
    .popsection
"#
);

extern "C" {
    fn probe_read_u8(address: u64, out: *mut u8) -> u32;
    fn probe_write_u8(address: u64, value: u8) -> u32;
    fn probe_call(target: u64) -> u32;
    fn probe_copy(dst: *mut u8, src: *const u8, len: u64) -> u32;
    static probe_call_return: u8;
    static probe_text_start: u8;
    static probe_text_end: u8;
    static probe_fixup: u8;
}

/// The last fault taken by a probe; written by the fault handler, taken by the probe's caller.
///
/// One per processor: a probe and the fault it takes run on one processor (the kernel is not
/// preempted, and nothing between the fault and the probe's return blocks).
static LAST_FAULT: [IrqMutex<Option<PageFault>>; super::percpu::MAX_CPUS] =
    [const { IrqMutex::new(None) }; super::percpu::MAX_CPUS];

/// This processor's slot of [`LAST_FAULT`].
fn last_fault() -> &'static IrqMutex<Option<PageFault>> {
    &LAST_FAULT[super::percpu::index()]
}

/// If `ip` is a probe instruction, where execution resumes after it faults.
pub fn fixup_for(ip: VirtAddr) -> Option<VirtAddr> {
    let start = VirtAddr::from_ptr(&raw const probe_text_start);
    let end = VirtAddr::from_ptr(&raw const probe_text_end);
    (start..end)
        .contains(&ip)
        .then(|| VirtAddr::from_ptr(&raw const probe_fixup))
}

/// Whether `return_address` (the word on top of the stack when a fetch faulted) is the one
/// [`call`] pushed: the fault is then recovered by popping it and resuming at the fixup.
pub fn is_call_probe(return_address: u64) -> bool {
    return_address == VirtAddr::from_ptr(&raw const probe_call_return).as_u64()
}

/// Where a recovered fault resumes.
pub fn fixup() -> VirtAddr {
    VirtAddr::from_ptr(&raw const probe_fixup)
}

/// Records `fault` for the probe that raised it.
pub(super) fn record_fault(fault: PageFault) {
    *last_fault().lock() = Some(fault);
}

fn take_fault() -> PageFault {
    last_fault()
        .lock()
        .take()
        .expect("a probe that returned 1 took a page fault, which the handler recorded")
}

/// Reads one byte at `address`, returning the page fault instead if the read faults.
///
/// # Safety
///
/// `address` must not be memory-mapped I/O whose reads have side effects.
pub unsafe fn read_u8(address: VirtAddr) -> Result<u8, PageFault> {
    let mut value = 0u8;
    // SAFETY: the routine reads one byte at `address` (the caller vouches for side effects) and
    // writes one byte to `value`, a live local; a fault is turned into the return value 1.
    match unsafe { probe_read_u8(address.as_u64(), &mut value) } {
        0 => Ok(value),
        _ => Err(take_fault()),
    }
}

/// Calls the code at `target`, returning the page fault instead if fetching its first
/// instruction faults.
///
/// # Safety
///
/// If `target` is executable, it runs: it must be a function that follows the C calling
/// convention, takes no argument and returns.
pub unsafe fn call(target: VirtAddr) -> Result<(), PageFault> {
    // SAFETY: vouched for by the caller; a fault on the first fetch is turned into 1.
    match unsafe { probe_call(target.as_u64()) } {
        0 => Ok(()),
        _ => Err(take_fault()),
    }
}

/// Writes one byte at `address`, returning the page fault instead if the write faults.
///
/// # Safety
///
/// If `address` is writable, the write happens: it must not break any Rust object or
/// device, exactly as a raw pointer write.
pub unsafe fn write_u8(address: VirtAddr, value: u8) -> Result<(), PageFault> {
    // SAFETY: as for a raw pointer write, vouched for by the caller; a fault is turned into the
    // return value 1.
    match unsafe { probe_write_u8(address.as_u64(), value) } {
        0 => Ok(()),
        _ => Err(take_fault()),
    }
}

/// Copies `len` bytes from `src` to `dst`, returning the page fault instead if an access
/// faults (the bytes before it are copied).
///
/// # Safety
///
/// As for a raw-pointer copy of `len` bytes: where the accesses succeed they happen, so
/// neither range may overlap a Rust object other than one the caller owns for the copy.
pub unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> Result<(), PageFault> {
    // SAFETY: vouched for by the caller; a fault is turned into the return value 1.
    match unsafe { probe_copy(dst, src, len as u64) } {
        0 => Ok(()),
        _ => Err(take_fault()),
    }
}
