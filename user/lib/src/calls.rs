//! The system calls, with Mach names, types and argument order.

use crate::syscall::syscall;
use machvm_abi::kern::kern_return_t;
use machvm_abi::vm::*;
use machvm_abi::{Sysno, VmMapArgs};

fn kr(raw: u64) -> kern_return_t {
    raw as kern_return_t
}

fn ptr<T>(p: &mut T) -> u64 {
    p as *mut T as u64
}

/// The caller's handle for itself.
pub fn mach_task_self() -> mach_port_t {
    // SAFETY: the call takes no argument.
    unsafe { syscall(Sysno::MachTaskSelf, [0; 6]) as mach_port_t }
}

/// The privileged host handle, as the init task holds it.
pub fn mach_host_priv() -> mach_port_t {
    INIT_HOST_PRIV
}

/// Prints `text` on the console.
pub fn console_write(text: &[u8]) -> kern_return_t {
    // SAFETY: the kernel only reads `text`.
    kr(unsafe { syscall(Sysno::ConsoleWrite, [text.as_ptr() as u64, text.len() as u64, 0, 0, 0, 0]) })
}

/// Ends the calling task with `status`.
pub fn task_exit(status: i32) -> ! {
    // SAFETY: the call takes a number and does not return.
    unsafe { syscall(Sysno::TaskExit, [status as u64, 0, 0, 0, 0, 0]) };
    unreachable!("task_exit returned")
}

/// Allocates zero-filled memory in `target_task`: at `*address` (`VM_FLAGS_FIXED`) or
/// anywhere (`VM_FLAGS_ANYWHERE`, which sets `*address`).
pub fn vm_allocate(target_task: mach_port_t, address: &mut vm_address_t, size: vm_size_t, flags: i32) -> kern_return_t {
    // SAFETY: the kernel reads and writes `*address`, a live u64.
    kr(unsafe { syscall(Sysno::VmAllocate, [target_task.into(), ptr(address), size, flags as u64, 0, 0]) })
}

/// Removes every mapping in the range.
pub fn vm_deallocate(target_task: mach_port_t, address: vm_address_t, size: vm_size_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmDeallocate, [target_task.into(), address, size, 0, 0, 0]) })
}

/// Sets the current (or, with `set_maximum`, the maximum) protection of the range.
pub fn vm_protect(target_task: mach_port_t, address: vm_address_t, size: vm_size_t, set_maximum: boolean_t, new_protection: vm_prot_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmProtect, [target_task.into(), address, size, set_maximum.into(), new_protection as u64, 0]) })
}

/// Sets the inheritance of the range.
pub fn vm_inherit(target_task: mach_port_t, address: vm_address_t, size: vm_size_t, new_inheritance: vm_inherit_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmInherit, [target_task.into(), address, size, new_inheritance.into(), 0, 0]) })
}

/// Stores an access-pattern hint on the range.
pub fn vm_behavior_set(target_task: mach_port_t, address: vm_address_t, size: vm_size_t, behavior: vm_behavior_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmBehaviorSet, [target_task.into(), address, size, behavior as u64, 0, 0]) })
}

/// Synchronises the range with its backing store (anonymous memory is always in sync).
pub fn vm_msync(target_task: mach_port_t, address: vm_address_t, size: vm_size_t, sync_flags: i32) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmMsync, [target_task.into(), address, size, sync_flags as u64, 0, 0]) })
}

/// Describes the region containing `*address`, or the next one above it: sets `*address`,
/// `*size` and `*info`.
pub fn vm_region(target_task: mach_port_t, address: &mut vm_address_t, size: &mut vm_size_t, info: &mut VmRegionInfo) -> kern_return_t {
    // SAFETY: the kernel reads `*address` and writes the three live out-parameters.
    kr(unsafe { syscall(Sysno::VmRegion, [target_task.into(), ptr(address), ptr(size), ptr(info), 0, 0]) })
}

/// Wires the range for `access` (or, with `VM_PROT_NONE`, removes one wiring).
pub fn vm_wire(host_priv: mach_port_t, target_task: mach_port_t, address: vm_address_t, size: vm_size_t, access: vm_prot_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmWire, [host_priv.into(), target_task.into(), address, size, access as u64, 0]) })
}

/// Reads the VM counters.
pub fn vm_statistics(stats: &mut VmStatistics) -> kern_return_t {
    // SAFETY: the kernel writes `*stats`, a live struct.
    kr(unsafe { syscall(Sysno::VmStatistics, [ptr(stats), 0, 0, 0, 0, 0]) })
}

