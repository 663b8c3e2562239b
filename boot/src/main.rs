//! `cargo run`: build the kernel and the user programs, make a disk image, boot it in QEMU
//! (`cargo run -- bench`: the benchmark suite and the scaling series, whose figures are then
//! written out, optionally next to Linux's from the same sitting; `cargo run -- fuzz`: the
//! long system-call fuzz campaign).

use boot::cli::{self, Request, USAGE};
use boot::qemu::Outcome;
use std::process::ExitCode;

/// The user program `cargo run` boots as init unless `--init` names another.
const DEFAULT_INIT: &str = "init";
/// The long fuzz campaign's program.
const FUZZ_INIT: &str = "fuzz_long";

fn main() -> ExitCode {
    let result = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Request::Run(config)) => boot::runner::boot_kernel(&config, DEFAULT_INIT, |_| ()),
        Ok(Request::Bench(config, linux)) => boot::bench::sitting::run(&config, linux),
        Ok(Request::Fuzz(config)) => boot::runner::boot_kernel(&config, FUZZ_INIT, |_| ()),
        Ok(Request::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\nhint: `cargo run -- --help` lists the commands and options");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::EndedByDebugger) => {
            eprintln!("{}", Outcome::EndedByDebugger);
            ExitCode::SUCCESS
        }
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
