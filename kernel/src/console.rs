//! The serial console (COM1) and the `log` facade on top of it.
//!
//! All kernel messages go through `log` (`log::info!` and friends) and appear as
//! `[LEVEL] message`. The test framework and the final boot report print raw lines with
//! [`print!`](crate::print) because the host runner reads them as a protocol.

use crate::sync::IrqMutex;
use core::fmt::{self, Write};
use log::{LevelFilter, Log, Metadata, Record};
use machvm_abi::logspec;
use uart_16550::{backend::PioBackend, Config, Uart16550Tty};

const COM1: u16 = 0x3f8;

static SERIAL: IrqMutex<Option<Uart16550Tty<PioBackend>>> = IrqMutex::new(None);
static LOGGER: SerialLogger = SerialLogger;

/// The level of kernel log messages when the runner gives no `--log` spec.
pub const DEFAULT_LOG_LEVEL: LevelFilter = LevelFilter::Info;

/// The log spec the runner gave (`machvm_abi::logspec`), read and checked once at boot; empty
/// for none, or for one that is not a spec (the runner checks it first).
static LOG_SPEC: spin::Once<([u8; logspec::MAX_SPEC_LEN], usize)> = spin::Once::new();

/// Opens COM1, reads the log spec, and installs the logger. Idempotent.
pub fn init() {
    let mut serial = SERIAL.lock();
    if serial.is_none() {
        // SAFETY: COM1's I/O ports belong to this driver alone: nothing else in the kernel
        // touches ports 0x3f8..0x400.
        *serial = unsafe { Uart16550Tty::new_port(COM1, Config::default()) }.ok();
    }
    drop(serial);
    let spec = LOG_SPEC.call_once(|| {
        let mut bytes = [0u8; logspec::MAX_SPEC_LEN];
        let len = crate::arch::fw_cfg::file(logspec::FW_CFG_NAME, &mut bytes).unwrap_or(0).min(logspec::MAX_SPEC_LEN);
        let valid = core::str::from_utf8(&bytes[..len]).is_ok_and(|text| logspec::parse(text).is_ok());
        (bytes, if valid { len } else { 0 })
    });
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(most_verbose(spec_text()));
        if spec.1 > 0 {
            log::info!("log: `{}`", spec_text());
        }
    }
}

/// The spec, checked at boot ("" for none).
fn spec_text() -> &'static str {
    let Some((bytes, len)) = LOG_SPEC.get() else { return "" };
    core::str::from_utf8(&bytes[..*len]).unwrap_or("")
}

fn level(level: logspec::Level) -> LevelFilter {
    match level {
        logspec::Level::Off => LevelFilter::Off,
        logspec::Level::Error => LevelFilter::Error,
        logspec::Level::Warn => LevelFilter::Warn,
        logspec::Level::Info => LevelFilter::Info,
        logspec::Level::Debug => LevelFilter::Debug,
        logspec::Level::Trace => LevelFilter::Trace,
    }
}

/// The most verbose level any directive of `spec` lets through (the `log` macros' cut-off).
fn most_verbose(spec: &str) -> LevelFilter {
    let mut default = DEFAULT_LOG_LEVEL;
    let mut modules = LevelFilter::Off;
    for directive in logspec::parse(spec).into_iter().flatten() {
        match directive.module {
            None => default = level(directive.level),
            Some(_) => modules = modules.max(level(directive.level)),
        }
    }
    default.max(modules)
}

/// The level of messages of `target` under `spec`: the most specific module directive that
/// holds the target (the last one of equal length), else the last default, else
/// [`DEFAULT_LOG_LEVEL`]. A module may be named with or without the `kernel::` prefix.
fn level_of(spec: &str, target: &str) -> LevelFilter {
    let inside = |module: &str| {
        logspec::within(target, module) || target.strip_prefix("kernel::").is_some_and(|rest| logspec::within(rest, module))
    };
    let mut default = DEFAULT_LOG_LEVEL;
    let mut best: Option<(usize, LevelFilter)> = None;
    for directive in logspec::parse(spec).into_iter().flatten() {
        match directive.module {
            None => default = level(directive.level),
            Some(module) if inside(module) && best.is_none_or(|(len, _)| module.len() >= len) => {
                best = Some((module.len(), level(directive.level)));
            }
            Some(_) => {}
        }
    }
    best.map_or(default, |(_, level)| level)
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
        metadata.level() <= level_of(spec_text(), metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            write_fmt(format_args!("[{:<5}] {}\n", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}