/// Creates a task whose memory is inherited from `parent_task` (`inherit_memory` TRUE: SHARE,
/// COPY and NONE regions as set by `vm_inherit`) or empty; `*child_task` receives its handle.
pub fn task_create(parent_task: mach_port_t, inherit_memory: boolean_t, child_task: &mut mach_port_t) -> kern_return_t {
    let mut name = 0u64;
    // SAFETY: the kernel writes `name`, a live u64.
    let result = kr(unsafe { syscall(Sysno::TaskCreate, [parent_task.into(), inherit_memory.into(), ptr(&mut name), 0, 0, 0]) });
    if result == machvm_abi::kern::KERN_SUCCESS {
        *child_task = name as mach_port_t;
    }
    result
}

/// Starts a thread in `task` at `entry` with stack pointer `stack` and `arg` as its argument.
pub fn thread_create_running(task: mach_port_t, entry: extern "C" fn(u64) -> !, stack: vm_address_t, arg: u64) -> kern_return_t {
    // SAFETY: the arguments are numbers; the new thread runs in `task`'s address space.
    kr(unsafe { syscall(Sysno::ThreadCreateRunning, [task.into(), entry as *const () as u64, stack, arg, 0, 0]) })
}

/// Ends `task` (status -1); the caller's own task ends at once.
pub fn task_terminate(task: mach_port_t) -> kern_return_t {
    // SAFETY: the argument is a number.
    kr(unsafe { syscall(Sysno::TaskTerminate, [task.into(), 0, 0, 0, 0, 0]) })
}

/// Waits until `task` has ended and sets `*status` to its exit status.
pub fn task_wait(task: mach_port_t, status: &mut i32) -> kern_return_t {
    let mut raw = 0u64;
    // SAFETY: the kernel writes `raw`, a live u64.
    let result = kr(unsafe { syscall(Sysno::TaskWait, [task.into(), ptr(&mut raw), 0, 0, 0, 0]) });
    if result == machvm_abi::kern::KERN_SUCCESS {
        *status = raw as i32;
    }
    result
}

/// Reads what the kernel knows of `task`.
pub fn task_info(task: mach_port_t, info: &mut TaskBasicInfo) -> kern_return_t {
    // SAFETY: the kernel writes `*info`, a live struct.
    kr(unsafe { syscall(Sysno::TaskInfo, [task.into(), ptr(info), 0, 0, 0, 0]) })
}

/// Drops the handle `name` from `task`'s table.
pub fn mach_port_deallocate(task: mach_port_t, name: mach_port_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::MachPortDeallocate, [task.into(), name.into(), 0, 0, 0, 0]) })
}

/// The Hurd's allocation (seed 004): errno results (`EINVAL`, `EEXIST`, `ENOSPC`, `ENOMEM`).
/// Flags: `VM_HERE` (exactly at `*address`), `VM_ZEROFILL`; `map_now`: every page is
/// resident and mapped before the call returns.
pub fn hurd_vm_allocate(address: &mut vm_address_t, size: vm_size_t, flags: u64, map_now: bool) -> i32 {
    // SAFETY: the kernel reads and writes `*address`, a live u64.
    unsafe { syscall(Sysno::HurdVmAllocate, [ptr(address), size, flags, u64::from(map_now), 0, 0]) as i32 }
}

/// The Hurd's deallocation (seed 004): holes are ignored; errno results.
pub fn hurd_vm_deallocate(address: vm_address_t, size: vm_size_t) -> i32 {
    // SAFETY: the arguments are numbers.
    unsafe { syscall(Sysno::HurdVmDeallocate, [address, size, 0, 0, 0, 0]) as i32 }
}

/// Maps memory into `target_task` (seed 002): `object` is a memory-entry handle (or
/// `MACH_PORT_NULL` for zero-filled memory) mapped from byte `offset`, shared (`copy` FALSE)
/// or as a copy-on-write copy (TRUE); `*address` receives where.
#[allow(clippy::too_many_arguments)]
pub fn vm_map(
    target_task: mach_port_t,
    address: &mut vm_address_t,
    size: vm_size_t,
    mask: vm_address_t,
    flags: i32,
    object: mach_port_t,
    offset: vm_offset_t,
    copy: boolean_t,
    cur_protection: vm_prot_t,
    max_protection: vm_prot_t,
    inheritance: vm_inherit_t,
) -> kern_return_t {
    let mut args = VmMapArgs {
        address: *address,
        size,
        mask,
        offset,
        target_task,
        flags,
        object,
        copy,
        cur_protection,
        max_protection,
        inheritance,
        reserved: 0,
    };
    // SAFETY: the kernel reads and writes `args`, a live struct.
    let result = kr(unsafe { syscall(Sysno::VmMap, [ptr(&mut args), 0, 0, 0, 0, 0]) });
    if result == machvm_abi::kern::KERN_SUCCESS {
        *address = args.address;
    }
    result
}

