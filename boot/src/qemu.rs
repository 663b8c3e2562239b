//! Running a disk image in QEMU: the command line, the serial console, the timeout and the
//! meaning of QEMU's exit status.

use crate::image::Firmware;
use std::fmt;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";
const OVMF_PATHS: [&str; 3] =
    ["/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF.fd", "/usr/share/qemu/OVMF.fd"];
/// Status QEMU exits with when the kernel writes 0x10 to `isa-debug-exit` (success).
const STATUS_SUCCESS: i32 = 0x21;
/// Status QEMU exits with when the kernel writes 0x11 to `isa-debug-exit` (failure).
const STATUS_FAILURE: i32 = 0x23;
/// Port of the GDB stub started by `--gdb`.
pub const GDB_PORT: u16 = 1234;

/// QEMU's accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Dynamic translation; works everywhere.
    Tcg,
    /// Hardware virtualisation through `/dev/kvm`.
    Kvm,
}

/// How to run the virtual machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Start halted with a GDB stub on [`GDB_PORT`].
    pub gdb: bool,
    /// Number of CPUs.
    pub cpus: u32,
    /// Guest memory in MiB.
    pub memory_mib: u64,
    /// Accelerator.
    pub accel: Accel,
    /// Stop the machine after this long; `None` waits forever.
    pub timeout: Option<Duration>,
    /// The user program to boot as the init task (`None`: the default demo).
    pub init: Option<std::path::PathBuf>,
    /// The kernel's log filter (`machvm_abi::logspec`), handed over through `fw_cfg`
    /// (`None`: the kernel's default).
    pub log: Option<String>,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            firmware: Firmware::Bios,
            gdb: false,
            cpus: 1,
            memory_mib: 1024,
            accel: Accel::Tcg,
            timeout: Some(Duration::from_secs(120)),
            init: None,
            log: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel reported success through `isa-debug-exit`.
    Success,
    /// The kernel reported failure (a failed test or a panic).
    KernelFailure,
    /// QEMU stopped without a report: a triple fault or a reset (QEMU runs with `-no-reboot`).
    Reset,
    /// QEMU itself failed, with this status (or none if killed by a signal).
    QemuError(Option<i32>),
    /// The timeout ran out and QEMU was stopped.
    TimedOut(Duration),
    /// A debugger attached to the GDB stub ended QEMU (`kill`, or the end of a batch run).
    EndedByDebugger,
}

impl Outcome {
    fn from_status(status: ExitStatus) -> Self {
        match status.code() {
            Some(STATUS_SUCCESS) => Self::Success,
            Some(STATUS_FAILURE) => Self::KernelFailure,
            Some(0) => Self::Reset,
            code => Self::QemuError(code),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Success => write!(f, "the kernel shut down cleanly"),
            Self::KernelFailure => write!(f, "the kernel reported a failure"),
            Self::Reset => write!(f, "the machine reset without a report (triple fault?)"),
            Self::QemuError(Some(code)) => write!(f, "QEMU failed with status {code}"),
            Self::QemuError(None) => write!(f, "QEMU was killed by a signal"),
            Self::TimedOut(after) => write!(f, "timed out after {} s", after.as_secs()),
            Self::EndedByDebugger => write!(f, "the debugger ended QEMU"),
        }
    }
}

/// QEMU could not be started.
#[derive(Debug)]
pub enum QemuError {
    /// `qemu-system-x86_64` is not installed.
    NotInstalled,
    /// UEFI was asked for and no OVMF firmware file exists.
    NoUefiFirmware,
    /// KVM was asked for and `/dev/kvm` cannot be opened.
    NoKvm(std::io::Error),
    /// Starting or waiting for the process failed.
    Io(std::io::Error),
}

impl fmt::Display for QemuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled => write!(
                f,
                "`{QEMU}` was not found: install QEMU (Debian/Ubuntu: `apt-get install qemu-system-x86`)"
            ),
            Self::NoUefiFirmware => write!(
                f,
                "no UEFI firmware found (looked for {}): install OVMF (Debian/Ubuntu: `apt-get install ovmf`) or set OVMF_PATH",
                OVMF_PATHS.join(", ")
            ),
            Self::NoKvm(e) => write!(f, "KVM is not usable (/dev/kvm: {e}); use --accel tcg"),
            Self::Io(e) => write!(f, "running {QEMU} failed: {e}"),
        }
    }
}

