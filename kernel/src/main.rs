//! The kernel image that `cargo run` boots: it starts the first program of the ramdisk as
//! the init task, runs tasks until none is left, and shuts down with init's verdict.

#![no_std]
#![no_main]

use kernel::{init_task, memory, qemu};

kernel::entry_point!(kernel_main);

fn kernel_main(boot_info: &'static mut kernel::bootloader_api::BootInfo) -> ! {
    let ramdisk = init_task::ramdisk(boot_info);
    kernel::init(boot_info);
    log::info!("machvm {}: Mach VM microkernel for x86_64", env!("CARGO_PKG_VERSION"));
    for region in &memory::layout().usable {
        log::info!("usable memory {:#012x}..{:#012x} ({} KiB)", region.start, region.end, (region.end - region.start) >> 10);
    }
    log::info!("{}", memory::stats());
    let code = match init_task::run(ramdisk) {
        Ok(0) => qemu::ExitCode::Success,
        Ok(status) => {
            log::error!("init exited with status {status}");
            qemu::ExitCode::Failed
        }
        Err(error) => {
            log::error!("{error}");
            qemu::ExitCode::Failed
        }
    };
    log::info!("{}", memory::stats());
    log::info!("shutting down");
    qemu::exit(code)
}
