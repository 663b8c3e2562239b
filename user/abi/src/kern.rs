//! `kern_return_t` and its values (XNU's numbering), and the Hurd's errno values.

/// A Mach call's result.
pub type kern_return_t = i32;

/// The call succeeded.
pub const KERN_SUCCESS: kern_return_t = 0;
/// An address is not valid for the call (unmapped, outside the map, or a bad user pointer).
pub const KERN_INVALID_ADDRESS: kern_return_t = 1;
/// The protection does not allow the access or change.
pub const KERN_PROTECTION_FAILURE: kern_return_t = 2;
/// No room in the address space, or a fixed range is in use.
pub const KERN_NO_SPACE: kern_return_t = 3;
/// An argument is invalid.
pub const KERN_INVALID_ARGUMENT: kern_return_t = 4;
/// The operation failed for another reason.
pub const KERN_FAILURE: kern_return_t = 5;
/// Out of a kernel resource (physical memory).
pub const KERN_RESOURCE_SHORTAGE: kern_return_t = 6;
/// Access denied.
pub const KERN_NO_ACCESS: kern_return_t = 8;
/// The memory could not be supplied.
pub const KERN_MEMORY_FAILURE: kern_return_t = 9;
/// A memory error.
pub const KERN_MEMORY_ERROR: kern_return_t = 10;
/// The task handle is not valid.
pub const KERN_INVALID_TASK: kern_return_t = 16;
/// A value is out of range.
pub const KERN_INVALID_VALUE: kern_return_t = 18;
/// The host handle is not the privileged host.
pub const KERN_INVALID_HOST: kern_return_t = 22;
/// The object handle is not valid.
pub const KERN_INVALID_OBJECT: kern_return_t = 29;
/// The operation is not supported.
pub const KERN_NOT_SUPPORTED: kern_return_t = 46;

/// Hurd errno: invalid argument.
pub const EINVAL: i32 = 22;
/// Hurd errno: the range is in use.
pub const EEXIST: i32 = 17;
/// Hurd errno: no room.
pub const ENOSPC: i32 = 28;
/// Hurd errno: out of memory.
pub const ENOMEM: i32 = 12;

/// `hurd_vm_allocate` flag: use exactly `*address` or fail. (Seed 004 lists `VM_HERE` and
/// `VM_ZEROFILL` as enumerators 0 and 1 but tests them as flags; here they are the bits 1
/// and 2.)
pub const VM_HERE: u64 = 1;
/// `hurd_vm_allocate` flag: the memory must be zero-filled (anonymous memory always is).
pub const VM_ZEROFILL: u64 = 2;
