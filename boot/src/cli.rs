//! The runner's command line: `cargo run -- [OPTIONS]`.

use crate::image::Firmware;
use crate::qemu::{Accel, MachineConfig};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

/// The help text, printed by `--help` (a usage error prints one line and a hint to it).
pub const USAGE: &str = "\
Usage: cargo run [--release] -- [bench | fuzz] [OPTIONS]

Builds the kernel, makes a disk image and boots it in QEMU. Exits 0 when the kernel shuts
down cleanly, 1 when it reports a failure, crashes or times out, 2 on a usage error.

Commands:
  (none)                  boot the init demo (or the program named by --init)
  bench                   boot the benchmark suite as init, then the scaling series in a
                          2 GiB guest, then the multiprocessor series with 2 CPUs, print
                          their figures and write them to boot/bench/latest.csv and
                          boot/bench/latest.svg next to Linux's
                          (use with --release; default timeout 1800 s per boot)
  fuzz                    boot the long system-call fuzz campaign (fuzz_long) as init
                          (use with --release; default timeout 3600 s)

Options:
      --uefi              boot with UEFI firmware (OVMF) instead of BIOS
      --gdb               start halted, with a GDB stub on localhost:1234 (no timeout)
      --smp N             number of CPUs, 1 to 64 (default 1)
      --mem SIZE          guest memory: a number of MiB, or with a suffix M or G,
                          from 64M to 64G (default 1G)
      --timeout SECONDS   stop QEMU after SECONDS; 0 waits forever (default 120)
      --accel tcg|kvm     QEMU accelerator (default tcg)
      --init PATH         boot the user ELF executable at PATH as the init task
                          instead of the default demo
      --log SPEC          the kernel's log filter, as env_logger takes it: a level
                          (off, error, warn, info, debug, trace) and/or MODULE=LEVEL
                          items, comma-separated, e.g. `debug`, `vm_system=trace`,
                          `warn,fault=trace` (every page fault); default info
      --with-linux        with bench: also boot Debian's Linux 6.1 (fetched once into
                          target/linux/) on the same machine with the project's C program
                          doing the same work, and chart both from this sitting (needs gcc,
                          apt-get and dpkg-deb); without it the chart's Linux figures are
                          reference figures
  -h, --help              print this help";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Boot the kernel with this machine.
    Run(MachineConfig),
    /// Boot the benchmark suite with this machine (the scaling series with 2 GiB, the
    /// multiprocessor series with 2 CPUs), and take the Linux figures from where the second
    /// field says.
    Bench(MachineConfig, LinuxFigures),
    /// Boot the long fuzz campaign with this machine.
    Fuzz(MachineConfig),
    /// Print the help.
    Help,
}

/// Where the benchmark chart's Linux figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinuxFigures {
    /// Figures kept in the source, from an earlier sitting (`boot::bench::reference`).
    Reference,
    /// Linux booted in this sitting on the same machine (`--with-linux`).
    Measured,
}

/// A command line that cannot be obeyed; the message names the culprit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl From<lexopt::Error> for UsageError {
    fn from(error: lexopt::Error) -> Self {
        Self(error.to_string())
    }
}

/// How long the benchmark suite may run unless `--timeout` says otherwise.
pub const BENCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// How long the long fuzz campaign may run unless `--timeout` says otherwise.
pub const FUZZ_TIMEOUT: Duration = Duration::from_secs(3600);

const MIN_MEMORY_MIB: u64 = 64;
const MAX_MEMORY_MIB: u64 = 64 * 1024;
const MAX_CPUS: u32 = 64;