impl std::error::Error for QemuError {}

fn ovmf() -> Result<PathBuf, QemuError> {
    let candidates = std::env::var_os("OVMF_PATH").map(PathBuf::from).into_iter();
    candidates
        .chain(OVMF_PATHS.iter().map(PathBuf::from))
        .find(|path| path.is_file())
        .ok_or(QemuError::NoUefiFirmware)
}

/// The QEMU command that boots `image` as `config` says.
pub fn command(image: &Path, config: &MachineConfig) -> Result<Command, QemuError> {
    let mut qemu = Command::new(QEMU);
    qemu.arg("-drive").arg(format!("format=raw,file={}", image.display()));
    machine(&mut qemu, config)?;
    if config.firmware == Firmware::Uefi {
        qemu.arg("-bios").arg(ovmf()?);
    }
    if config.gdb {
        qemu.args(["-gdb", &format!("tcp::{GDB_PORT}"), "-S"]);
    }
    qemu.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    if let Some(spec) = &config.log {
        // QEMU's option syntax separates with commas; a comma inside a value is doubled.
        let name = machvm_abi::logspec::FW_CFG_NAME;
        qemu.arg("-fw_cfg").arg(format!("name={name},string={}", spec.replace(',', ",,")));
    }
    console(&mut qemu);
    Ok(qemu)
}

/// The QEMU command that boots a Linux `kernel` with `initrd` and the kernel command line
/// `append`, on the machine `config` describes (memory, CPUs, accelerator; firmware and
/// debugger aside), with the same console as [`command`].
pub fn linux_command(kernel: &Path, initrd: &Path, append: &str, config: &MachineConfig) -> Result<Command, QemuError> {
    let mut qemu = Command::new(QEMU);
    qemu.arg("-kernel").arg(kernel).arg("-initrd").arg(initrd).args(["-append", append]);
    machine(&mut qemu, config)?;
    console(&mut qemu);
    Ok(qemu)
}

/// Memory, CPUs and accelerator. With several CPUs, TCG runs each in a host thread of its
/// own (`thread=multi`), so that they really run at once.
fn machine(qemu: &mut Command, config: &MachineConfig) -> Result<(), QemuError> {
    qemu.args(["-m", &format!("{}M", config.memory_mib), "-smp", &config.cpus.to_string()]);
    match config.accel {
        Accel::Tcg if config.cpus > 1 => qemu.args(["-accel", "tcg,thread=multi", "-cpu", "max"]),
        Accel::Tcg => qemu.args(["-accel", "tcg", "-cpu", "max"]),
        Accel::Kvm => {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/kvm")
                .map_err(QemuError::NoKvm)?;
            qemu.args(["-accel", "kvm", "-cpu", "host"])
        }
    };
    Ok(())
}

/// The serial console on stdout, nothing else, and a stop instead of a reboot. QEMU's own
/// messages (stderr) are read too: they tell a debugger's kill from a reset.
fn console(qemu: &mut Command) {
    qemu.args(["-serial", "stdio", "-display", "none", "-monitor", "none", "-no-reboot"]);
    qemu.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
}

/// What QEMU's gdb stub prints when the debugger kills the machine.
const KILLED_BY_DEBUGGER: &str = "Terminated via GDBstub";

/// Passes QEMU's stderr on to ours, and tells whether the gdb stub reported a kill.
fn watch_stderr(child: &mut Child) -> std::thread::JoinHandle<bool> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let Some(stderr) = stderr else { return false };
        let mut killed = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            killed |= line.contains(KILLED_BY_DEBUGGER);
        }
        killed
    })
}

