//! Checked copies between the kernel and the current task's memory.
//!
//! A user range is first checked to lie inside the user map, so a task can never name kernel
//! memory. The copy then runs with user access opened (SMAP) inside a probe routine: a fault
//! on a page the task has not touched yet is resolved through the VM like the task's own
//! fault, and an unresolvable one ends the copy with `KERN_INVALID_ADDRESS`. No VM lock may be
//! held across these copies.

use crate::arch::{cpu, probe};
use machvm_abi::kern::{kern_return_t, KERN_INVALID_ADDRESS};
use vm::api::{USER_MAX, USER_MIN};

/// Whether `[addr, addr + len)` lies inside the user map.
fn in_user_map(addr: u64, len: usize) -> bool {
    addr.checked_add(len as u64).is_some_and(|end| addr >= USER_MIN && end <= USER_MAX)
}

/// Copies `out.len()` bytes from user address `src`.
///
/// # Errors
///
/// `KERN_INVALID_ADDRESS` if a byte is outside the user map or cannot be read.
pub fn copy_in(src: u64, out: &mut [u8]) -> Result<(), kern_return_t> {
    if !in_user_map(src, out.len()) {
        return Err(KERN_INVALID_ADDRESS);
    }
    // SAFETY: the source is user memory (checked above), which no Rust object lives in; the
    // destination is `out`, borrowed mutably for the copy.
    cpu::with_user_access(|| unsafe { probe::copy(out.as_mut_ptr(), src as *const u8, out.len()) })
        .map_err(|_| KERN_INVALID_ADDRESS)
}

/// Copies `data` to user address `dst`.
///
/// # Errors
///
/// `KERN_INVALID_ADDRESS` if a byte is outside the user map or cannot be written (the bytes
/// before it may have been written).
pub fn copy_out(dst: u64, data: &[u8]) -> Result<(), kern_return_t> {
    if !in_user_map(dst, data.len()) {
        return Err(KERN_INVALID_ADDRESS);
    }
    // SAFETY: the destination is user memory (checked above), which no Rust object lives in;
    // the source is `data`, only read.
    cpu::with_user_access(|| unsafe { probe::copy(dst as *mut u8, data.as_ptr(), data.len()) })
        .map_err(|_| KERN_INVALID_ADDRESS)
}

/// Reads a `u64` at user address `src`.
///
/// # Errors
///
/// As [`copy_in`].
pub fn read_u64(src: u64) -> Result<u64, kern_return_t> {
    let mut bytes = [0u8; 8];
    copy_in(src, &mut bytes)?;
    Ok(u64::from_ne_bytes(bytes))
}

/// Writes a `u64` at user address `dst`.
///
/// # Errors
///
/// As [`copy_out`].
pub fn write_u64(dst: u64, value: u64) -> Result<(), kern_return_t> {
    copy_out(dst, &value.to_ne_bytes())
}

/// Checks that the `u64` at user address `ptr` can be written, by writing back what it
/// holds: the caller's memory is unchanged, the page is now resident and privately writable
/// (copy-on-write resolved), and a later write of the result cannot fail (interrupts stay off
/// in the kernel, so nothing can change the page meanwhile, except the call itself: a call
/// that removes or shares memory of the caller checks that its out-parameters lie outside
/// that range).
///
/// Every call prepares each of its out-parameters this way before it changes anything.
///
/// # Errors
///
/// As [`copy_out`].
pub fn check_writable_u64(ptr: u64) -> Result<(), kern_return_t> {
    read_in_out_u64(ptr).map(|_| ())
}

/// Reads an in/out `u64` at user address `ptr`, prepared as [`check_writable_u64`] does.
///
/// # Errors
///
/// As [`copy_out`].
pub fn read_in_out_u64(ptr: u64) -> Result<u64, kern_return_t> {
    let value = read_u64(ptr)?;
    write_u64(ptr, value)?;
    Ok(value)
}

/// Whether the `len` bytes at `ptr` overlap the page range `[start, end)`.
pub fn overlaps(ptr: u64, len: u64, start: u64, end: u64) -> bool {
    ptr < end && ptr.saturating_add(len) > start
}

/// Types that cross the boundary as their bytes: `#[repr(C)]` structs of integers only,
/// without padding.
pub trait Plain: Copy + Default {}

impl Plain for machvm_abi::vm::VmRegionInfo {}
impl Plain for machvm_abi::vm::VmStatistics {}
impl Plain for machvm_abi::vm::TaskBasicInfo {}
impl Plain for machvm_abi::vm::FramebufferInfo {}
impl Plain for machvm_abi::VmMapArgs {}
impl Plain for machvm_abi::VmRemapArgs {}

/// Writes `value` at user address `dst`.
///
/// # Errors
///
/// As [`copy_out`].
pub fn write_plain<T: Plain>(dst: u64, value: &T) -> Result<(), kern_return_t> {
    // SAFETY: `T: Plain` is a `repr(C)` struct of integers: every byte is initialised (the
    // structs are laid out without padding) and may be read as `u8`.
    let bytes = unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), core::mem::size_of::<T>()) };
    copy_out(dst, bytes)
}

/// Reads an in/out `T` at user address `ptr`, checking that it can be written back (by
/// writing back what it holds; see [`check_writable_u64`]).
///
/// # Errors
///
/// As [`copy_out`].
pub fn read_in_out<T: Plain>(ptr: u64) -> Result<T, kern_return_t> {
    let value = read_plain(ptr)?;
    write_plain(ptr, &value)?;
    Ok(value)
}

/// Reads a `T` at user address `src`.
///
/// # Errors
///
/// As [`copy_in`].
pub fn read_plain<T: Plain>(src: u64) -> Result<T, kern_return_t> {
    let mut value = T::default();
    // SAFETY: `T: Plain` is a `repr(C)` struct of integers without padding: any bytes are a
    // valid value, and the slice covers exactly `value`, borrowed mutably for the copy.
    let bytes = unsafe { core::slice::from_raw_parts_mut((&mut value as *mut T).cast::<u8>(), core::mem::size_of::<T>()) };
    copy_in(src, bytes)?;
    Ok(value)
}
