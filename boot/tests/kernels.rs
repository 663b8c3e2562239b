//! Boots every test kernel (`tests/kernel/*.rs`) in QEMU and reports each like libtest.
//!
//! Arguments: names (or parts of names) of the test kernels to run; options meant for libtest
//! (`--nocapture` and the like, which `cargo test -- ARGS` passes to every test binary) are
//! accepted and have no effect.

use boot::build::{self, KernelProfile};
use boot::ktest;
use boot::qemu::{MachineConfig, Outcome};
use std::process::ExitCode;
use std::time::Duration;

/// Memory of a test machine: enough for every test, small enough to boot fast.
const TEST_MEMORY_MIB: u64 = 512;
/// Generous: a test kernel takes seconds, but CI machines can be slow and loaded.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
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
        timeout: Some(TEST_TIMEOUT),
        ..MachineConfig::default()
    };
    let mut failed = Vec::new();
    for kernel in &selected {
        println!("\n     Running test kernel {} ({})", kernel.name, kernel.path.display());
        match ktest::run(kernel, &machine) {
            Ok(verdict) => {
                if verdict.outcome != Outcome::Success {
                    println!("error: {}", verdict.outcome);
                } else if !verdict.passed() {
                    println!("error: not every announced test reported ok");
                }
                if !verdict.passed() {
                    failed.push(kernel.name.clone());
                }
                println!("\n{verdict}");
            }
            Err(error) => {
                println!("error: {error}");
                failed.push(kernel.name.clone());
            }
        }
    }
    println!("\n{} passed, {} failed", selected.len() - failed.len(), failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failed test kernels: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