/// Makes a memory-entry handle for `[offset, offset + *size)` of `target_task` (or of
/// `parent`'s window, or, with `MAP_MEM_NAMED_CREATE` in `permission`, for a new anonymous
/// object); `*size` is rounded to pages.
pub fn mach_make_memory_entry(
    target_task: mach_port_t,
    size: &mut vm_size_t,
    offset: vm_offset_t,
    permission: vm_prot_t,
    object_handle: &mut mach_port_t,
    parent_entry: mach_port_t,
) -> kern_return_t {
    let mut handle = 0u64;
    let args = [target_task.into(), ptr(size), offset, permission as u32 as u64, ptr(&mut handle), parent_entry.into()];
    // SAFETY: the kernel reads and writes `*size` and `handle`, live u64s.
    let result = kr(unsafe { syscall(Sysno::MachMakeMemoryEntry, args) });
    if result == machvm_abi::kern::KERN_SUCCESS {
        *object_handle = handle as mach_port_t;
    }
    result
}

/// Reads or applies a machine attribute of the range (`MATTR_CACHE` with `MATTR_VAL_GET` or a
/// flush value).
pub fn vm_machine_attribute(target_task: mach_port_t, address: vm_address_t, size: vm_size_t, attribute: u32, value: &mut i32) -> kern_return_t {
    let mut raw = *value as u32 as u64;
    // SAFETY: the kernel reads and writes `raw`, a live u64.
    let result = kr(unsafe { syscall(Sysno::VmMachineAttribute, [target_task.into(), address, size, attribute.into(), ptr(&mut raw), 0]) });
    if result == machvm_abi::kern::KERN_SUCCESS {
        *value = raw as i32;
    }
    result
}

/// Takes a copy of `[address, address + size)` of `target_task` (a move with `src_destroy`);
/// `*copy` receives its handle (`MACH_PORT_NULL` for an empty copy).
pub fn vm_copyin(target_task: mach_port_t, address: vm_address_t, size: vm_size_t, src_destroy: boolean_t, copy: &mut mach_port_t) -> kern_return_t {
    let mut raw = 0u64;
    // SAFETY: the kernel writes `raw`, a live u64.
    let result = kr(unsafe { syscall(Sysno::VmCopyin, [target_task.into(), address, size, src_destroy.into(), ptr(&mut raw), 0]) });
    if result == machvm_abi::kern::KERN_SUCCESS {
        *copy = raw as mach_port_t;
    }
    result
}

/// Places `copy` in new memory of `target_task` and consumes it; `*address` receives where.
pub fn vm_copyout(target_task: mach_port_t, copy: mach_port_t, address: &mut vm_address_t) -> kern_return_t {
    // SAFETY: the kernel reads and writes `*address`, a live u64.
    kr(unsafe { syscall(Sysno::VmCopyout, [target_task.into(), copy.into(), ptr(address), 0, 0, 0]) })
}

/// Writes `copy` over existing memory of `target_task` at `address` and consumes it.
pub fn vm_copy_overwrite(target_task: mach_port_t, address: vm_address_t, copy: mach_port_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmCopyOverwrite, [target_task.into(), address, copy.into(), 0, 0, 0]) })
}

/// Drops `copy`.
pub fn vm_copy_discard(copy: mach_port_t) -> kern_return_t {
    // SAFETY: the argument is a number.
    kr(unsafe { syscall(Sysno::VmCopyDiscard, [copy.into(), 0, 0, 0, 0, 0]) })
}

/// Copies `size` bytes of `target_task` at `address` into new memory of the caller:
/// `*data` and `*data_count` receive where and how much.
pub fn vm_read(target_task: mach_port_t, address: vm_address_t, size: vm_size_t, data: &mut vm_address_t, data_count: &mut vm_size_t) -> kern_return_t {
    // SAFETY: the kernel reads and writes two live u64s.
    kr(unsafe { syscall(Sysno::VmRead, [target_task.into(), address, size, ptr(data), ptr(data_count), 0]) })
}

