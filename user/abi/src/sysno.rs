//! System-call numbers.

/// Every system call, by number (the value in `rax`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Sysno {
    /// `console_write(ptr, len)`: writes bytes to the console.
    ConsoleWrite = 0,
    /// `task_exit(status)`: ends the calling task; does not return.
    TaskExit = 1,
    /// `mach_task_self()`: the caller's handle for itself.
    MachTaskSelf = 2,
    /// `vm_allocate(task, *address, size, flags)`.
    VmAllocate = 10,
    /// `vm_deallocate(task, address, size)`.
    VmDeallocate = 11,
    /// `vm_protect(task, address, size, set_maximum, new_protection)`.
    VmProtect = 12,
    /// `vm_inherit(task, address, size, new_inheritance)`.
    VmInherit = 13,
    /// `vm_region(task, *address, *size, *info)`.
    VmRegion = 14,
    /// `vm_behavior_set(task, address, size, behavior)`.
    VmBehaviorSet = 15,
    /// `vm_wire(host, task, address, size, access)`.
    VmWire = 16,
    /// `vm_msync(task, address, size, flags)`.
    VmMsync = 17,
    /// `vm_statistics(*stats)`: the VM counters (`vm_stat`).
    VmStatistics = 18,
    /// `vm_map(*args)`: the arguments in a [`VmMapArgs`](crate::VmMapArgs) block.
    VmMap = 19,
    /// `mach_make_memory_entry(task, *size, offset, permission, *handle, parent)`.
    MachMakeMemoryEntry = 20,
    /// `vm_machine_attribute(task, address, size, attribute, *value)`.
    VmMachineAttribute = 21,
    /// `vm_copyin(task, address, size, src_destroy, *copy)`.
    VmCopyin = 22,
    /// `vm_copyout(task, copy, *address)`.
    VmCopyout = 23,
    /// `vm_copy_overwrite(task, address, copy)`.
    VmCopyOverwrite = 24,
    /// `vm_copy_discard(copy)`.
    VmCopyDiscard = 25,
    /// `vm_read(task, address, size, *data, *data_count)`.
    VmRead = 26,
    /// `vm_write(task, address, data, data_count)`.
    VmWrite = 27,
    /// `vm_copy(task, source, count, dest)`.
    VmCopy = 28,
    /// `vm_remap(*args)`: the arguments in a [`VmRemapArgs`](crate::vm::VmRemapArgs) block.
    VmRemap = 29,
    /// `task_create(parent, inherit_memory, *child)`.
    TaskCreate = 30,
    /// `thread_create_running(task, entry, stack, arg)`: starts a thread in `task`.
    ThreadCreateRunning = 31,
    /// `task_terminate(task)`.
    TaskTerminate = 32,
    /// `task_wait(task, *status)`: waits for a task to end and reads its status.
    TaskWait = 33,
    /// `task_info(task, *info)`.
    TaskInfo = 34,
    /// `mach_port_deallocate(task, name)`: drops a handle.
    MachPortDeallocate = 35,
    /// `thread_exit()`: ends the calling thread; the last thread of a task ends the task with
    /// status 0.
    ThreadExit = 36,
    /// `thread_switch()`: gives the processor to another ready thread, if there is one.
    ThreadSwitch = 37,
    /// `hurd_vm_allocate(*address, size, flags, map_now)`: an errno result.
    HurdVmAllocate = 40,
    /// `hurd_vm_deallocate(address, size)`: an errno result.
    HurdVmDeallocate = 41,
    /// `clock_tsc_hz(*hz)`: the time-stamp counter's ticks per second.
    ClockTscHz = 50,
    /// `host_processors(*count)`: the number of processors running threads.
    HostProcessors = 51,
    /// `vm_map_device(host_priv, task, *address, size, phys, flags)`: maps device memory
    /// (never RAM) into a task; flags: `VM_FLAGS_ANYWHERE` or `VM_FLAGS_FIXED`, and
    /// `VM_DEVICE_WRITE_COMBINING` or `VM_DEVICE_UNCACHED`.
    VmMapDevice = 52,
    /// `host_framebuffer(host_priv, *info)`: where the boot frame buffer is
    /// (`FramebufferInfo`).
    HostFramebuffer = 53,
}

impl Sysno {
    /// Every call, for tables and tests.
    pub const ALL: [Sysno; 37] = [
        Self::ConsoleWrite,
        Self::TaskExit,
        Self::MachTaskSelf,
        Self::VmAllocate,
        Self::VmDeallocate,
        Self::VmProtect,
        Self::VmInherit,
        Self::VmRegion,
        Self::VmBehaviorSet,
        Self::VmWire,
        Self::VmMsync,
        Self::VmStatistics,
        Self::VmMap,
        Self::MachMakeMemoryEntry,
        Self::VmMachineAttribute,
        Self::VmCopyin,
        Self::VmCopyout,
        Self::VmCopyOverwrite,
        Self::VmCopyDiscard,
        Self::VmRead,
        Self::VmWrite,
        Self::VmCopy,
        Self::VmRemap,
        Self::TaskCreate,
        Self::ThreadCreateRunning,
        Self::TaskTerminate,
        Self::TaskWait,
        Self::TaskInfo,
        Self::MachPortDeallocate,
        Self::ThreadExit,
        Self::ThreadSwitch,
        Self::HurdVmAllocate,
        Self::HurdVmDeallocate,
        Self::ClockTscHz,
        Self::HostProcessors,
        Self::VmMapDevice,
        Self::HostFramebuffer,
    ];

    /// The call with number `raw`, if any.
    pub fn from_raw(raw: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u64 == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_are_distinct() {
        for (i, call) in Sysno::ALL.iter().enumerate() {
            assert_eq!(Sysno::from_raw(*call as u64), Some(*call));
            assert!(Sysno::ALL[..i].iter().all(|other| other != call), "{call:?} listed twice");
        }
        assert_eq!(Sysno::from_raw(9999), None);
    }
}
