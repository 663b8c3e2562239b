//! The kernel's log filter, chosen at boot (`cargo run -- --log SPEC`): read by the runner,
//! which rejects a bad one before QEMU starts, and by the kernel, which gets it through
//! QEMU's firmware configuration (`fw_cfg` file [`FW_CFG_NAME`]).
//!
//! A spec is a comma-separated list of directives, as `env_logger` takes them: a level alone
//! sets the default (`debug`), `MODULE=LEVEL` sets the level of a module and everything in
//! it (`vm_system=trace`, `kernel::task::sched=debug`; the crate prefix `kernel::` may be
//! left out). The last directive for a module wins; the most specific module wins.

/// The `fw_cfg` file that carries the spec.
pub const FW_CFG_NAME: &str = "opt/machvm/log";

/// The most directives a spec may hold.
pub const MAX_DIRECTIVES: usize = 16;

/// The longest spec, in bytes.
pub const MAX_SPEC_LEN: usize = 512;

/// A level filter: messages of this level and more severe ones pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing.
    Off,
    /// Errors.
    Error,
    /// Warnings and errors.
    Warn,
    /// Information and above.
    Info,
    /// Debugging messages and above.
    Debug,
    /// Everything, the fault path's trace included.
    Trace,
}

impl Level {
    /// The level named `name` (`off`, `error`, `warn`, `info`, `debug`, `trace`, in any case).
    pub fn parse(name: &str) -> Option<Self> {
        const NAMES: [(&str, Level); 6] = [
            ("off", Level::Off),
            ("error", Level::Error),
            ("warn", Level::Warn),
            ("info", Level::Info),
            ("debug", Level::Debug),
            ("trace", Level::Trace),
        ];
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, level)| level)
    }
}

/// One directive: a module (none for the default) and its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Directive<'a> {
    /// The module path, without a crate prefix the caller strips; `None` for the default.
    pub module: Option<&'a str>,
    /// Its level.
    pub level: Level,
}

/// Why a spec was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecError<'a> {
    /// Longer than [`MAX_SPEC_LEN`].
    TooLong,
    /// More than [`MAX_DIRECTIVES`] directives.
    TooMany,
    /// This is not a level name.
    BadLevel(&'a str),
    /// This is not a module path (letters, digits, `_` and `::` separators).
    BadModule(&'a str),
}

impl core::fmt::Display for SpecError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLong => write!(f, "a log spec is at most {MAX_SPEC_LEN} bytes"),
            Self::TooMany => write!(f, "a log spec holds at most {MAX_DIRECTIVES} directives"),
            Self::BadLevel(level) => write!(f, "`{level}` is not a level (off, error, warn, info, debug, trace)"),
            Self::BadModule(module) => write!(f, "`{module}` is not a module path"),
        }
    }
}

/// The directives of `spec`, in order, or the first reason it is refused.
pub fn parse(spec: &str) -> Result<impl Iterator<Item = Directive<'_>> + '_, SpecError<'_>> {
    if spec.len() > MAX_SPEC_LEN {
        return Err(SpecError::TooLong);
    }
    let items = || spec.split(',').map(str::trim).filter(|item| !item.is_empty());
    if items().count() > MAX_DIRECTIVES {
        return Err(SpecError::TooMany);
    }
    for item in items() {
        directive(item)?;
    }
    Ok(items().map(|item| directive(item).expect("checked above")))
}

fn directive(item: &str) -> Result<Directive<'_>, SpecError<'_>> {
    match item.split_once('=') {
        None => match Level::parse(item) {
            Some(level) => Ok(Directive { module: None, level }),
            None if is_module(item) => Ok(Directive { module: Some(item), level: Level::Trace }),
            None => Err(SpecError::BadLevel(item)),
        },
        Some((module, level)) => {
            let module = module.trim();
            if !is_module(module) {
                return Err(SpecError::BadModule(module));
            }
            let level = Level::parse(level.trim()).ok_or(SpecError::BadLevel(level.trim()))?;
            Ok(Directive { module: Some(module), level })
        }
    }
}

fn is_module(path: &str) -> bool {
    !path.is_empty()
        && path.split("::").all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !part.as_bytes()[0].is_ascii_digit()
        })
}

/// Whether a message of `target` is inside `module` (the module itself or below it).
pub fn within(target: &str, module: &str) -> bool {
    target.strip_prefix(module).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn directives(spec: &str) -> Vec<Directive<'_>> {
        parse(spec).expect("a valid spec").collect()
    }

    #[test]
    fn levels_and_modules_parse() {
        assert_eq!(directives("debug"), [Directive { module: None, level: Level::Debug }]);
        assert_eq!(
            directives("info, vm_system=trace,kernel::task::sched=WARN"),
            [
                Directive { module: None, level: Level::Info },
                Directive { module: Some("vm_system"), level: Level::Trace },
                Directive { module: Some("kernel::task::sched"), level: Level::Warn },
            ]
        );
        assert_eq!(directives("fault"), [Directive { module: Some("fault"), level: Level::Trace }], "a module alone: everything");
        assert!(directives("").is_empty());
    }

    #[test]
    fn bad_specs_are_refused_with_the_culprit() {
        assert_eq!(parse("lo-ud").err(), Some(SpecError::BadLevel("lo-ud")), "neither a level nor a module");
        assert_eq!(parse("vm=loud").err(), Some(SpecError::BadLevel("loud")));
        assert_eq!(parse("v m=info").err(), Some(SpecError::BadModule("v m")));
        assert_eq!(parse("a::=info").err(), Some(SpecError::BadModule("a::")));
        assert_eq!(parse("9x=info").err(), Some(SpecError::BadModule("9x")));
        assert_eq!(parse(&"info,".repeat(MAX_DIRECTIVES + 1)).err(), Some(SpecError::TooMany));
        assert_eq!(parse(&"x".repeat(MAX_SPEC_LEN + 1)).err(), Some(SpecError::TooLong));
    }

    #[test]
    fn a_module_holds_its_submodules_only() {
        assert!(within("kernel::task::sched", "kernel::task"));
        assert!(within("kernel::task", "kernel::task"));
        assert!(!within("kernel::tasks", "kernel::task"));
        assert!(!within("kernel", "kernel::task"));
    }
}
