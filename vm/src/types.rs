//! Small value types of the VM interface: inheritance, behaviour, access, placement.

/// What a child task receives of a region at `task_create` (`vm_inherit_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inherit {
    /// The child shares the memory with the parent (`VM_INHERIT_SHARE`, 0).
    Share,
    /// The child gets a copy-on-write copy (`VM_INHERIT_COPY`, 1).
    Copy,
    /// The child gets nothing there (`VM_INHERIT_NONE`, 2).
    None,
}

impl Inherit {
    /// The Mach value's meaning, or `None` for an invalid value.
    pub fn from_raw(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Share),
            1 => Some(Self::Copy),
            2 => Some(Self::None),
            _ => None,
        }
    }

    /// The Mach value.
    pub fn raw(self) -> u32 {
        match self {
            Self::Share => 0,
            Self::Copy => 1,
            Self::None => 2,
        }
    }
}

/// The expected access pattern of a region (`vm_behavior_t`): a hint, stored on entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Behavior {
    /// No particular pattern (`VM_BEHAVIOR_DEFAULT`, 0).
    Default,
    /// Random access (`VM_BEHAVIOR_RANDOM`, 1).
    Random,
    /// Sequential access (`VM_BEHAVIOR_SEQUENTIAL`, 2).
    Sequential,
    /// Will be needed soon (`VM_BEHAVIOR_WILLNEED`, 5).
    WillNeed,
    /// Will not be needed (`VM_BEHAVIOR_DONTNEED`, 6).
    DontNeed,
}

impl Behavior {
    /// The Mach value's meaning, or `None` for an unsupported value.
    pub fn from_raw(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Default),
            1 => Some(Self::Random),
            2 => Some(Self::Sequential),
            5 => Some(Self::WillNeed),
            6 => Some(Self::DontNeed),
            _ => None,
        }
    }

    /// The Mach value.
    pub fn raw(self) -> u32 {
        match self {
            Self::Default => 0,
            Self::Random => 1,
            Self::Sequential => 2,
            Self::WillNeed => 5,
            Self::DontNeed => 6,
        }
    }
}

/// Which protection `protect` sets (Mach's `set_maximum` boolean).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtectTarget {
    /// The current protection; it may not exceed the maximum.
    Current,
    /// The maximum protection; it may only shrink, and the current one shrinks with it.
    Maximum,
}

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl Access {
    /// The strongest access `rights` allow (write, else read, else execute): what faulting a
    /// page in for those rights takes.
    pub fn strongest_in(rights: crate::Prot) -> Self {
        if rights.contains(crate::Prot::WRITE) {
            Self::Write
        } else if rights.contains(crate::Prot::READ) {
            Self::Read
        } else {
            Self::Execute
        }
    }

    /// The right the access needs.
    pub fn needs(self) -> crate::Prot {
        match self {
            Self::Read => crate::Prot::READ,
            Self::Write => crate::Prot::WRITE,
            Self::Execute => crate::Prot::EXECUTE,
        }
    }
}

/// Where new memory goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The lowest free range whose start has no bit of `mask` set (the page bits are implied).
    Anywhere {
        /// Alignment mask (`vm_map`'s `mask`).
        mask: u64,
    },
    /// Exactly here; the range must be free.
    Fixed(crate::Page),
}
