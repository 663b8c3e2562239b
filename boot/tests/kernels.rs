//! Boots every test kernel (`tests/kernel/*.rs`) in QEMU, then the kernel with each user test
//! program (`user/programs`, the `test_*` binaries) as init, each one a test of this harness
//! (`libtest-mimic`): `kernel/NAME` (and `kernel/memory/uefi`, the boot smoke test with UEFI
//! firmware) and `user/NAME`. Inside each, the kernel's own tests report like libtest.
//!
//! The arguments are libtest's: filters (parts of names, or whole names with `--exact`),
//! `--skip`, `--list`, `--ignored`, `--test-threads N` (default 1 here: each test is a QEMU
//! machine of its own, and the host has few cores). Nothing is built for `--list`, or when
//! the filters leave nothing to run.

use boot::build::{self, KernelElf, KernelProfile};
use boot::image::Firmware;
use boot::ktest;
use boot::qemu::{MachineConfig, Outcome};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
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
struct Built {
    kernels: Vec<KernelElf>,
    programs: Vec<KernelElf>,
    main_kernel: KernelElf,
}

/// Builds everything once, for the first test that runs.
fn built() -> Result<&'static Built, Failed> {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let kernels = build::build_test_kernels(KernelProfile::Checked).map_err(|e| e.to_string())?;
        let programs = build::build_user_programs(KernelProfile::Checked).map_err(|e| e.to_string())?;
        let main_kernel = build::build_kernel(KernelProfile::Checked).map_err(|e| e.to_string())?;
        Ok(Built { kernels, programs, main_kernel })
    });
    built.as_ref().map_err(|e| Failed::from(format!("build failed: {e}")))
}

/// File stems of the `.rs` files in `dir` that start with `prefix`, sorted.
fn stems(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_str()?.to_string();
            (path.extension()? == "rs" && stem.starts_with(prefix)).then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// The verdict of one boot as a test result; the kernel's own report is printed either way.
fn judge(verdict: Result<ktest::Verdict, String>) -> Result<(), Failed> {
    let verdict = verdict.map_err(Failed::from)?;
    println!("\n{verdict}");
    if verdict.outcome != Outcome::Success {
        return Err(format!("{}", verdict.outcome).into());
    }
    if !verdict.passed() {
        let failed = &verdict.report.failed;
        return Err(format!("not every announced test reported ok (failed: {})", failed.join(", ")).into());
    }
    Ok(())
}

fn kernel_trial(name: String, machine: MachineConfig) -> Trial {
    let uefi = machine.firmware == Firmware::Uefi;
    let title = if uefi { format!("kernel/{name}/uefi") } else { format!("kernel/{name}") };
    Trial::test(title, move || {
        let built = built()?;
        let kernel = built.kernels.iter().find(|k| k.name == name).ok_or_else(|| format!("no test kernel `{name}` was built"))?;
        println!("\n     Running test kernel {name} with {} ({})", if uefi { "UEFI" } else { "BIOS" }, kernel.path.display());
        judge(ktest::run(kernel, None, &machine).map_err(|e| e.to_string()))
    })
}

fn user_trial(name: String, base: &MachineConfig) -> Trial {
    let machine = ktest::user_test_machine(&name, base);
    Trial::test(format!("user/{name}"), move || {
        let built = built()?;
        let program = built.programs.iter().find(|p| p.name == name).ok_or_else(|| format!("no user program `{name}` was built"))?;
        let cpus = if machine.cpus > 1 { format!(" and {} CPUs", machine.cpus) } else { String::new() };
        println!("\n     Running user test {name} with {} MiB{cpus} ({})", machine.memory_mib, program.path.display());
        let verdict = boot::ramdisk::make(&program.path, &built.programs)
            .map_err(|e| e.to_string())
            .and_then(|ramdisk| ktest::run(&built.main_kernel, Some(&ramdisk), &machine).map_err(|e| e.to_string()));
        judge(verdict)
    })
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = args.test_threads.or(Some(1));
    let timeout = match timeout() {
        Ok(timeout) => timeout,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let machine = MachineConfig { memory_mib: TEST_MEMORY_MIB, timeout: Some(timeout), ..MachineConfig::default() };
    let uefi = MachineConfig { firmware: Firmware::Uefi, ..machine.clone() };
    let kernels = stems(&root.join("tests/kernel"), "");
    let mut trials: Vec<Trial> = kernels.iter().map(|name| kernel_trial(name.clone(), machine.clone())).collect();
    trials.extend(kernels.iter().filter(|name| *name == UEFI_SMOKE_TEST).map(|name| kernel_trial(name.clone(), uefi.clone())));
    trials.extend(stems(&root.join("user/programs/src/bin"), "test_").into_iter().map(|name| user_trial(name, &machine)));
    libtest_mimic::run(&args, trials).exit_code()
}
