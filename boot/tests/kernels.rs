//! Boots every test kernel (`tests/kernel/*.rs`) in QEMU, then the kernel with each user test
//! program (`user/programs`, the `test_*` binaries) as init, and reports each like libtest.
//!
//! Arguments: names (or parts of names) of the test kernels to run; options meant for libtest
//! (`--nocapture` and the like, which `cargo test -- ARGS` passes to every test binary) are
//! accepted and have no effect.

use boot::build::{self, KernelElf, KernelProfile};
use boot::image::Firmware;
use boot::ktest;
use boot::qemu::{MachineConfig, Outcome};
use std::process::ExitCode;
use std::time::Duration;

/// The test kernel that is also booted with UEFI firmware.
const UEFI_SMOKE_TEST: &str = "memory";
/// Memory of a test machine: enough for every test, small enough to boot fast (user test
/// programs listed in `boot::ktest::USER_TEST_MEMORY_MIB` get their own, and those in
/// `USER_TEST_CPUS` their own CPU count).
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

/// The test kernels, the user programs and the main kernel, built.
fn build_all() -> Result<(Vec<KernelElf>, Vec<KernelElf>, KernelElf), build::BuildError> {
    let kernels = build::build_test_kernels(KernelProfile::Checked)?;
    let programs = build::build_user_programs(KernelProfile::Checked)?;
    let main_kernel = build::build_kernel(KernelProfile::Checked)?;
    Ok((kernels, programs, main_kernel))
}

/// Prints a run's verdict; returns whether it passed.
fn judge(verdict: Result<ktest::Verdict, String>) -> bool {
    match verdict {
        Ok(verdict) => {
            if verdict.outcome != Outcome::Success {
                println!("error: {}", verdict.outcome);
            } else if !verdict.passed() {
                println!("error: not every announced test reported ok");
            }
            println!("\n{verdict}");
            verdict.passed()
        }
        Err(error) => {
            println!("error: {error}");
            false
        }
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
    let (kernels, programs, main_kernel) = match build_all() {
        Ok(built) => built,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let selected: Vec<_> = kernels.iter().filter(|k| wanted(&k.name)).collect();
    let user_tests: Vec<_> = programs.iter().filter(|p| p.name.starts_with("test_") && wanted(&p.name)).collect();
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
        if !judge(ktest::run(kernel, None, machine).map_err(|e| e.to_string())) {
            failed.push(format!("{} ({firmware})", kernel.name));
        }
    }
    for program in user_tests {
        total += 1;
        let machine = ktest::user_test_machine(&program.name, &machine);
        let cpus = if machine.cpus > 1 { format!(" and {} CPUs", machine.cpus) } else { String::new() };
        println!("\n     Running user test {} with {} MiB{cpus} ({})", program.name, machine.memory_mib, program.path.display());
        let verdict = boot::ramdisk::make(&program.path, &programs)
            .map_err(|e| e.to_string())
            .and_then(|ramdisk| ktest::run(&main_kernel, Some(&ramdisk), &machine).map_err(|e| e.to_string()));
        if !judge(verdict) {
            failed.push(program.name.clone());
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
