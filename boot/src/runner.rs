//! Booting the kernel with a user program as init: the whole `cargo run` path (user programs,
//! ramdisk, kernel, disk image, QEMU).

use crate::build::{self, KernelElf, KernelProfile};
use crate::qemu::{self, MachineConfig, Outcome, GDB_PORT};
use crate::{image, ramdisk};
use std::error::Error;
use std::path::PathBuf;

/// The kernel and the user programs, built once (a benchmark sitting boots several programs
/// from one build, whatever changes in the tree meanwhile).
#[derive(Debug, Clone)]
pub struct Build {
    kernel: KernelElf,
    programs: Vec<KernelElf>,
}

impl Build {
    /// Builds the user programs and the kernel for the runner's own profile.
    ///
    /// # Errors
    ///
    /// If a build fails.
    pub fn new() -> Result<Self, build::BuildError> {
        Self::with_debug_info(false)
    }

    /// As [`new`](Self::new), the kernel with full debug information if `debug_info` (for a
    /// debugger: `--gdb`).
    ///
    /// # Errors
    ///
    /// If a build fails.
    pub fn with_debug_info(debug_info: bool) -> Result<Self, build::BuildError> {
        let profile = KernelProfile::for_this_build();
        let programs = build::build_user_programs(profile)?;
        let kernel = build::build_kernel(if debug_info { profile.with_debug_info() } else { profile })?;
        Ok(Self { kernel, programs })
    }

    /// The kernel ELF file.
    pub fn kernel(&self) -> &std::path::Path {
        &self.kernel.path
    }

    /// The disk image whose init is `config.init`, or the program named `default_init`.
    ///
    /// # Errors
    ///
    /// If no such program was built, or the ramdisk or the image cannot be made.
    pub fn image(&self, config: &MachineConfig, default_init: &str) -> Result<PathBuf, Box<dyn Error>> {
        let init = match &config.init {
            Some(path) => path.clone(),
            None => self.programs.iter().find(|p| p.name == default_init).ok_or("the init program was not built")?.path.clone(),
        };
        let ramdisk = ramdisk::make(&init, &self.programs)?;
        Ok(image::disk_image(&self.kernel.path, Some(&ramdisk), config.firmware)?)
    }

    /// Boots `image` (made by [`Build::image`]) on `config`'s machine, echoing the console and
    /// handing each line to `observe`.
    ///
    /// # Errors
    ///
    /// If QEMU cannot be started.
    pub fn boot(&self, image: &std::path::Path, config: &MachineConfig, mut observe: impl FnMut(&str)) -> Result<Outcome, Box<dyn Error>> {
        let command = qemu::command(image, config)?;
        if config.gdb {
            let script = write_gdb_script(&self.kernel.path)?;
            eprintln!("QEMU waits for a debugger on localhost:{GDB_PORT}. In another terminal:");
            eprintln!("    gdb -x {}", script.display());
            eprintln!("(the kernel's symbols at its load address; then e.g. `break kernel::vm_system::init`, `continue`, `bt`, `list`)");
        }
        Ok(qemu::run(command, config.timeout, |line| {
            println!("{line}");
            observe(line);
        })?)
    }
}

/// Writes the gdb script for `kernel` next to it (`gdbinit`): the kernel's symbols at the
/// address the boot loader loads it at, and a connection to QEMU's stub. Returns its path.
///
/// # Errors
///
/// If the file cannot be written.
pub fn write_gdb_script(kernel: &std::path::Path) -> std::io::Result<PathBuf> {
    let kernel = std::fs::canonicalize(kernel)?;
    let script = kernel.with_file_name("gdbinit");
    let text = format!(
        "# Written by `cargo run -- --gdb`: the kernel (a position-independent file linked at 0)\n\
         # runs at {base:#x}, so its symbols are loaded there.\n\
         set architecture i386:x86-64\n\
         symbol-file -o {base:#x} {path}\n\
         target remote localhost:{GDB_PORT}\n",
        base = machvm_abi::layout::KERNEL_BASE,
        path = kernel.display(),
    );
    std::fs::write(&script, text)?;
    Ok(script)
}

/// Builds everything and boots the kernel with `config.init` (or the program `default_init`)
/// as init, echoing the console and handing each line to `observe`.
///
/// # Errors
///
/// If a build, the ramdisk, the disk image or starting QEMU fails.
pub fn boot_kernel(config: &MachineConfig, default_init: &str, observe: impl FnMut(&str)) -> Result<Outcome, Box<dyn Error>> {
    let build = Build::with_debug_info(config.gdb)?;
    let image = build.image(config, default_init)?;
    build.boot(&image, config, observe)
}