/// Runs `qemu`, handing every line of the serial console to `on_line` as it arrives, and
/// stops it once `timeout` has passed.
pub fn run(
    mut qemu: Command,
    timeout: Option<Duration>,
    mut on_line: impl FnMut(&str),
) -> Result<Outcome, QemuError> {
    let mut child = qemu.spawn().map_err(|e| match e.kind() {
        ErrorKind::NotFound => QemuError::NotInstalled,
        _ => QemuError::Io(e),
    })?;
    let lines = read_lines(&mut child);
    let stderr = watch_stderr(&mut child);
    let start = Instant::now();
    let mut timed_out = None;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(QemuError::Io)? {
            break status;
        }
        if let Some(limit) = timeout.filter(|&limit| start.elapsed() >= limit) {
            timed_out = Some(limit);
            let _ = child.kill();
            break child.wait().map_err(QemuError::Io)?;
        }
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(20)) {
            on_line(&line);
        }
    };
    // The reader ends when QEMU's stdout closes; everything it read is still delivered.
    for line in lines {
        on_line(&line);
    }
    let killed_by_debugger = stderr.join().unwrap_or(false);
    Ok(match timed_out {
        Some(limit) => Outcome::TimedOut(limit),
        None if killed_by_debugger && status.code() == Some(0) => Outcome::EndedByDebugger,
        None => Outcome::from_status(status),
    })
}

fn read_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line);
            if sender.send(text.trim_end_matches('\r').to_string()).is_err() {
                break;
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: &MachineConfig) -> Vec<String> {
        let qemu = command(Path::new("/tmp/k.img"), config).expect("a command");
        qemu.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn default_command_boots_the_image_with_the_exit_device() {
        let args = args(&MachineConfig::default()).join(" ");
        assert!(args.contains("-drive format=raw,file=/tmp/k.img"));
        assert!(args.contains("-m 1024M -smp 1"));
        assert!(args.contains("-accel tcg -cpu max"));
        assert!(args.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(args.contains("-no-reboot"));
        assert!(!args.contains("-gdb"));
    }

    #[test]
    fn linux_boots_on_the_same_machine() {
        let config = MachineConfig { memory_mib: 2048, ..MachineConfig::default() };
        let qemu = linux_command(Path::new("/c/vmlinuz"), Path::new("/c/i.cpio"), "console=ttyS0 -- scale", &config).expect("a command");
        let args: Vec<String> = qemu.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("-kernel /c/vmlinuz -initrd /c/i.cpio -append"));
        assert!(args.contains(&"console=ttyS0 -- scale".to_string()), "one argument");
        assert!(joined.contains("-m 2048M -smp 1 -accel tcg -cpu max"));
        assert!(joined.contains("-serial stdio") && joined.contains("-no-reboot"));
        assert!(!joined.contains("isa-debug-exit") && !joined.contains("-drive"));
    }

    #[test]
    fn several_cpus_run_on_multi_threaded_tcg() {
        let config = MachineConfig { cpus: 4, ..MachineConfig::default() };
        assert!(args(&config).join(" ").contains("-smp 4 -accel tcg,thread=multi -cpu max"));
        let linux = linux_command(Path::new("/k"), Path::new("/i"), "", &config).expect("a command");
        let linux: Vec<String> = linux.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(linux.join(" ").contains("-smp 4 -accel tcg,thread=multi"), "Linux runs on the same machine");
        assert!(args(&MachineConfig::default()).join(" ").contains("-smp 1 -accel tcg -cpu max"), "one CPU: plain TCG");
    }

    #[test]
    fn a_log_spec_reaches_the_kernel_through_fw_cfg_with_its_commas_doubled() {
        let config = MachineConfig { log: Some("warn,fault=trace".into()), ..MachineConfig::default() };
        let args = args(&config);
        let at = args.iter().position(|a| a == "-fw_cfg").expect("a -fw_cfg option");
        assert_eq!(args[at + 1], "name=opt/machvm/log,string=warn,,fault=trace");
        assert!(!self::tests::args(&MachineConfig::default()).contains(&"-fw_cfg".to_string()));
    }

    #[test]
    fn gdb_waits_for_the_debugger() {
        let config = MachineConfig { gdb: true, ..MachineConfig::default() };
        assert!(args(&config).join(" ").contains("-gdb tcp::1234 -S"));
    }

    #[test]
    fn exit_statuses_map_to_outcomes() {
        use std::os::unix::process::ExitStatusExt;
        let status = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(Outcome::from_status(status(33)), Outcome::Success);
        assert_eq!(Outcome::from_status(status(35)), Outcome::KernelFailure);
        assert_eq!(Outcome::from_status(status(0)), Outcome::Reset);
        assert_eq!(Outcome::from_status(status(1)), Outcome::QemuError(Some(1)));
    }
}
