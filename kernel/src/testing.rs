//! The in-kernel test framework.
//!
//! A test kernel is a file under `tests/kernel/` (listed in `kernel/Cargo.toml`) built with the
//! `custom_test_frameworks` feature; each `#[test_case]` function in it is one test:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! #![feature(custom_test_frameworks)]
//! #![test_runner(kernel::testing::run)]
//! #![reexport_test_harness_main = "test_main"]
//!
//! kernel::test_kernel!(test_main);
//!
//! #[test_case]
//! fn heap_serves_a_box() {
//!     assert_eq!(*alloc::boxed::Box::new(7), 7);
//! }
//! ```
//!
//! The kernel prints `running N tests`, then `test NAME ... ok` per test, and ends QEMU with the
//! success code. A failing test panics: the panic handler completes the line with `FAILED`,
//! prints the message and ends QEMU with the failure code. The host runner (`boot`) reads these
//! lines, enforces a timeout and prints the libtest summary.

use crate::{print, println, qemu};
use core::sync::atomic::{AtomicBool, Ordering};

static IN_TEST: AtomicBool = AtomicBool::new(false);

/// Whether a test is running (the panic handler then reports it as failed).
pub fn in_test() -> bool {
    IN_TEST.load(Ordering::SeqCst)
}

/// One test: anything callable without arguments, named after its type.
pub trait Testable {
    /// Runs the test, printing its `test NAME ... ok` line.
    fn run(&self);
}

impl<T: Fn()> Testable for T {
    fn run(&self) {
        print!("test {} ... ", test_name::<T>());
        IN_TEST.store(true, Ordering::SeqCst);
        self();
        IN_TEST.store(false, Ordering::SeqCst);
        println!("ok");
    }
}

/// The test's path without the test kernel's crate name (`memory::heap_serves_a_box` is
/// reported as `heap_serves_a_box`).
fn test_name<T>() -> &'static str {
    let full = core::any::type_name::<T>();
    full.split_once("::").map_or(full, |(_, rest)| rest)
}

/// The `test_runner` of every test kernel: runs each test, then ends QEMU with success.
pub fn run(tests: &[&dyn Testable]) {
    println!("running {} tests", tests.len());
    for test in tests {
        test.run();
    }
    qemu::exit(qemu::ExitCode::Success);
}

/// Completes the current test as passed and ends the run with success. For tests that end in a
/// state the kernel cannot resume from (a double fault); such a test must be the last one of
/// its test kernel, since the tests after it never run (and the host runner counts them).
pub fn pass_and_exit() -> ! {
    IN_TEST.store(false, Ordering::SeqCst);
    println!("ok");
    qemu::exit(qemu::ExitCode::Success);
}

/// Declares a test kernel's entry point: boot the kernel, then run `$test_main` (the harness
/// entry named by `reexport_test_harness_main`).
#[macro_export]
macro_rules! test_kernel {
    ($test_main:ident) => {
        fn __test_kernel_main(boot_info: &'static mut $crate::bootloader_api::BootInfo) -> ! {
            $crate::init(boot_info);
            $test_main();
            $crate::qemu::exit($crate::qemu::ExitCode::Success)
        }
        $crate::entry_point!(__test_kernel_main);
    };
}

/// Recurses until the stack it runs on overflows (for the tests of guard pages): it never
/// returns, as the overflow's double fault ends the test kernel.
pub fn overflow_the_stack() -> ! {
    let depth = recurse(0);
    panic!("recursed {depth} levels without a fault");
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 8]);
    recurse(depth + 1) + frame[7]
}