/// Parses the runner's arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Request, UsageError> {
    let mut config = MachineConfig::default();
    let mut parser = lexopt::Parser::from_args(args);
    let (mut command, mut timeout_given, mut linux) = (None, false, LinuxFigures::Reference);
    while let Some(arg) = parser.next()? {
        match arg {
            Value(ref name) if command.is_none() && (name == "bench" || name == "fuzz") => {
                command = name.to_str().map(String::from);
            }
            Long("uefi") => config.firmware = Firmware::Uefi,
            Long("gdb") => config.gdb = true,
            Long("smp") => config.cpus = parse_cpus(&text(&mut parser, "--smp")?)?,
            Long("mem") => config.memory_mib = parse_memory(&text(&mut parser, "--mem")?)?,
            Long("timeout") => {
                config.timeout = parse_timeout(&text(&mut parser, "--timeout")?)?;
                timeout_given = true;
            }
            Long("accel") => config.accel = parse_accel(&text(&mut parser, "--accel")?)?,
            Long("init") => config.init = Some(parse_init(parser.value()?.into())?),
            Long("log") => config.log = Some(parse_log(text(&mut parser, "--log")?)?),
            Long("with-linux") => linux = LinuxFigures::Measured,
            Short('h') | Long("help") => return Ok(Request::Help),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if config.gdb {
        config.timeout = None;
    }
    if linux == LinuxFigures::Measured && command.as_deref() != Some("bench") {
        return Err(UsageError("--with-linux goes with the bench command only".into()));
    }
    let Some(command) = command else { return Ok(Request::Run(config)) };
    if config.init.is_some() {
        return Err(UsageError(format!("{command} boots its own program: it takes no --init")));
    }
    let timeout = if command == "bench" { BENCH_TIMEOUT } else { FUZZ_TIMEOUT };
    if !timeout_given && !config.gdb {
        config.timeout = Some(timeout);
    }
    Ok(if command == "bench" { Request::Bench(config, linux) } else { Request::Fuzz(config) })
}

fn text(parser: &mut lexopt::Parser, option: &str) -> Result<String, UsageError> {
    let value = parser.value()?;
    value
        .into_string()
        .map_err(|_| UsageError(format!("the value of {option} is not valid UTF-8")))
}

/// An init program: a readable file that starts like an ELF file.
fn parse_init(path: std::path::PathBuf) -> Result<std::path::PathBuf, UsageError> {
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(&path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    match read {
        Err(e) => Err(UsageError(format!("--init: cannot read `{}`: {e}", path.display()))),
        Ok(()) if magic != *b"\x7fELF" => Err(UsageError(format!("--init: `{}` is not an ELF file", path.display()))),
        Ok(()) => Ok(path),
    }
}

fn parse_log(spec: String) -> Result<String, UsageError> {
    if let Err(error) = machvm_abi::logspec::parse(&spec) {
        return Err(UsageError(format!("--log: {error}")));
    }
    Ok(spec)
}

fn parse_cpus(value: &str) -> Result<u32, UsageError> {
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_CPUS).contains(&n) => Ok(n),
        _ => Err(UsageError(format!("--smp takes a CPU count from 1 to {MAX_CPUS}, not `{value}`"))),
    }
}

fn parse_memory(value: &str) -> Result<u64, UsageError> {
    let bad = || {
        UsageError(format!(
            "--mem takes a size from {MIN_MEMORY_MIB}M to {}G (e.g. 512M or 2G), not `{value}`",
            MAX_MEMORY_MIB / 1024
        ))
    };
    let (digits, scale) = match value.as_bytes().last() {
        Some(b'M' | b'm') => (&value[..value.len() - 1], 1),
        Some(b'G' | b'g') => (&value[..value.len() - 1], 1024),
        _ => (value, 1),
    };
    let mib = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(scale)).ok_or_else(bad)?;
    if (MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&mib) {
        Ok(mib)
    } else {
        Err(bad())
    }
}

fn parse_timeout(value: &str) -> Result<Option<Duration>, UsageError> {
    match value.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(seconds) => Ok(Some(Duration::from_secs(seconds))),
        Err(_) => Err(UsageError(format!(
            "--timeout takes a whole number of seconds (0 for none), not `{value}`"
        ))),
    }
}

