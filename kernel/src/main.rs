//! The kernel image that `cargo run` boots.

#![no_std]
#![no_main]

use kernel::{memory, qemu};

kernel::entry_point!(kernel_main);

fn kernel_main(boot_info: &'static mut kernel::bootloader_api::BootInfo) -> ! {
    kernel::init(boot_info);
    log::info!("machvm {}: Mach VM microkernel for x86_64", env!("CARGO_PKG_VERSION"));
    for region in &memory::layout().usable {
        log::info!("usable memory {:#012x}..{:#012x} ({} KiB)", region.start, region.end, (region.end - region.start) >> 10);
    }
    log::info!("{}", memory::stats());
    log::info!("shutting down");
    qemu::exit(qemu::ExitCode::Success)
}
