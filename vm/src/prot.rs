//! Memory protection.

use core::fmt::Write as _;

bitflags::bitflags! {
    /// Access rights of a mapping: the Mach `vm_prot_t` bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Prot: u32 {
        /// Reads allowed (`VM_PROT_READ`).
        const READ = 1;
        /// Writes allowed (`VM_PROT_WRITE`).
        const WRITE = 2;
        /// Instruction fetches allowed (`VM_PROT_EXECUTE`).
        const EXECUTE = 4;
        /// `VM_PROT_DEFAULT`: read and write.
        const DEFAULT = Self::READ.bits() | Self::WRITE.bits();
        /// `VM_PROT_ALL`: read, write and execute.
        const ALL = Self::READ.bits() | Self::WRITE.bits() | Self::EXECUTE.bits();
    }
}

impl Prot {
    /// No access (`VM_PROT_NONE`).
    pub const NONE: Self = Self::empty();

    /// The protection with these exact bits, or `None` if any bit is not a protection bit.
    pub fn from_raw(bits: u32) -> Option<Self> {
        Self::from_bits(bits)
    }
}

/// The rights as `vm_region` tools print them: `r`, `w` and `x`, or `-` for each one missing.
///
/// ```
/// use machvm::Prot;
/// assert_eq!(Prot::DEFAULT.to_string(), "rw-");
/// assert_eq!(Prot::NONE.to_string(), "---");
/// assert_eq!((Prot::READ | Prot::EXECUTE).to_string(), "r-x");
/// ```
impl core::fmt::Display for Prot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (right, letter) in [(Self::READ, 'r'), (Self::WRITE, 'w'), (Self::EXECUTE, 'x')] {
            f.write_char(if self.contains(right) { letter } else { '-' })?;
        }
        Ok(())
    }
}
