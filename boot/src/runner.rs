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
        let profile = KernelProfile::for_this_build();
        let programs = build::build_user_programs(profile)?;
        let kernel = build::build_kernel(profile)?;
        Ok(Self { kernel, programs })
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
            eprintln!(
                "QEMU waits for a debugger: gdb {} -ex 'target remote localhost:{GDB_PORT}'",
                self.kernel.path.display()
            );
        }
        Ok(qemu::run(command, config.timeout, |line| {
            println!("{line}");
            observe(line);
        })?)
    }
}

/// Builds everything and boots the kernel with `config.init` (or the program `default_init`)
/// as init, echoing the console and handing each line to `observe`.
///
/// # Errors
///
/// If a build, the ramdisk, the disk image or starting QEMU fails.
pub fn boot_kernel(config: &MachineConfig, default_init: &str, observe: impl FnMut(&str)) -> Result<Outcome, Box<dyn Error>> {
    let build = Build::new()?;
    let image = build.image(config, default_init)?;
    build.boot(&image, config, observe)
}
