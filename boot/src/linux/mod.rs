//! The Linux side of `cargo run --release -- bench --with-linux`: Debian's Linux kernel
//! (fetched once into `target/linux/`), booted in the same QEMU settings as the project's
//! kernel with the project's C program (`boot/linux/*.c`) as PID 1 in an initramfs written
//! here, doing the same work as the `bench`, `bench_scale` and `bench_smp` programs and
//! printing the same names.

mod cpio;
mod fetch;
mod tar;
mod tools;

use crate::qemu::{self, MachineConfig, Outcome};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `vm.max_map_count` of the guest: room for the scaling series' million regions (and a
/// fork of a hundred thousand), with margin.
pub const MAX_MAP_COUNT: u64 = 2_097_152;

/// A step of preparing or running Linux that failed; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxError(pub String);

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LinuxError {}

/// A Linux guest ready to boot.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The kernel image (`vmlinuz`).
    pub kernel: PathBuf,
    /// The initramfs holding the benchmark program as `/init`.
    pub initramfs: PathBuf,
}

/// What the guest's program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The operations of `bench`.
    Suite,
    /// The scaling series of `bench_scale`.
    Scale,
    /// The multiprocessor series of `bench_smp`.
    Smp,
}

impl Mode {
    /// The word the program reads from its arguments.
    pub fn word(self) -> &'static str {
        match self {
            Self::Suite => "suite",
            Self::Scale => "scale",
            Self::Smp => "smp",
        }
    }
}

/// The directory of the kernel package, the program and the initramfs.
pub fn cache_dir() -> PathBuf {
    crate::build::kernel_target_dir().with_file_name("linux")
}

/// Checks the tools, builds the program, writes the initramfs and fetches the kernel (once).
///
/// # Errors
///
/// The first step that fails; a missing tool is reported before anything else is done.
pub fn prepare() -> Result<Guest, LinuxError> {
    tools::check()?;
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).map_err(|e| LinuxError(format!("cannot create {}: {e}", cache.display())))?;
    let program = compile(&cache)?;
    let init = std::fs::read(&program).map_err(|e| LinuxError(format!("cannot read {}: {e}", program.display())))?;
    let archive = cpio::initramfs(&init).map_err(|e| LinuxError(format!("cannot make the initramfs: {e}")))?;
    let initramfs = cache.join("initramfs.cpio");
    std::fs::write(&initramfs, archive).map_err(|e| LinuxError(format!("cannot write {}: {e}", initramfs.display())))?;
    let kernel = fetch::kernel(&cache)?;
    Ok(Guest { kernel, initramfs })
}

/// Builds `boot/linux/*.c` into a static executable in `cache` (with POSIX threads: the
/// multiprocessor series runs two).
fn compile(cache: &Path) -> Result<PathBuf, LinuxError> {
    let dir = crate::workspace_root().join("boot").join("linux");
    let entries = std::fs::read_dir(&dir).map_err(|e| LinuxError(format!("cannot read {}: {e}", dir.display())))?;
    let mut sources: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "c")).collect();
    sources.sort();
    let program = cache.join("vmbench");
    let status = Command::new("gcc").args(["-static", "-pthread", "-O2", "-Wall", "-o"]).arg(&program).args(&sources).status();
    match status {
        Ok(status) if status.success() => Ok(program),
        Ok(_) => Err(LinuxError(format!(
            "gcc could not build {}/*.c (a static build needs the C library's static files: libc6-dev)",
            dir.display()
        ))),
        Err(e) => Err(LinuxError(format!("cannot run gcc: {e}"))),
    }
}

/// The kernel command line: the serial console, a quiet boot, no hang on a panic, the map
/// count, then the program's argument.
pub fn command_line(mode: Mode) -> String {
    format!("console=ttyS0 quiet panic=-1 sysctl.vm.max_map_count={MAX_MAP_COUNT} -- {}", mode.word())
}

/// Boots `guest` in `mode` on the machine `config` describes, echoing the console and handing
/// each line to `observe`.
///
/// # Errors
///
/// If QEMU cannot start, or the program does not print `done` before the machine stops.
pub fn boot(guest: &Guest, mode: Mode, config: &MachineConfig, mut observe: impl FnMut(&str)) -> Result<(), Box<dyn std::error::Error>> {
    let command = qemu::linux_command(&guest.kernel, &guest.initramfs, &command_line(mode), config)?;
    let mut done = false;
    let outcome = qemu::run(command, config.timeout, |line| {
        println!("{line}");
        done |= line == "done";
        observe(line);
    })?;
    // The program powers the machine off, which QEMU reports as a stop without a status.
    match outcome {
        Outcome::Reset if done => Ok(()),
        Outcome::Reset => Err(LinuxError(format!("Linux ({}) stopped before its program printed `done`", mode.word())).into()),
        other => Err(LinuxError(format!("Linux ({}): {other}", mode.word())).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_raises_the_map_count_and_names_the_mode() {
        let line = command_line(Mode::Scale);
        assert!(line.starts_with("console=ttyS0 "));
        assert!(line.contains(" sysctl.vm.max_map_count=2097152 "));
        assert!(line.ends_with(" -- scale"));
        assert!(command_line(Mode::Suite).ends_with(" -- suite"));
        assert!(command_line(Mode::Smp).ends_with(" -- smp"));
        assert!(MAX_MAP_COUNT > 1_000_000 + 100_000);
    }

    #[test]
    fn the_cache_lies_under_the_target_directory() {
        let cache = cache_dir();
        assert_eq!(cache.file_name().and_then(|n| n.to_str()), Some("linux"));
        assert_eq!(cache.parent(), crate::build::kernel_target_dir().parent());
    }
}
