//! The host tools `--with-linux` needs, checked before anything is built or booted.

use super::LinuxError;
use std::ffi::OsStr;
use std::path::Path;

/// The tools: the C compiler for the program, apt for the kernel package, dpkg-deb to open it.
pub const TOOLS: [&str; 4] = ["gcc", "apt-get", "apt-cache", "dpkg-deb"];

/// The tools of `TOOLS` that no directory of `path` (a `PATH` value) holds as an executable.
pub fn missing(path: Option<&OsStr>) -> Vec<&'static str> {
    TOOLS.into_iter().filter(|tool| !on_path(path, tool)).collect()
}

fn on_path(path: Option<&OsStr>, tool: &str) -> bool {
    path.is_some_and(|path| std::env::split_paths(path).any(|dir| is_executable(&dir.join(tool))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Fails, in one line, unless every tool is on `PATH`.
pub fn check() -> Result<(), LinuxError> {
    let missing = missing(std::env::var_os("PATH").as_deref());
    if missing.is_empty() {
        return Ok(());
    }
    Err(LinuxError(format!(
        "--with-linux needs {} on PATH; not found: {} (Debian/Ubuntu: apt-get install gcc libc6-dev apt dpkg)",
        TOOLS.join(", "),
        missing.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tools_are_found_only_as_executables_on_the_path() {
        let dir = std::env::temp_dir().join(format!("boot-tools-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (tool, mode) in [("gcc", 0o755), ("apt-get", 0o755), ("apt-cache", 0o644)] {
            std::fs::write(dir.join(tool), "").unwrap();
            std::fs::set_permissions(dir.join(tool), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::create_dir_all(dir.join("dpkg-deb")).unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), &dir]).unwrap();
        assert_eq!(missing(Some(&path)), ["apt-cache", "dpkg-deb"], "not executable; a directory");
        assert_eq!(missing(None), TOOLS);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
