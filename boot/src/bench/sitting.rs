//! One benchmark sitting (`cargo run --release -- bench [--with-linux]`): the suite on the
//! machine asked for, the scaling series in a 2 GiB guest, and with `--with-linux` Linux doing
//! the same work on the same machines between them; then the CSV and the chart. Everything is
//! built, and every disk image made, before the first boot.

use super::{write, Linux, Results, Side};
use crate::build::KernelProfile;
use crate::cli::LinuxFigures;
use crate::linux::{self, Guest, Mode};
use crate::qemu::{MachineConfig, Outcome};
use crate::runner::Build;
use std::error::Error;
use std::path::Path;

/// The suite's program.
pub const SUITE_INIT: &str = "bench";
/// The scaling series' program.
pub const SCALE_INIT: &str = "bench_scale";
/// Guest memory of the scaling series (both sides).
pub const SCALE_MEMORY_MIB: u64 = 2048;

/// Runs the sitting and writes `boot/bench/latest.{csv,svg}`.
///
/// # Errors
///
/// If Linux cannot be prepared or a build fails (both before anything boots), a boot fails
/// or a program does not finish, or the figures cannot be written.
pub fn run(config: &MachineConfig, linux: LinuxFigures) -> Result<Outcome, Box<dyn Error>> {
    if KernelProfile::for_this_build() != KernelProfile::Release {
        eprintln!("warning: benchmarking a kernel with debug assertions; use `cargo run --release -- bench`");
    }
    let guest = match linux {
        LinuxFigures::Measured => Some(linux::prepare()?),
        LinuxFigures::Reference => None,
    };
    let scale = MachineConfig { memory_mib: SCALE_MEMORY_MIB, ..config.clone() };
    let build = Build::new()?;
    let images = (build.image(config, SUITE_INIT)?, build.image(&scale, SCALE_INIT)?);
    let (mut machvm, mut linux_side) = (Side::default(), Side::default());
    boot_machvm(&build, &images.0, config, SUITE_INIT, &mut machvm)?;
    if let Some(guest) = &guest {
        boot_linux(guest, Mode::Suite, config, &mut linux_side)?;
    }
    boot_machvm(&build, &images.1, &scale, SCALE_INIT, &mut machvm)?;
    if let Some(guest) = &guest {
        boot_linux(guest, Mode::Scale, &scale, &mut linux_side)?;
    }
    let linux = if guest.is_some() { Linux::Sitting(linux_side) } else { Linux::Reference };
    let dir = crate::workspace_root().join("boot").join("bench");
    write(&dir, &Results { machvm, linux })?;
    println!("figures written to {}", dir.display());
    Ok(Outcome::Success)
}

fn boot_machvm(build: &Build, image: &Path, config: &MachineConfig, init: &str, side: &mut Side) -> Result<(), Box<dyn Error>> {
    println!("== machvm: {init} ({} MiB)", config.memory_mib);
    let mut done = false;
    let outcome = build.boot(image, config, |line| {
        done |= line == "done";
        side.observe(line);
    })?;
    if outcome != Outcome::Success || !done {
        return Err(format!("`{init}` did not finish ({outcome})").into());
    }
    Ok(())
}

fn boot_linux(guest: &Guest, mode: Mode, config: &MachineConfig, side: &mut Side) -> Result<(), Box<dyn Error>> {
    println!("== Linux: {} ({} MiB)", mode.word(), config.memory_mib);
    linux::boot(guest, mode, config, |line| side.observe(line))
}
