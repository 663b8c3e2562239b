//! Boots every test kernel (`tests/kernel/*.rs`) in QEMU and reports each like libtest.
//!
//! Arguments: names (or parts of names) of the test kernels to run; options meant for libtest
//! (`--nocapture` and the like, which `cargo test -- ARGS` passes to every test binary) are
//! accepted and have no effect.

use boot::build::{self, KernelProfile};
use boot::image::Firmware;
use boot::ktest;
use boot::qemu::{MachineConfig, Outcome};
use std::process::ExitCode;
use std::time::Duration;

/// The test kernel that is also booted with UEFI firmware.
const UEFI_SMOKE_TEST: &str = "memory";
/// Memory of a test machine: enough for every test, small enough to boot fast.
const TEST_MEMORY_MIB: u64 = 512;
/// Generous: a test kernel takes seconds, but CI machines can be slow and loaded. The
/// environment variable `KERNEL_TEST_TIMEOUT` (seconds) overrides it.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn timeout() -> Result<Duration, String> {
    match std::env::var("KERNEL_TEST_TIMEOUT") {
        Err(_) => Ok(TEST_TIMEOUT),
        Ok(text) => match text.parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
            _ => Err(format!("KERNEL_TEST_TIMEOUT must be a positive number of seconds, not `{text}`")),
        },
    }
}

fn main() -> ExitCode {
    let timeout = match timeout() {
        Ok(timeout) => timeout,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let kernels = match build::build_test_kernels(KernelProfile::Checked) {
        Ok(kernels) => kernels,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let selected: Vec<_> = kernels
        .iter()
        .filter(|k| filters.is_empty() || filters.iter().any(|f| k.name.contains(f.as_str())))
        .collect();
    let machine = MachineConfig {
        memory_mib: TEST_MEMORY_MIB,
        timeout: Some(timeout),
        ..MachineConfig::default()
    };
    let uefi = MachineConfig { firmware: Firmware::Uefi, ..machine.clone() };
    // Every test kernel boots with BIOS; the boot smoke test also boots with UEFI.
    let runs = selected.iter().map(|k| (*k, &machine)).chain(
        selected.iter().filter(|k| k.name == UEFI_SMOKE_TEST).map(|k| (*k, &uefi)),
    );
    let mut failed = Vec::new();
    let mut total = 0;
    for (kernel, machine) in runs {
        total += 1;
        let firmware = if machine.firmware == Firmware::Uefi { "UEFI" } else { "BIOS" };
        println!("\n     Running test kernel {} with {firmware} ({})", kernel.name, kernel.path.display());
        match ktest::run(kernel, machine) {
            Ok(verdict) => {
                if verdict.outcome != Outcome::Success {
                    println!("error: {}", verdict.outcome);
                } else if !verdict.passed() {
                    println!("error: not every announced test reported ok");
                }
                if !verdict.passed() {
                    failed.push(format!("{} ({firmware})", kernel.name));
                }
                println!("\n{verdict}");
            }
            Err(error) => {
                println!("error: {error}");
                failed.push(format!("{} ({firmware})", kernel.name));
            }
        }
    }
    println!("\n{} passed, {} failed", total - failed.len(), failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failed test kernels: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
