//! The runtime: entry point, console printing, panics.

use core::fmt::{self, Write};

/// Status of a task that panicked.
pub const PANIC_STATUS: i32 = 101;

/// Defines the program's entry point: `entry!(main)` with `fn main() -> i32`; the task exits
/// with the value `main` returns.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn _start() -> ! {
            let main: fn() -> i32 = $main;
            $crate::task_exit(main())
        }
    };
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::rt::print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::rt::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// A line buffer: text goes to the kernel a line (or 256 bytes) at a time.
struct Console {
    buffer: [u8; 256],
    len: usize,
}

impl Console {
    fn flush(&mut self) {
        if self.len > 0 {
            crate::console_write(&self.buffer[..self.len]);
            self.len = 0;
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if self.len == self.buffer.len() {
                self.flush();
            }
            self.buffer[self.len] = byte;
            self.len += 1;
            if byte == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Prints formatted text (used by [`print!`](crate::print)).
pub fn print(args: fmt::Arguments<'_>) {
    let mut console = Console { buffer: [0; 256], len: 0 };
    let _ = console.write_fmt(args);
    console.flush();
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if let Some(test) = crate::test::current() {
        print(format_args!("test {test} ... FAILED\n"));
    }
    print(format_args!("panicked: {info}\n"));
    crate::task_exit(PANIC_STATUS)
}
