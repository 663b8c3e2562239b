//! `cargo run`: build the kernel, make a disk image, boot it in QEMU.

use boot::build::{self, KernelProfile};
use boot::cli::{self, Request, USAGE};
use boot::qemu::{self, MachineConfig, Outcome, GDB_PORT};
use boot::image;
use std::process::ExitCode;

/// The user program `cargo run` boots as init unless `--init` names another.
const DEFAULT_INIT: &str = "init";

fn main() -> ExitCode {
    let config = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Request::Run(config)) => config,
        Ok(Request::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match boot_kernel(&config) {
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

fn boot_kernel(config: &MachineConfig) -> Result<Outcome, Box<dyn std::error::Error>> {
    let profile = KernelProfile::for_this_build();
    let programs = build::build_user_programs(profile)?;
    let init = match &config.init {
        Some(path) => path.clone(),
        None => programs.iter().find(|p| p.name == DEFAULT_INIT).ok_or("the default init program was not built")?.path.clone(),
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
    Ok(qemu::run(command, config.timeout, |line| println!("{line}"))?)
}