fn parse_accel(value: &str) -> Result<Accel, UsageError> {
    match value {
        "tcg" => Ok(Accel::Tcg),
        "kvm" => Ok(Accel::Kvm),
        _ => Err(UsageError(format!("--accel takes `tcg` or `kvm`, not `{value}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<MachineConfig, UsageError> {
        match parse(args.iter().map(OsString::from))? {
            Request::Run(config) => Ok(config),
            Request::Bench(..) | Request::Fuzz(_) | Request::Help => panic!("unexpected request"),
        }
    }

    fn error(args: &[&str]) -> String {
        run(args).expect_err("a usage error").0
    }

    #[test]
    fn no_arguments_give_the_default_machine() {
        assert_eq!(run(&[]).unwrap(), MachineConfig::default());
    }

    #[test]
    fn every_option_is_applied() {
        let config =
            run(&["--uefi", "--smp", "4", "--mem=2G", "--timeout", "30", "--accel", "kvm"]).unwrap();
        assert_eq!(config.firmware, Firmware::Uefi);
        assert_eq!(config.cpus, 4);
        assert_eq!(config.memory_mib, 2048);
        assert_eq!(config.timeout, Some(Duration::from_secs(30)));
        assert_eq!(config.accel, Accel::Kvm);
    }

    #[test]
    fn a_log_spec_is_checked_and_kept() {
        assert_eq!(run(&["--log", "warn,vm_system=trace"]).unwrap().log.as_deref(), Some("warn,vm_system=trace"));
        assert_eq!(run(&[]).unwrap().log, None);
        assert!(error(&["--log", "vm=loud"]).contains("`loud` is not a level"));
        assert!(error(&["--log", "a b=info"]).contains("not a module path"));
    }

    #[test]
    fn gdb_disables_the_timeout() {
        let config = run(&["--gdb", "--timeout", "5"]).unwrap();
        assert!(config.gdb);
        assert_eq!(config.timeout, None);
    }

    #[test]
    fn memory_sizes_accept_suffixes_and_bounds() {
        assert_eq!(parse_memory("512").unwrap(), 512);
        assert_eq!(parse_memory("512M").unwrap(), 512);
        assert_eq!(parse_memory("1g").unwrap(), 1024);
        assert_eq!(parse_memory("64M").unwrap(), 64);
        for bad in ["", "M", "63M", "65G", "1T", "-1G", "1.5G", "99999999999999999999G"] {
            assert!(parse_memory(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        assert!(error(&["--smp", "0"]).contains("`0`"));
        assert!(error(&["--smp", "65"]).contains("--smp"));
        assert!(error(&["--accel", "hvf"]).contains("`hvf`"));
        assert!(error(&["--timeout", "soon"]).contains("--timeout"));
        assert!(error(&["--mem", "lots"]).contains("--mem"));
    }

    #[test]
    fn unknown_options_and_missing_values_are_errors() {
        assert!(error(&["--bogus"]).contains("--bogus"));
        assert!(error(&["extra"]).contains("extra"));
        assert!(error(&["--smp"]).contains("--smp"));
    }

    #[test]
    fn init_must_be_a_readable_elf_file() {
        assert!(error(&["--init", "/nonexistent/prog"]).contains("cannot read"));
        assert!(error(&["--init", "Cargo.toml"]).contains("not an ELF file"));
        assert!(error(&["--init"]).contains("--init"));
        let elf = std::env::current_exe().expect("the test binary");
        let elf = elf.to_str().expect("UTF-8 path");
        assert_eq!(run(&["--init", elf]).unwrap().init, Some(elf.into()));
    }

    #[test]
    fn bench_is_a_command_with_a_long_timeout() {
        let bench = |args: &[&str]| parse(args.iter().map(OsString::from));
        let default = MachineConfig { timeout: Some(BENCH_TIMEOUT), ..MachineConfig::default() };
        assert_eq!(bench(&["bench"]).unwrap(), Request::Bench(default, LinuxFigures::Reference));
        let Ok(Request::Bench(config, _)) = bench(&["bench", "--timeout", "60", "--mem", "2G"]) else { panic!("a bench request") };
        assert_eq!((config.timeout, config.memory_mib), (Some(Duration::from_secs(60)), 2048));
        assert!(bench(&["bench", "bench"]).unwrap_err().0.contains("bench"), "once");
        assert!(bench(&["benchmark"]).unwrap_err().0.contains("benchmark"));
        let elf = std::env::current_exe().expect("the test binary");
        let elf = elf.to_str().expect("UTF-8 path");
        assert!(bench(&["bench", "--init", elf]).unwrap_err().0.contains("--init"));
    }

    #[test]
    fn with_linux_goes_with_bench_only() {
        let parse = |args: &[&str]| parse(args.iter().map(OsString::from));
        assert!(matches!(parse(&["bench", "--with-linux"]), Ok(Request::Bench(_, LinuxFigures::Measured))));
        assert!(matches!(parse(&["--with-linux", "bench"]), Ok(Request::Bench(_, LinuxFigures::Measured))));
        for alone in [&["--with-linux"][..], &["fuzz", "--with-linux"]] {
            assert!(parse(alone).unwrap_err().0.contains("--with-linux"), "{alone:?}");
        }
        assert!(parse(&["bench", "--with-linux=yes"]).unwrap_err().0.contains("--with-linux"));
        assert!(USAGE.contains("--with-linux"));
    }

    #[test]
    fn fuzz_is_a_command_with_a_long_timeout() {
        let fuzz = |args: &[&str]| parse(args.iter().map(OsString::from));
        assert_eq!(fuzz(&["fuzz"]).unwrap(), Request::Fuzz(MachineConfig { timeout: Some(FUZZ_TIMEOUT), ..MachineConfig::default() }));
        let Ok(Request::Fuzz(config)) = fuzz(&["fuzz", "--timeout", "0"]) else { panic!("a fuzz request") };
        assert_eq!(config.timeout, None);
        assert!(fuzz(&["fuzz", "bench"]).unwrap_err().0.contains("bench"), "one command");
    }

    #[test]
    fn timeout_zero_waits_forever() {
        assert_eq!(run(&["--timeout", "0"]).unwrap().timeout, None);
    }

    #[test]
    fn help_is_recognised() {
        assert_eq!(parse([OsString::from("--help")]).unwrap(), Request::Help);
        assert_eq!(parse([OsString::from("-h")]).unwrap(), Request::Help);
    }
}
