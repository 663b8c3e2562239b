//! CPU features the kernel relies on, detected once and switched on at boot.

use core::arch::x86_64::__cpuid_count;
use spin::Once;
use x86_64::instructions::smap::Smap;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// Which protection features the CPU offers (and the kernel has turned on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// No-execute pages (EFER.NXE).
    pub no_execute: bool,
    /// Supervisor-mode execution prevention (CR4.SMEP).
    pub smep: bool,
    /// Supervisor-mode access prevention (CR4.SMAP).
    pub smap: bool,
    /// Process-context identifiers (turned on by the pmap).
    pub pcid: bool,
    /// User-mode instruction prevention (CR4.UMIP): `sgdt`, `sidt`, `sldt`, `smsw` and `str`
    /// fault in ring 3 instead of revealing kernel addresses.
    pub umip: bool,
}

static FEATURES: Once<Features> = Once::new();

fn detect() -> Features {
    let leaf1 = __cpuid_count(1, 0);
    let leaf7 = __cpuid_count(7, 0);
    let extended = __cpuid_count(0x8000_0001, 0);
    Features {
        no_execute: extended.edx & (1 << 20) != 0,
        smep: leaf7.ebx & (1 << 7) != 0,
        smap: leaf7.ebx & (1 << 20) != 0,
        pcid: leaf1.ecx & (1 << 17) != 0,
        umip: leaf7.ecx & (1 << 2) != 0,
    }
}

/// Detects the features and turns on CR0.WP, EFER.NXE, CR4.SMEP, CR4.SMAP and CR4.UMIP where
/// present.
pub fn init() -> Features {
    let features = *FEATURES.call_once(detect);
    // SAFETY: each bit is set only if the CPU has the feature. WP makes read-only pages
    // read-only for the kernel too (every kernel page written to is mapped writable); NXE gives
    // meaning to bit 63 of page-table entries, which no kernel mapping the kernel executes from
    // carries; SMEP and SMAP forbid the kernel to execute or touch user pages, which it only
    // touches inside `user::with_user_access`; UMIP only makes ring-3 descriptor-table reads
    // fault, which the kernel never relies on.
    unsafe {
        Cr0::update(|flags| flags.insert(Cr0Flags::WRITE_PROTECT));
        if features.no_execute {
            Efer::update(|flags| flags.insert(EferFlags::NO_EXECUTE_ENABLE));
        }
        Cr4::update(|flags| {
            flags.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, features.smep);
            flags.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, features.smap);
            flags.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, features.umip);
        });
    }
    features
}

/// The features found at boot.
///
/// # Panics
///
/// If called before [`init`].
pub fn features() -> Features {
    *FEATURES.get().expect("cpu::init has run")
}

/// Runs `f` with access to user pages allowed (EFLAGS.AC set under SMAP), then forbids it
/// again. The only way kernel code may touch user memory.
pub fn with_user_access<R>(f: impl FnOnce() -> R) -> R {
    match smap() {
        Some(smap) => smap.without_smap(f),
        None => f(),
    }
}

/// Forbids kernel access to user pages (clears EFLAGS.AC under SMAP). Interrupt handlers call
/// it first: an interrupt from ring 3 keeps the user's AC flag, which would otherwise lift
/// SMAP for the handler. The interrupted flags come back with `iretq`.
pub fn forbid_user_access() {
    if let Some(smap) = smap() {
        smap.enable();
    }
}

/// The SMAP instructions, if the CPU has them (from the features found at boot: no CPUID on
/// these hot paths, which run on every fault, tick and user copy).
fn smap() -> Option<Smap> {
    // SAFETY: `features().smap` is CPUID's SMAP bit, read once at boot.
    features().smap.then(|| unsafe { Smap::new_unchecked() })
}
