//! One benchmark sitting (`cargo run --release -- bench [--with-linux]`): the suite on the
//! machine asked for, the scaling series in a 2 GiB guest, the multiprocessor series on the
//! machine asked for with 2 CPUs, and with `--with-linux` Linux doing the same work on the
//! same machines after each; then the CSV and the chart. Everything is built, and every disk
//! image made, before the first boot.

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
/// The multiprocessor series' program.
pub const SMP_INIT: &str = "bench_smp";
/// CPUs of the multiprocessor series (both sides): the machine the project is measured on
/// has two cores.
pub const SMP_CPUS: u32 = 2;

/// The machine of the multiprocessor series: `config` with [`SMP_CPUS`] CPUs.
pub fn smp_machine(config: &MachineConfig) -> MachineConfig {
    MachineConfig { cpus: SMP_CPUS, ..config.clone() }
}

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
    let smp = smp_machine(config);
    let build = Build::new()?;
    let images = (build.image(config, SUITE_INIT)?, build.image(&scale, SCALE_INIT)?, build.image(&smp, SMP_INIT)?);
    let (mut machvm, mut linux_side) = (Side::default(), Side::default());
    boot_machvm(&build, &images.0, config, SUITE_INIT, &mut machvm)?;
    if let Some(guest) = &guest {
        boot_linux(guest, Mode::Suite, config, &mut linux_side)?;
    }
    boot_machvm(&build, &images.1, &scale, SCALE_INIT, &mut machvm)?;
    if let Some(guest) = &guest {
        boot_linux(guest, Mode::Scale, &scale, &mut linux_side)?;
    }
    boot_machvm(&build, &images.2, &smp, SMP_INIT, &mut machvm)?;
    if let Some(guest) = &guest {
        boot_linux(guest, Mode::Smp, &smp, &mut linux_side)?;
    }
    let linux = if guest.is_some() { Linux::Sitting(linux_side) } else { Linux::Reference };
    let dir = crate::workspace_root().join("boot").join("bench");
    write(&dir, &Results { machvm, linux })?;
    println!("figures written to {}", dir.display());
    Ok(Outcome::Success)
}

fn boot_machvm(build: &Build, image: &Path, config: &MachineConfig, init: &str, side: &mut Side) -> Result<(), Box<dyn Error>> {
    println!("== machvm: {init} ({} MiB, {} CPU{})", config.memory_mib, config.cpus, if config.cpus == 1 { "" } else { "s" });
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
    println!("== Linux: {} ({} MiB, {} CPU{})", mode.word(), config.memory_mib, config.cpus, if config.cpus == 1 { "" } else { "s" });
    linux::boot(guest, mode, config, |line| side.observe(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multiprocessor_series_runs_on_two_cpus_of_the_same_machine() {
        let config = MachineConfig { memory_mib: 1024, ..MachineConfig::default() };
        let smp = smp_machine(&config);
        assert_eq!((smp.cpus, smp.memory_mib, smp.timeout), (2, 1024, config.timeout));
        assert_eq!(smp_machine(&MachineConfig { cpus: 8, ..config }).cpus, 2, "always two, as on the measuring machine");
    }
}