/// Writes the caller's `[data, data + data_count)` over `target_task`'s memory at `address`.
pub fn vm_write(target_task: mach_port_t, address: vm_address_t, data: vm_address_t, data_count: vm_size_t) -> kern_return_t {
    // SAFETY: the kernel reads the caller's memory through the VM, checking it.
    kr(unsafe { syscall(Sysno::VmWrite, [target_task.into(), address, data, data_count, 0, 0]) })
}

/// Copies `size` bytes from `source` to `dest` within `target_task`, as if through a
/// temporary.
pub fn vm_copy(target_task: mach_port_t, source: vm_address_t, size: vm_size_t, dest: vm_address_t) -> kern_return_t {
    // SAFETY: the arguments are numbers.
    kr(unsafe { syscall(Sysno::VmCopy, [target_task.into(), source, size, dest, 0, 0]) })
}

/// Maps `[src_address, src_address + size)` of `src_task` into `target_task`, shared (`copy`
/// FALSE) or as a copy; `*target_address` receives where, `*cur_protection` and
/// `*max_protection` the rights common to the whole mapping.
#[allow(clippy::too_many_arguments)]
pub fn vm_remap(
    target_task: mach_port_t,
    target_address: &mut vm_address_t,
    size: vm_size_t,
    mask: vm_address_t,
    flags: i32,
    src_task: mach_port_t,
    src_address: vm_address_t,
    copy: boolean_t,
    cur_protection: &mut vm_prot_t,
    max_protection: &mut vm_prot_t,
    inheritance: vm_inherit_t,
) -> kern_return_t {
    let mut args = machvm_abi::VmRemapArgs {
        target_address: *target_address,
        size,
        mask,
        src_address,
        target_task,
        flags,
        src_task,
        copy,
        cur_protection: 0,
        max_protection: 0,
        inheritance,
        reserved: 0,
    };
    // SAFETY: the kernel reads and writes `args`, a live struct.
    let result = kr(unsafe { syscall(Sysno::VmRemap, [ptr(&mut args), 0, 0, 0, 0, 0]) });
    if result == machvm_abi::kern::KERN_SUCCESS {
        (*target_address, *cur_protection, *max_protection) = (args.target_address, args.cur_protection, args.max_protection);
    }
    result
}

/// The time-stamp counter's ticks per second (measured by the kernel once, on first use).
pub fn clock_tsc_hz(hz: &mut u64) -> kern_return_t {
    // SAFETY: the kernel writes `*hz`, a live u64.
    kr(unsafe { syscall(Sysno::ClockTscHz, [ptr(hz), 0, 0, 0, 0, 0]) })
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the counter, which ring 3 may read.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Ends the calling thread; the last thread of a task ends the task with status 0.
pub fn thread_exit() -> ! {
    // SAFETY: the call takes no argument and does not return.
    unsafe { syscall(Sysno::ThreadExit, [0; 6]) };
    unreachable!("thread_exit returned")
}

/// Gives the processor to another ready thread, if there is one.
pub fn thread_switch() -> kern_return_t {
    // SAFETY: the call takes no argument.
    kr(unsafe { syscall(Sysno::ThreadSwitch, [0; 6]) })
}

/// Sets `*count` to the number of processors running threads.
pub fn host_processors(count: &mut u64) -> kern_return_t {
    // SAFETY: the kernel writes `*count`, a live u64.
    kr(unsafe { syscall(Sysno::HostProcessors, [ptr(count), 0, 0, 0, 0, 0]) })
}

/// Maps `size` bytes of device memory at physical address `phys` into `target_task` (needs
/// the privileged host): `flags` is `VM_FLAGS_ANYWHERE` or `VM_FLAGS_FIXED`, with
/// `VM_DEVICE_WRITE_COMBINING` or `VM_DEVICE_UNCACHED`. RAM is never mapped this way.
pub fn vm_map_device(host_priv: mach_port_t, target_task: mach_port_t, address: &mut vm_address_t, size: vm_size_t, phys: u64, flags: i32) -> kern_return_t {
    // SAFETY: the kernel reads and writes `*address`, a live u64.
    kr(unsafe { syscall(Sysno::VmMapDevice, [host_priv.into(), target_task.into(), ptr(address), size, phys, flags as u64]) })
}

/// Where the boot frame buffer is (needs the privileged host).
pub fn host_framebuffer(host_priv: mach_port_t, info: &mut FramebufferInfo) -> kern_return_t {
    // SAFETY: the kernel writes `*info`, a live struct.
    kr(unsafe { syscall(Sysno::HostFramebuffer, [host_priv.into(), ptr(info), 0, 0, 0, 0]) })
}
