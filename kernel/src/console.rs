//! The serial console (COM1) and the `log` facade on top of it.
//!
//! All kernel messages go through `log` (`log::info!` and friends) and appear as
//! `[LEVEL] message`. The test framework and the final boot report print raw lines with
//! [`print!`](crate::print) because the host runner reads them as a protocol.

use crate::sync::IrqMutex;
use core::fmt::{self, Write};
use log::{LevelFilter, Log, Metadata, Record};
use uart_16550::{backend::PioBackend, Config, Uart16550Tty};

const COM1: u16 = 0x3f8;

static SERIAL: IrqMutex<Option<Uart16550Tty<PioBackend>>> = IrqMutex::new(None);
static LOGGER: SerialLogger = SerialLogger;

/// Maximum level of kernel log messages.
pub const LOG_LEVEL: LevelFilter = LevelFilter::Info;

/// Opens COM1 and installs the logger. Idempotent.
pub fn init() {
    let mut serial = SERIAL.lock();
    if serial.is_none() {
        // SAFETY: COM1's I/O ports belong to this driver alone: nothing else in the kernel
        // touches ports 0x3f8..0x400.
        *serial = unsafe { Uart16550Tty::new_port(COM1, Config::default()) }.ok();
    }
    drop(serial);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LOG_LEVEL);
    }
}

/// Writes formatted text to the console; used by [`print!`](crate::print).
pub fn write_fmt(args: fmt::Arguments<'_>) {
    if let Some(port) = SERIAL.lock().as_mut() {
        // The TTY layer cannot fail once initialised; a lost character is all that could happen.
        let _ = port.write_fmt(args);
    }
}

/// Writes to the console even if the console lock is held (the panic path: the panicking code
/// may hold it). Output may interleave with the interrupted line, which is better than silence.
pub fn write_fmt_forced(args: fmt::Arguments<'_>) {
    if let Some(mut guard) = SERIAL.try_lock() {
        if let Some(port) = guard.as_mut() {
            let _ = port.write_fmt(args);
        }
        return;
    }
    // SAFETY: as in `init`; the holder of the lock is the code that panicked (this CPU is the
    // only one running), and it will never resume using the port.
    if let Ok(mut port) = unsafe { Uart16550Tty::new_port(COM1, Config::default()) } {
        let _ = port.write_fmt(args);
    }
}

/// Prints to the serial console without a newline.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

struct SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            write_fmt(format_args!("[{:<5}] {}\n", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}
