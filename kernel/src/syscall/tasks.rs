//! The task calls: `task_create`, `thread_create_running`, `task_terminate`, `task_wait`,
//! `task_info` and `mach_port_deallocate`.

use super::{caller, target_task, user, KernResult};
use crate::task::{self, handles::Handle, sched};
use crate::vm_system;
use machvm_abi::kern::*;
use machvm_abi::vm::TaskBasicInfo;
use vm::api::USER_MAX;
use vm::pmap::Pmap;
use x86_64::VirtAddr;

/// `task_create(parent, inherit_memory, *child)`: a new task whose map is built from the
/// parent's by inheritance (or empty); the caller receives a handle to it. A fork allocates
/// in proportion to the parent's entries: refused first unless the heap and the caller's
/// quota have room for its estimate (`limits::fork_bytes`).
pub fn task_create(parent: u64, inherit_memory: u64, child_ptr: u64) -> KernResult {
    let parent = target_task(parent)?;
    let parent_map = task::pin_map(parent).ok_or(KERN_INVALID_TASK)?;
    user::check_writable_u64(child_ptr)?;
    if !task::room_for_task_and_handle(caller()) {
        return Err(KERN_RESOURCE_SHORTAGE);
    }
    if inherit_memory != 0 {
        let entries = vm_system::read().map(parent_map).entry_count();
        if !crate::limits::heap_allows(crate::limits::fork_bytes(entries)) {
            return Err(KERN_RESOURCE_SHORTAGE);
        }
    }
    let family = child_family()?;
    let map = {
        let mut vm = vm_system::lock();
        let result = if inherit_memory != 0 { vm.fork(parent_map) } else { vm.create_map(vm::api::USER_MIN, USER_MAX) };
        result.map_err(|_| {
            if let task::Family::New(ledger) = family {
                crate::ledger::leave(ledger);
            }
            KERN_RESOURCE_SHORTAGE
        })?
    };
    let name = task::name(parent);
    let child = task::create(&name, map, false, family);
    let handle = task::grant(caller(), Handle::Task(child));
    if let Err(e) = user::write_u64(child_ptr, u64::from(handle)) {
        task::revoke(caller(), handle);
        task::end(child, task::KILLED_STATUS);
        return Err(e);
    }
    Ok(())
}

/// The family a child of the caller joins: a new one if the caller holds the host handle
/// (init's children each head a family), the caller's own otherwise, if it has room.
fn child_family() -> Result<task::Family, kern_return_t> {
    let me = caller();
    if super::with_handles(|h| h.find(Handle::Host)).is_some() {
        return crate::ledger::open().map(task::Family::New).ok_or(KERN_RESOURCE_SHORTAGE);
    }
    let ledger = task::ledger_of(me);
    if crate::ledger::members(ledger) >= task::FAMILY_TASKS {
        return Err(KERN_RESOURCE_SHORTAGE);
    }
    Ok(task::Family::Join(ledger))
}

/// `thread_create_running(task, entry, stack, arg)`: starts a thread in `task` at `entry` with
/// stack pointer `stack` and `arg` as its first argument. No kernel stack to be had (every
/// slot taken, or no free frame): `KERN_RESOURCE_SHORTAGE`.
pub fn thread_create_running(task_name: u64, entry: u64, stack: u64, arg: u64) -> KernResult {
    let task = target_task(task_name)?;
    if task::map_of(task).is_none() {
        return Err(KERN_INVALID_TASK);
    }
    if entry >= USER_MAX || stack > USER_MAX {
        return Err(KERN_INVALID_ADDRESS);
    }
    let family_threads = crate::ledger::threads(task::ledger_of(task));
    if sched::thread_count() >= crate::limits::MAX_THREADS || family_threads >= task::FAMILY_THREADS {
        return Err(KERN_RESOURCE_SHORTAGE);
    }
    sched::spawn(task, VirtAddr::new(entry), VirtAddr::new(stack), arg).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
    Ok(())
}

/// `task_terminate(task)`: ends the task (status -1), releasing everything it held.
pub fn task_terminate(task_name: u64) -> KernResult {
    let task = target_task(task_name)?;
    if task::map_of(task).is_none() {
        return Err(KERN_INVALID_TASK);
    }
    if task == caller() {
        sched::exit_current(task::KILLED_STATUS);
    }
    task::end(task, task::KILLED_STATUS);
    Ok(())
}

/// `task_wait(task, *status)`: waits until the task has ended and every frame it held is
/// back (its threads may still be leaving other processors when it ends), then writes its
/// status. A task
/// that has no thread would never end by itself: `KERN_FAILURE`. Waiting for oneself:
/// `KERN_INVALID_ARGUMENT`.
pub fn task_wait(task_name: u64, status_ptr: u64) -> KernResult {
    let task = target_task(task_name)?;
    if task == caller() {
        return Err(KERN_INVALID_ARGUMENT);
    }
    user::read_u64(status_ptr)?;
    loop {
        if let Some(status) = task::finished(task) {
            return user::write_u64(status_ptr, status as i64 as u64);
        }
        if task::exit_status(task).is_none() && !sched::has_threads(task) {
            return Err(KERN_FAILURE);
        }
        sched::block_on(task);
    }
}

/// `task_info(task, *info)`.
pub fn task_info(task_name: u64, info_ptr: u64) -> KernResult {
    let task = target_task(task_name)?;
    let map = task::pin_map(task).ok_or(KERN_INVALID_TASK)?;
    let faults = task::TASKS.lock().get(&task).map_or(0, |t| t.faults);
    let info = {
        let vm = vm_system::read();
        let counts = vm.pmap().space_counts(vm.space(map));
        let m = vm.map(map);
        TaskBasicInfo {
            faults,
            resident_count: counts.resident,
            wired_count: counts.wired,
            virtual_size: m.mapped_bytes(),
            region_count: m.entry_count() as u64,
        }
    };
    user::write_plain(info_ptr, &info)
}

/// `mach_port_deallocate(task, name)`: the task (the caller or one it holds) loses the handle.
pub fn mach_port_deallocate(task_name: u64, name: u64) -> KernResult {
    let task = target_task(task_name)?;
    let name = u32::try_from(name).map_err(|_| KERN_INVALID_ARGUMENT)?;
    task::revoke(task, name).map(|_| ()).ok_or(KERN_INVALID_ARGUMENT)
}
