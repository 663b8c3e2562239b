//! The kernel panic handler: report, then end the QEMU session with the failure code.

use crate::{console, qemu, testing};
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    x86_64::instructions::interrupts::disable();
    if testing::in_test() {
        console::write_fmt_forced(format_args!("FAILED\n\n"));
    }
    console::write_fmt_forced(format_args!("[PANIC] kernel {info}\n"));
    qemu::exit(qemu::ExitCode::Failed)
}
