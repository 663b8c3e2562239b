//! Ramdisks of user programs (the format of `machvm_abi::ramdisk`): the init program first,
//! then every other program, so that init can start them by name.

use crate::build::{user_target_dir, KernelElf};
use machvm_abi::ramdisk::{self, Program};
use std::io;
use std::path::{Path, PathBuf};

/// Writes a ramdisk whose init is `init` (named after its file) followed by `others` (minus
/// `init` itself), into the user target directory; returns its path.
///
/// # Errors
///
/// If a program cannot be read or the ramdisk cannot be written.
pub fn make(init: &Path, others: &[KernelElf]) -> io::Result<PathBuf> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let init_name = name(init);
    let mut images = vec![(init_name.clone(), std::fs::read(init)?)];
    for program in others.iter().filter(|p| p.path != init) {
        images.push((program.name.clone(), std::fs::read(&program.path)?));
    }
    let programs: Vec<Program<'_>> = images.iter().map(|(n, i)| Program { name: n, image: i }).collect();
    let mut bytes = Vec::new();
    ramdisk::write(&programs, |b| bytes.extend_from_slice(b));
    let path = user_target_dir().join(format!("ramdisk-{}.img", sanitized(&init_name)));
    std::fs::create_dir_all(user_target_dir())?;
    if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
        std::fs::write(&path, bytes)?;
    }
    Ok(path)
}

/// `name` with every character that is not alphanumeric, `-` or `_` replaced.
fn sanitized(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
