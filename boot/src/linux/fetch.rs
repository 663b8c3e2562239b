//! Debian's Linux kernel, fetched once: the package `linux-image-amd64` depends on, downloaded
//! with `apt-get download` into the cache, its `boot/vmlinuz-*` taken out of `dpkg-deb
//! --fsys-tarfile`'s stream (`tar`), so nothing else of the package is unpacked.

use super::{tar, LinuxError};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The package whose dependency is the current kernel image.
pub const META_PACKAGE: &str = "linux-image-amd64";

/// The kernel image in `cache`, fetched first if it is not there.
pub fn kernel(cache: &Path) -> Result<PathBuf, LinuxError> {
    let kernel = cache.join("vmlinuz");
    if kernel.is_file() {
        return Ok(kernel);
    }
    let package = image_package()?;
    eprintln!("fetching {package} (the kernel of {META_PACKAGE}) into {}", cache.display());
    let deb = download(&cache.join("debs"), &package)?;
    extract(&deb, &kernel)?;
    Ok(kernel)
}

/// The first dependency of `META_PACKAGE`, after `apt-get update` if apt knows none.
fn image_package() -> Result<String, LinuxError> {
    if let Some(package) = dependency()? {
        return Ok(package);
    }
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    dependency()?.ok_or_else(|| {
        LinuxError(format!("apt-cache names no dependency of {META_PACKAGE} (even after apt-get update): cannot find Debian's kernel package"))
    })
}

fn dependency() -> Result<Option<String>, LinuxError> {
    let output = Command::new("apt-cache")
        .args(["depends", META_PACKAGE])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| LinuxError(format!("cannot run apt-cache: {e}")))?;
    Ok(first_dependency(&String::from_utf8_lossy(&output.stdout)))
}

/// The first real package of an `apt-cache depends` listing (`  Depends: NAME`).
pub fn first_dependency(listing: &str) -> Option<String> {
    listing
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("Depends:").or_else(|| line.strip_prefix("|Depends:")))
        .map(str::trim)
        .filter(|name| !name.is_empty() && !name.starts_with('<') && !name.contains(char::is_whitespace))
        .map(String::from)
}

/// The `.deb` of `package` in `dir`, downloaded unless already there.
fn download(dir: &Path, package: &str) -> Result<PathBuf, LinuxError> {
    std::fs::create_dir_all(dir).map_err(|e| LinuxError(format!("cannot create {}: {e}", dir.display())))?;
    if let Some(deb) = find_deb(dir, package) {
        return Ok(deb);
    }
    let status = Command::new("apt-get").arg("download").arg(package).current_dir(dir).status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => return Err(LinuxError(format!("`apt-get download {package}` failed ({status})"))),
        Err(e) => return Err(LinuxError(format!("cannot run apt-get: {e}"))),
    }
    find_deb(dir, package).ok_or_else(|| LinuxError(format!("apt-get download left no {package}_*.deb in {}", dir.display())))
}

fn find_deb(dir: &Path, package: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_");
    let entries = std::fs::read_dir(dir).ok()?;
    entries.filter_map(|e| e.ok().map(|e| e.path())).find(|path| {
        path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
    })
}

/// Whether a path of the package is the kernel image.
pub fn is_kernel_image(name: &str) -> bool {
    name.trim_start_matches("./").strip_prefix("boot/vmlinuz-").is_some_and(|version| !version.is_empty() && !version.contains('/'))
}

/// Writes the kernel image of `deb` to `out` (through a temporary file, so that an
/// interrupted fetch leaves nothing that looks complete).
fn extract(deb: &Path, out: &Path) -> Result<(), LinuxError> {
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| LinuxError(format!("cannot run dpkg-deb: {e}")))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let found = tar::find_file(BufReader::new(stdout), is_kernel_image);
    // The rest of the stream is not needed: stop dpkg-deb (our own child) and reap it.
    let _ = child.kill();
    let _ = child.wait();
    let (_, image) = found
        .map_err(|e| LinuxError(format!("cannot read the files of {}: {e}", deb.display())))?
        .ok_or_else(|| LinuxError(format!("{} holds no boot/vmlinuz-*", deb.display())))?;
    let partial = out.with_extension("part");
    std::fs::write(&partial, image)
        .and_then(|()| std::fs::rename(&partial, out))
        .map_err(|e| LinuxError(format!("cannot write {}: {e}", out.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_package_is_the_first_dependency() {
        let listing = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n  Depends: other\n";
        assert_eq!(first_dependency(listing).as_deref(), Some("linux-image-6.1.0-57-amd64"));
        assert_eq!(first_dependency(" |Depends: a\n  Depends: b").as_deref(), Some("a"));
        for none in ["", "linux-image-amd64\n", "  Depends: <virtual>", "  Depends:", "  Depends: a b", "W: no lists"] {
            assert_eq!(first_dependency(none), None, "{none:?}");
        }
    }

    #[test]
    fn only_the_kernel_image_is_taken() {
        assert!(is_kernel_image("./boot/vmlinuz-6.1.0-57-amd64"));
        assert!(is_kernel_image("boot/vmlinuz-6.1.0-57-amd64"));
        for other in ["./boot/System.map-6.1.0-57-amd64", "./boot/vmlinuz-", "./boot/vmlinuz-x/y", "./lib/modules/boot/vmlinuz-1", "./boot/"] {
            assert!(!is_kernel_image(other), "{other}");
        }
    }
}
