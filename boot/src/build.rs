//! Building kernel ELF files with a nested `cargo` for the `x86_64-unknown-none` target.
//!
//! Kernel builds use their own target directory (`target/kernel`), so that they never wait for
//! the lock of the `cargo run` or `cargo test` that started them.

use crate::workspace_root;
use serde_json::Value;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The kernel target triple.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Cargo profile used for kernel images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelProfile {
    /// Optimised, with debug assertions and overflow checks (`cargo run`, tests).
    Checked,
    /// Optimised, without assertions (`cargo run --release`, benchmarks).
    Release,
    /// [`Checked`](Self::Checked) with full debug information (`--gdb`).
    CheckedDebugInfo,
    /// [`Release`](Self::Release) with full debug information (`--release -- --gdb`).
    ReleaseDebugInfo,
}

impl KernelProfile {
    /// The profile matching how the runner itself was built.
    pub fn for_this_build() -> Self {
        if cfg!(debug_assertions) {
            Self::Checked
        } else {
            Self::Release
        }
    }

    /// The same code with full debug information.
    pub fn with_debug_info(self) -> Self {
        match self {
            Self::Checked | Self::CheckedDebugInfo => Self::CheckedDebugInfo,
            Self::Release | Self::ReleaseDebugInfo => Self::ReleaseDebugInfo,
        }
    }

    /// The same code without debug information.
    pub fn without_debug_info(self) -> Self {
        match self {
            Self::Checked | Self::CheckedDebugInfo => Self::Checked,
            Self::Release | Self::ReleaseDebugInfo => Self::Release,
        }
    }

    fn cargo_name(self) -> &'static str {
        match self {
            Self::Checked => "kernel",
            Self::Release => "kernel-release",
            Self::CheckedDebugInfo => "kernel-debug",
            Self::ReleaseDebugInfo => "kernel-release-debug",
        }
    }
}

/// A kernel build that did not produce what was asked for.
#[derive(Debug)]
pub enum BuildError {
    /// `cargo` could not be started.
    Spawn(std::io::Error),
    /// `cargo` ran and failed (its diagnostics were already printed).
    Failed,
    /// `cargo` succeeded but reported no executable of that name.
    Missing(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn(e) => write!(f, "cannot run cargo to build the kernel or user programs: {e}"),
            Self::Failed => write!(f, "building the kernel or user programs failed (see the errors above)"),
            Self::Missing(name) => write!(f, "cargo built no executable named `{name}`"),
        }
    }
}

impl std::error::Error for BuildError {}

/// A kernel ELF file produced by a build.
#[derive(Debug, Clone)]
pub struct KernelElf {
    /// Target name (`kernel` for the main kernel, the file name for a test kernel).
    pub name: String,
    /// Path of the ELF file.
    pub path: PathBuf,
}

/// The directory that holds kernel builds.
pub fn kernel_target_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    base.join("kernel")
}

/// The directory that holds user-program builds (and the ramdisks made of them).
pub fn user_target_dir() -> PathBuf {
    kernel_target_dir().with_file_name("user")
}

fn cargo(subcommand: &str, profile: KernelProfile) -> Command {
    cargo_for("kernel", kernel_target_dir(), subcommand, profile)
}

fn cargo_for(package: &str, target_dir: PathBuf, subcommand: &str, profile: KernelProfile) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args([subcommand, "--package", package, "--target", KERNEL_TARGET])
        .args(["--profile", profile.cargo_name()])
        .arg("--target-dir")
        .arg(target_dir)
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped());
    command
}

/// Builds every user program (the binaries of `user/programs`), linked at fixed addresses
/// (static relocation model: `ET_EXEC` files the kernel's loader takes as they are).
pub fn build_user_programs(profile: KernelProfile) -> Result<Vec<KernelElf>, BuildError> {
    let mut command = cargo_for("machvm-programs", user_target_dir(), "build", profile);
    command.args(["--bins"]).env("CARGO_ENCODED_RUSTFLAGS", "-Crelocation-model=static");
    let mut programs = run(command, false)?;
    programs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(programs)
}

/// Builds the main kernel binary.
pub fn build_kernel(profile: KernelProfile) -> Result<KernelElf, BuildError> {
    let mut command = cargo("build", profile);
    command.args(["--bin", "kernel"]);
    run(command, false)?
        .into_iter()
        .find(|elf| elf.name == "kernel")
        .ok_or_else(|| BuildError::Missing("kernel".into()))
}

/// Builds the second, minimal kernel (`tests/mini`, package `mini-kernel`): a kernel of its
/// own on the two library crates' public API.
pub fn build_mini_kernel(profile: KernelProfile) -> Result<KernelElf, BuildError> {
    let mut command = cargo_for("mini-kernel", kernel_target_dir(), "build", profile);
    command.args(["--bin", "mini-kernel"]);
    run(command, false)?
        .into_iter()
        .find(|elf| elf.name == "mini-kernel")
        .ok_or_else(|| BuildError::Missing("mini-kernel".into()))
}

/// Builds every test kernel (the `[[test]]` targets of the kernel package).
pub fn build_test_kernels(profile: KernelProfile) -> Result<Vec<KernelElf>, BuildError> {
    let mut command = cargo("test", profile);
    command.args(["--tests", "--no-run"]);
    let mut kernels = run(command, true)?;
    kernels.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(kernels)
}

/// Runs `command` and collects the executables cargo reports, keeping test targets only when
/// `tests` is set.
fn run(mut command: Command, tests: bool) -> Result<Vec<KernelElf>, BuildError> {
    let mut child = command.spawn().map_err(BuildError::Spawn)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut elves = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(BuildError::Spawn)?;
        if let Some(elf) = executable(&line, tests) {
            elves.push(elf);
        }
    }
    let status = child.wait().map_err(BuildError::Spawn)?;
    if status.success() {
        Ok(elves)
    } else {
        Err(BuildError::Failed)
    }
}

/// The executable a `compiler-artifact` message announces, if it is of the wanted kind.
fn executable(message: &str, tests: bool) -> Option<KernelElf> {
    let value: Value = serde_json::from_str(message).ok()?;
    if value["reason"] != "compiler-artifact" || value["profile"]["test"] != Value::Bool(tests) {
        return None;
    }
    let path = Path::new(value["executable"].as_str()?).to_path_buf();
    let name = value["target"]["name"].as_str()?.to_string();
    Some(KernelElf { name, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_ARTIFACT: &str = r#"{"reason":"compiler-artifact","target":{"name":"memory","kind":["test"]},"profile":{"test":true},"executable":"/t/memory-1234"}"#;

    #[test]
    fn test_artifacts_are_recognised() {
        let elf = executable(TEST_ARTIFACT, true).expect("a test executable");
        assert_eq!(elf.name, "memory");
        assert_eq!(elf.path, PathBuf::from("/t/memory-1234"));
        assert!(executable(TEST_ARTIFACT, false).is_none());
    }

    #[test]
    fn other_messages_are_ignored() {
        assert!(executable(r#"{"reason":"build-finished","success":true}"#, true).is_none());
        assert!(executable("not json", true).is_none());
        let library = r#"{"reason":"compiler-artifact","target":{"name":"kernel"},"profile":{"test":false},"executable":null}"#;
        assert!(executable(library, false).is_none());
    }
}
