//! `kern_return_t` values (XNU's numbering) and the conversion from [`VmError`].

use crate::VmError;

/// A Mach result code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum KernReturn {
    /// `KERN_SUCCESS`
    Success = 0,
    /// `KERN_INVALID_ADDRESS`
    InvalidAddress = 1,
    /// `KERN_PROTECTION_FAILURE`
    ProtectionFailure = 2,
    /// `KERN_NO_SPACE`
    NoSpace = 3,
    /// `KERN_INVALID_ARGUMENT`
    InvalidArgument = 4,
    /// `KERN_FAILURE`
    Failure = 5,
    /// `KERN_RESOURCE_SHORTAGE`
    ResourceShortage = 6,
    /// `KERN_NO_ACCESS`
    NoAccess = 8,
    /// `KERN_MEMORY_FAILURE`
    MemoryFailure = 9,
    /// `KERN_MEMORY_ERROR`
    MemoryError = 10,
    /// `KERN_INVALID_TASK`
    InvalidTask = 16,
    /// `KERN_INVALID_VALUE`
    InvalidValue = 18,
    /// `KERN_INVALID_HOST`
    InvalidHost = 22,
    /// `KERN_INVALID_OBJECT`
    InvalidObject = 29,
    /// `KERN_NOT_SUPPORTED`
    NotSupported = 46,
}

impl KernReturn {
    /// The numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The Mach name of the code.
    ///
    /// ```
    /// use machvm::api::KernReturn;
    /// use machvm::VmError;
    /// assert_eq!(KernReturn::from(VmError::NoSpace).name(), "KERN_NO_SPACE");
    /// assert_eq!(KernReturn::ResourceShortage.to_string(), "KERN_RESOURCE_SHORTAGE (6)");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "KERN_SUCCESS",
            Self::InvalidAddress => "KERN_INVALID_ADDRESS",
            Self::ProtectionFailure => "KERN_PROTECTION_FAILURE",
            Self::NoSpace => "KERN_NO_SPACE",
            Self::InvalidArgument => "KERN_INVALID_ARGUMENT",
            Self::Failure => "KERN_FAILURE",
            Self::ResourceShortage => "KERN_RESOURCE_SHORTAGE",
            Self::NoAccess => "KERN_NO_ACCESS",
            Self::MemoryFailure => "KERN_MEMORY_FAILURE",
            Self::MemoryError => "KERN_MEMORY_ERROR",
            Self::InvalidTask => "KERN_INVALID_TASK",
            Self::InvalidValue => "KERN_INVALID_VALUE",
            Self::InvalidHost => "KERN_INVALID_HOST",
            Self::InvalidObject => "KERN_INVALID_OBJECT",
            Self::NotSupported => "KERN_NOT_SUPPORTED",
        }
    }
}

/// The Mach name and the number: `KERN_NO_SPACE (3)`.
impl core::fmt::Display for KernReturn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl From<VmError> for KernReturn {
    /// The code a VM error reports by default; calls with their own rules (`vm_wire` maps
    /// holes and protection to `KERN_FAILURE`) translate before this.
    fn from(error: VmError) -> Self {
        match error {
            VmError::InvalidAddress => Self::InvalidAddress,
            VmError::NoSpace => Self::NoSpace,
            VmError::ProtectionFailure => Self::ProtectionFailure,
            VmError::InvalidArgument => Self::InvalidArgument,
            VmError::WireCountOverflow => Self::Failure,
            VmError::OutOfMemory | VmError::EntryLimit => Self::ResourceShortage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vm_error_has_its_code() {
        let table = [
            (VmError::InvalidAddress, 1),
            (VmError::NoSpace, 3),
            (VmError::ProtectionFailure, 2),
            (VmError::InvalidArgument, 4),
            (VmError::WireCountOverflow, 5),
            (VmError::OutOfMemory, 6),
            (VmError::EntryLimit, 6),
        ];
        for (error, code) in table {
            assert_eq!(KernReturn::from(error).code(), code, "{error:?}");
        }
    }

    #[test]
    fn codes_are_xnus() {
        let table = [
            (KernReturn::Success, 0),
            (KernReturn::NoAccess, 8),
            (KernReturn::MemoryFailure, 9),
            (KernReturn::MemoryError, 10),
            (KernReturn::InvalidTask, 16),
            (KernReturn::InvalidValue, 18),
            (KernReturn::InvalidHost, 22),
            (KernReturn::InvalidObject, 29),
            (KernReturn::NotSupported, 46),
        ];
        for (kr, code) in table {
            assert_eq!(kr.code(), code);
        }
    }
}
