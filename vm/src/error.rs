//! The VM layer's error type.

use core::fmt;

/// Why a VM operation failed. A failed operation changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmError {
    /// A page of the range is not mapped (or the address is outside the map).
    InvalidAddress,
    /// No free range is large enough, or a fixed range is already in use.
    NoSpace,
    /// The access or protection asked for exceeds what the region allows.
    ProtectionFailure,
    /// An argument is invalid for this region (unwiring memory that is not wired, an offset
    /// beyond an object, a zero size where one is required).
    InvalidArgument,
    /// A page would be wired more than [`MAX_WIRE_COUNT`](crate::MAX_WIRE_COUNT) times.
    WireCountOverflow,
    /// Physical memory (or a page table) ran out.
    OutOfMemory,
    /// The map holds as many entries as it may ([`Vm::set_entry_limit`](crate::Vm::set_entry_limit)).
    EntryLimit,
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidAddress => "address not mapped",
            Self::NoSpace => "no space for the range",
            Self::ProtectionFailure => "protection does not allow it",
            Self::InvalidArgument => "invalid argument for this region",
            Self::WireCountOverflow => "wire count would overflow",
            Self::OutOfMemory => "out of physical memory",
            Self::EntryLimit => "the map holds as many entries as it may",
        })
    }
}

impl core::error::Error for VmError {}
