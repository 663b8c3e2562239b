//! `cargo run`: build the kernel and the user programs, make a disk image, boot it in QEMU
//! (`cargo run -- bench`: the benchmark suite, whose figures are then written out; `cargo run
//! -- fuzz`: the long system-call fuzz campaign).

use boot::bench::{self, Figure};
use boot::build::{self, KernelProfile};
use boot::cli::{self, Request, USAGE};
use boot::image;
use boot::qemu::{self, MachineConfig, Outcome, GDB_PORT};
use std::process::ExitCode;

/// The user program `cargo run` boots as init unless `--init` names another.
const DEFAULT_INIT: &str = "init";
/// The benchmark suite's program.
const BENCH_INIT: &str = "bench";
/// The long fuzz campaign's program.
const FUZZ_INIT: &str = "fuzz_long";

fn main() -> ExitCode {
    let (config, init) = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Request::Run(config)) => (config, DEFAULT_INIT),
        Ok(Request::Bench(config)) => (config, BENCH_INIT),
        Ok(Request::Fuzz(config)) => (config, FUZZ_INIT),
        Ok(Request::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = if init == BENCH_INIT { run_bench(&config) } else { boot_kernel(&config, init, |_| ()) };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(outcome) => {
            eprintln!("error: {outcome}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Boots the kernel with `config.init` (or the program `default_init`) as init, echoing the
/// console and handing each line to `observe`.
fn boot_kernel(config: &MachineConfig, default_init: &str, mut observe: impl FnMut(&str)) -> Result<Outcome, Box<dyn std::error::Error>> {
    let profile = KernelProfile::for_this_build();
    let programs = build::build_user_programs(profile)?;
    let init = match &config.init {
        Some(path) => path.clone(),
        None => programs.iter().find(|p| p.name == default_init).ok_or("the init program was not built")?.path.clone(),
    };
    let ramdisk = boot::ramdisk::make(&init, &programs)?;
    let kernel = build::build_kernel(profile)?;
    let image = image::disk_image(&kernel.path, Some(&ramdisk), config.firmware)?;
    let command = qemu::command(&image, config)?;
    if config.gdb {
        eprintln!(
            "QEMU waits for a debugger: gdb {} -ex 'target remote localhost:{GDB_PORT}'",
            kernel.path.display()
        );
    }
    Ok(qemu::run(command, config.timeout, |line| {
        println!("{line}");
        observe(line);
    })?)
}

/// Boots the benchmark suite, then writes its figures next to the chart the README shows.
fn run_bench(config: &MachineConfig) -> Result<Outcome, Box<dyn std::error::Error>> {
    if KernelProfile::for_this_build() != KernelProfile::Release {
        eprintln!("warning: benchmarking a kernel with debug assertions; use `cargo run --release -- bench`");
    }
    let mut figures: Vec<Figure> = Vec::new();
    let mut done = false;
    let outcome = boot_kernel(config, BENCH_INIT, |line| {
        done |= line == "done";
        figures.extend(bench::parse_line(line));
    })?;
    if outcome != Outcome::Success || !done {
        return Err(format!("the benchmark suite did not finish ({outcome})").into());
    }
    let dir = boot::workspace_root().join("boot").join("bench");
    bench::write(&dir, &figures)?;
    println!("figures written to {}", dir.display());
    Ok(outcome)
}
