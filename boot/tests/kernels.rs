//! Boots every test kernel (`tests/kernel/*.rs`) in QEMU, then the kernel with each user test
//! program (`user/programs`, the `test_*` binaries) as init, each one a test of this harness
//! (`libtest-mimic`): `kernel/NAME` (and `kernel/memory/uefi`, the boot smoke test with UEFI
//! firmware) and `user/NAME`. Inside each, the kernel's own tests report like libtest. Two
//! more test the runner's options on the real kernel: `runner/log_filter` (`--log`) and
//! `runner/gdb` (`--gdb`, driving gdb in batch mode); `mini/user_program` boots the second,
//! minimal kernel (`tests/mini`).
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
    mini_kernel: KernelElf,
}

/// Builds everything once, for the first test that runs.
fn built() -> Result<&'static Built, Failed> {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let kernels = build::build_test_kernels(KernelProfile::Checked).map_err(|e| e.to_string())?;
        let programs = build::build_user_programs(KernelProfile::Checked).map_err(|e| e.to_string())?;
        let main_kernel = build::build_kernel(KernelProfile::Checked).map_err(|e| e.to_string())?;
        let mini_kernel = build::build_mini_kernel(KernelProfile::Checked).map_err(|e| e.to_string())?;
        Ok(Built { kernels, programs, main_kernel, mini_kernel })
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

/// Boots the second, minimal kernel (`tests/mini`): the library crates in a kernel of its own.
fn mini_trial(machine: MachineConfig) -> Trial {
    Trial::test("mini/user_program", move || {
        let built = built()?;
        println!("\n     Running the minimal kernel ({})", built.mini_kernel.path.display());
        judge(ktest::run(&built.mini_kernel, None, &machine).map_err(|e| e.to_string()))
    })
}

/// Boots the default demo with a log spec that silences everything but the fault trace.
fn log_trial(machine: MachineConfig) -> Trial {
    Trial::test("runner/log_filter", move || {
        let build = boot::runner::Build::new().map_err(|e| e.to_string())?;
        let config = MachineConfig { log: Some("off,fault=trace".into()), ..machine };
        let image = build.image(&config, "init").map_err(|e| e.to_string())?;
        let (mut traces, mut others) = (0, Vec::new());
        let outcome = build
            .boot(&image, &config, |line| {
                if line.starts_with("[TRACE] task ") {
                    traces += 1;
                } else if line.starts_with('[') {
                    others.push(line.to_string());
                }
            })
            .map_err(|e| e.to_string())?;
        if outcome != Outcome::Success {
            return Err(format!("{outcome}").into());
        }
        if traces == 0 || !others.is_empty() {
            return Err(format!("{traces} fault traces, and other log lines that `off` should have silenced: {others:?}").into());
        }
        println!("{traces} fault traces, no other log line");
        Ok(())
    })
}

/// Whether a TCP port on this machine is listening (from `/proc/net/tcp`).
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        fields.len() > 3 && fields[1].ends_with(&format!(":{port:04X}")) && fields[3] == "0A"
    })
}

/// Boots the kernel with `--gdb` and drives gdb in batch mode: a breakpoint on a kernel
/// function by name, a backtrace and a source listing, then a kill.
fn gdb_trial(machine: MachineConfig) -> Trial {
    Trial::test("runner/gdb", move || {
        let build = boot::runner::Build::with_debug_info(true).map_err(|e| e.to_string())?;
        let config = MachineConfig { gdb: true, ..machine };
        let image = build.image(&config, "init").map_err(|e| e.to_string())?;
        let script = boot::runner::write_gdb_script(build.kernel()).map_err(|e| e.to_string())?;
        let qemu = {
            let (build, config) = (build.clone(), config.clone());
            std::thread::spawn(move || build.boot(&image, &config, |_| ()).map_err(|e| e.to_string()))
        };
        let start = std::time::Instant::now();
        while !listening(boot::qemu::GDB_PORT) {
            if start.elapsed() > Duration::from_secs(60) || qemu.is_finished() {
                return Err("QEMU's gdb stub never listened".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let gdb = std::process::Command::new("gdb")
            .args(["-q", "-batch", "-x"])
            .arg(&script)
            .args(["-ex", "break kernel::vm_system::init", "-ex", "continue", "-ex", "bt", "-ex", "list", "-ex", "kill"])
            .output()
            .map_err(|e| format!("cannot run gdb (install it: apt-get install gdb): {e}"))?;
        let transcript = String::from_utf8_lossy(&gdb.stdout);
        println!("{transcript}");
        let outcome = qemu.join().map_err(|_| "the QEMU thread panicked")??;
        let wanted = [
            "Breakpoint 1, kernel::vm_system::init () at kernel/src/vm_system.rs:",
            "in kernel::init (",
            "pub fn init() {",
        ];
        if let Some(missing) = wanted.iter().find(|w| !transcript.contains(*w)) {
            return Err(format!("the gdb transcript lacks `{missing}`").into());
        }
        if outcome != Outcome::EndedByDebugger {
            return Err(format!("after gdb's kill the runner says: {outcome}").into());
        }
        Ok(())
    })
}

/// libtest's options that take a value (`--skip NAME`, `--test-threads N`...).
const VALUE_OPTIONS: [&str; 6] = ["--skip", "--test-threads", "--format", "--color", "--logfile", "-Z"];

/// The command line split into libtest's options, which `libtest-mimic` parses, and the
/// name filters, several of which libtest takes (`libtest-mimic` takes one).
fn options_and_filters() -> (Vec<String>, Vec<String>) {
    let mut args = std::env::args();
    let (mut options, mut filters) = (args.next().into_iter().collect::<Vec<_>>(), Vec::new());
    while let Some(arg) = args.next() {
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            options.push(arg);
            options.extend(args.next());
        } else if arg.starts_with('-') {
            options.push(arg);
        } else {
            filters.push(arg);
        }
    }
    (options, filters)
}

fn main() -> ExitCode {
    let (options, filters) = options_and_filters();
    let mut args = Arguments::from_iter(options);
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
    trials.push(mini_trial(machine.clone()));
    trials.push(log_trial(machine.clone()));
    trials.push(gdb_trial(machine.clone()));
    let wanted = |name: &str| filters.iter().any(|f| if args.exact { name == f } else { name.contains(f.as_str()) });
    if !filters.is_empty() {
        trials.retain(|trial| wanted(trial.name()));
    }
    libtest_mimic::run(&args, trials).exit_code()
}
