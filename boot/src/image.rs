//! Bootable disk images made with the `bootloader` crate.

use bootloader::{BiosBoot, BootConfig, UefiBoot};
use bootloader_boot_config::LevelFilter;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which firmware the image boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// Legacy BIOS (SeaBIOS in QEMU): an MBR disk image.
    Bios,
    /// UEFI (OVMF in QEMU): a GPT disk image.
    Uefi,
}

/// A disk image that could not be made.
#[derive(Debug)]
pub struct ImageError {
    kernel: PathBuf,
    cause: String,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot make a disk image of {}: {}", self.kernel.display(), self.cause)
    }
}

impl std::error::Error for ImageError {}

/// The bootloader's own settings: no frame-buffer console (slow under emulation), and only
/// its warnings on the serial line, so that the kernel's output stands alone.
fn boot_config() -> BootConfig {
    let mut config = BootConfig::default();
    config.frame_buffer_logging = false;
    config.serial_logging = true;
    config.log_level = LevelFilter::Warn;
    config
}

/// Makes (or reuses, if newer than the kernel and the ramdisk) the disk image of `kernel`
/// with `ramdisk` for `firmware`, written next to the kernel ELF file (named after both).
pub fn disk_image(kernel: &Path, ramdisk: Option<&Path>, firmware: Firmware) -> Result<PathBuf, ImageError> {
    let suffix = match firmware {
        Firmware::Bios => "bios.img",
        Firmware::Uefi => "uefi.img",
    };
    let stem = ramdisk.and_then(Path::file_stem).map(|s| format!("{}.", s.to_string_lossy())).unwrap_or_default();
    let image = kernel.with_extension(format!("{stem}{suffix}"));
    if is_newer(&image, kernel) && ramdisk.is_none_or(|r| is_newer(&image, r)) {
        return Ok(image);
    }
    let config = boot_config();
    let result = match firmware {
        Firmware::Bios => {
            let mut boot = BiosBoot::new(kernel);
            ramdisk.map(|r| boot.set_ramdisk(r));
            boot.set_boot_config(&config).create_disk_image(&image)
        }
        Firmware::Uefi => {
            let mut boot = UefiBoot::new(kernel);
            ramdisk.map(|r| boot.set_ramdisk(r));
            boot.set_boot_config(&config).create_disk_image(&image)
        }
    };
    result.map_err(|e| ImageError { kernel: kernel.to_path_buf(), cause: format!("{e:#}") })?;
    Ok(image)
}

fn is_newer(path: &Path, than: &Path) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    matches!((modified(path), modified(than)), (Some(a), Some(b)) if a > b)
}
