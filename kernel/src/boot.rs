//! What the kernel asks of the bootloader, and the virtual layout that follows from it.
//!
//! ```text
//!  0x0000_0000_0000_0000 ┬ user half (P4 entries 0..256): empty in the kernel's own tables
//!  0xffff_8000_0000_0000 ┼ physical memory, mapped whole (P4 entry 256): PHYS_MAP_BASE
//!  0xffff_8080_0000_0000 ┼ bootloader's dynamic range (P4 entries 257..509): boot info,
//!                        │ boot stack, ramdisk, frame buffer, one P4 entry each
//!  0xffff_fe80_0000_0000 ┼ kernel heap's large blocks, mapped on demand (P4 entry 509):
//!                        │ KERNEL_HEAP_BASE, see `memory::heap`
//!  0xffff_ff00_0000_0000 ┼ kernel stacks, each above an unmapped guard page (P4 entry 510):
//!                        │ KERNEL_STACKS_BASE, see `memory::kstack`
//!  0xffff_ffff_8000_0000 ┴ kernel image (P4 entry 511): KERNEL_BASE
//! ```

use bootloader_api::config::{BootloaderConfig, Mapping};

/// Virtual address at which all of physical memory is mapped.
pub const PHYS_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// Lowest address the bootloader may pick for its own mappings (boot info, stack).
pub const DYNAMIC_BASE: u64 = 0xffff_8080_0000_0000;
/// Base of the kernel heap's area of large blocks (`memory::heap`): the whole of P4 entry
/// 509, kept out of the bootloader's dynamic range.
pub const KERNEL_HEAP_BASE: u64 = 0xffff_fe80_0000_0000;
/// Base of the kernel-stack area (`memory::kstack`): the whole of P4 entry 510, kept out of the
/// bootloader's dynamic range.
pub const KERNEL_STACKS_BASE: u64 = 0xffff_ff00_0000_0000;
/// Virtual base of the kernel image (the kernel is position independent).
pub const KERNEL_BASE: u64 = machvm_abi::layout::KERNEL_BASE;
/// Size of the boot CPU's kernel stack (a guard page lies below it).
pub const KERNEL_STACK_SIZE: u64 = 128 * 1024;

/// Configuration embedded in every kernel image (main kernel and test kernels).
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::FixedAddress(PHYS_MAP_BASE));
    config.mappings.kernel_base = Mapping::FixedAddress(KERNEL_BASE);
    config.mappings.dynamic_range_start = Some(DYNAMIC_BASE);
    config.mappings.dynamic_range_end = Some(KERNEL_HEAP_BASE - 1);
    config.kernel_stack_size = KERNEL_STACK_SIZE;
    config
};

/// Declares the kernel entry point with the kernel's bootloader configuration.
///
/// `$main` has the type `fn(&'static mut BootInfo) -> !`.
#[macro_export]
macro_rules! entry_point {
    ($main:path) => {
        $crate::bootloader_api::entry_point!($main, config = &$crate::boot::BOOTLOADER_CONFIG);
    };
}
