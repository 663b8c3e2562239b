//! Where the boot loader puts the kernel: shared with the runner, which tells a debugger
//! where the kernel's symbols are.

/// The virtual address the kernel image (a position-independent ELF file linked at 0) is
/// loaded at: the last 2 GiB of the address space (P4 entry 511).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
