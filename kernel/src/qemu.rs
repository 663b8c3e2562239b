//! Leaving QEMU through its `isa-debug-exit` device.
//!
//! The runner starts QEMU with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`. Writing `v` to
//! the port ends QEMU with status `(v << 1) | 1`, so the two codes below reach the host as 33
//! and 35; a triple fault or a reset (QEMU runs with `-no-reboot`) ends it with neither.

use x86_64::instructions::{hlt, interrupts, port::Port};

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// How the kernel run ended, as reported to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Everything the run was meant to do succeeded (host status 33).
    Success = 0x10,
    /// A test failed or the kernel panicked (host status 35).
    Failed = 0x11,
}

/// Ends the QEMU session with `code`. Without the exit device (real hardware), halts forever.
pub fn exit(code: ExitCode) -> ! {
    interrupts::disable();
    let mut port = Port::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit device, whose only effect is to end the
    // virtual machine; on a machine without it, the write goes to an unused ISA port.
    unsafe { port.write(code as u32) };
    loop {
        hlt();
    }
}
