//! Tasks and threads: each task owns a VM map (and through it a pmap address space) and a
//! handle table; each thread runs in ring 3 on a kernel stack of its own.
//!
//! A task's life: [`create`] (an empty map, or one built from a parent's by inheritance) →
//! threads start ([`sched::spawn`]) → [`end`] (its own exit, a fault it cannot survive, or
//! `task_terminate`): the status is recorded, its handles are dropped, its threads die and
//! its map is destroyed, returning every frame (at once, or, for the running task, once the
//! scheduler has switched away from its address space). The record stays while some handle
//! names the task, so that its creator can read the status.
//!
//! # Locks
//!
//! Three locks, never nested: the task table ([`TASKS`]), the scheduler (`sched`) and the
//! VM system (`vm_system`). Code copies what it needs out of one before taking another.

pub mod handles;
pub mod loader;
pub mod sched;

use crate::arch::exceptions::PageFault;
use crate::sync::IrqMutex;
use crate::vm_system;
use alloc::collections::BTreeMap;
use alloc::string::String;
use handles::{Handle, HandleTable};
use vm::api::{USER_MAX, USER_MIN};
use vm::{Access, FaultOutcome, MapId};

/// Identifies a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

/// The status of a task killed by the kernel (an unresolvable fault or exception) or
/// terminated by `task_terminate`.
pub const KILLED_STATUS: i32 = -1;

/// A task: an address space and the handles it holds.
///
/// Invariants: `map` is `Some` while the task is alive, and after its end until the map is
/// destroyed; `refs` counts the `Handle::Task` naming this task in every handle table, plus
/// the kernel's own references ([`retain`]).
pub struct Task {
    /// Its name, for reports.
    pub name: String,
    /// Its VM map.
    map: Option<MapId>,
    /// Its handles.
    pub handles: HandleTable,
    /// Set when the task has ended.
    pub exit_status: Option<i32>,
    /// User page faults taken.
    pub faults: u64,
    refs: u32,
}

/// Every task, by id.
pub(crate) static TASKS: IrqMutex<BTreeMap<TaskId, Task>> = IrqMutex::new(BTreeMap::new());
static NEXT_TASK: IrqMutex<u32> = IrqMutex::new(1);

/// Makes a task with `map` (which it now owns) and a handle to itself (and, for
/// `privileged`, the host handle).
pub fn create(name: &str, map: MapId, privileged: bool) -> TaskId {
    let id = {
        let mut next = NEXT_TASK.lock();
        *next += 1;
        TaskId(*next - 1)
    };
    let task = Task { name: name.into(), map: Some(map), handles: HandleTable::new(), exit_status: None, faults: 0, refs: 0 };
    TASKS.lock().insert(id, task);
    grant(id, Handle::Task(id));
    if privileged {
        let name = grant(id, Handle::Host);
        debug_assert_eq!(name, machvm_abi::vm::INIT_HOST_PRIV);
    }
    id
}

/// Makes a task with an empty user map.
///
/// # Errors
///
/// [`vm::VmError::OutOfMemory`] if there is no frame for the address space.
pub fn create_empty(name: &str, privileged: bool) -> Result<TaskId, vm::VmError> {
    let map = vm_system::lock().create_map(USER_MIN, USER_MAX)?;
    Ok(create(name, map, privileged))
}

/// Gives `holder` a handle; returns its name.
pub fn grant(holder: TaskId, handle: Handle) -> u32 {
    let mut tasks = TASKS.lock();
    if let Handle::Task(t) = handle {
        tasks.get_mut(&t).expect("a handle names an existing task").refs += 1;
    }
    tasks.get_mut(&holder).expect("the holder exists").handles.insert(handle)
}

/// Takes the handle `name` away from `holder`; returns it.
pub fn revoke(holder: TaskId, name: u32) -> Option<Handle> {
    let handle = {
        let mut tasks = TASKS.lock();
        let handle = tasks.get_mut(&holder)?.handles.remove(name)?;
        if let Handle::Task(t) = handle {
            drop_ref(&mut tasks, t);
        }
        handle
    };
    release_vm_handle(handle);
    Some(handle)
}

/// Drops what a memory-entry or copy handle holds in the VM.
fn release_vm_handle(handle: Handle) {
    match handle {
        Handle::MemoryEntry(id) => vm_system::lock().release_named(id),
        Handle::Copy(id) => vm_system::lock().copy_discard(id),
        Handle::Task(_) | Handle::Host => {}
    }
}

/// Removes the copy handle `name` from `holder`'s table without discarding the copy (a call
/// consumed it). Other handles are left alone.
pub fn forget_copy_handle(holder: TaskId, name: u32) {
    let mut tasks = TASKS.lock();
    if let Some(task) = tasks.get_mut(&holder) {
        if matches!(task.handles.get(name), Some(Handle::Copy(_))) {
            task.handles.remove(name);
        }
    }
}

/// Keeps the record of task `id` (for its exit status) until [`forget`]: a reference held
/// by the kernel rather than by a handle.
pub fn retain(id: TaskId) {
    if let Some(task) = TASKS.lock().get_mut(&id) {
        task.refs += 1;
    }
}

/// Drops a reference taken with [`retain`].
pub fn forget(id: TaskId) {
    drop_ref(&mut TASKS.lock(), id);
}

fn drop_ref(tasks: &mut BTreeMap<TaskId, Task>, id: TaskId) {
    let task = tasks.get_mut(&id).expect("a handle names an existing task");
    task.refs -= 1;
    if task.refs == 0 && task.exit_status.is_some() && task.map.is_none() {
        tasks.remove(&id);
    }
}

/// Whether one more task, and one more handle in `holder`'s table, fit the limits
/// (`crate::limits`).
pub fn room_for_task_and_handle(holder: TaskId) -> bool {
    let tasks = TASKS.lock();
    tasks.len() < crate::limits::MAX_TASKS && room_in(&tasks, holder)
}

/// Whether one more handle fits in `holder`'s table.
pub fn room_for_handle(holder: TaskId) -> bool {
    room_in(&TASKS.lock(), holder)
}

fn room_in(tasks: &BTreeMap<TaskId, Task>, holder: TaskId) -> bool {
    tasks.get(&holder).is_some_and(|t| t.handles.iter().count() < crate::limits::MAX_HANDLES)
}

/// The map of task `id`, if it is alive.
pub fn map_of(id: TaskId) -> Option<MapId> {
    TASKS.lock().get(&id).filter(|t| t.exit_status.is_none()).and_then(|t| t.map)
}

/// The exit status of task `id`, if it has ended.
pub fn exit_status(id: TaskId) -> Option<i32> {
    TASKS.lock().get(&id).and_then(|t| t.exit_status)
}

/// Ends task `id` with `status` (nothing if it has already ended): records the status, drops
/// its handles and kills its threads; destroys its map unless it is the running task, whose
/// map the scheduler destroys after switching away ([`release_map`]).
pub fn end(id: TaskId, status: i32) {
    let handles = {
        let mut tasks = TASKS.lock();
        let Some(task) = tasks.get_mut(&id).filter(|t| t.exit_status.is_none()) else { return };
        task.exit_status = Some(status);
        core::mem::take(&mut task.handles)
    };
    {
        let mut tasks = TASKS.lock();
        for handle in handles.iter() {
            if let Handle::Task(t) = handle {
                drop_ref(&mut tasks, t);
            }
        }
    }
    for handle in handles.iter() {
        release_vm_handle(handle);
    }
    sched::task_ended(id);
    if sched::current_task() != Some(id) {
        release_map(id);
    }
}

/// Destroys the map of ended task `id` (once), returning every frame it held. Its address
/// space must not be active.
pub fn release_map(id: TaskId) {
    let map = {
        let mut tasks = TASKS.lock();
        let Some(task) = tasks.get_mut(&id) else { return };
        let map = task.map.take();
        if task.refs == 0 {
            tasks.remove(&id);
        }
        map
    };
    if let Some(map) = map {
        vm_system::lock().destroy_map(map);
    }
}

/// Resolves a page fault at `addr` in the current task's map. Returns the outcome, or `None`
/// when no task is running.
pub fn fault_current(addr: u64, access: Access) -> Option<FaultOutcome> {
    let task = sched::current_task()?;
    let map = map_of(task)?;
    Some(vm_system::lock().fault(map, addr, access))
}

/// The name of task `id`, for reports.
pub fn name(id: TaskId) -> String {
    TASKS.lock().get(&id).map(|t| t.name.clone()).unwrap_or_default()
}

/// Handles a page fault raised in ring 3: resolved through the VM, or else the task ends with
/// a report on the console (the kernel and the other tasks go on).
pub fn user_fault(fault: &PageFault) {
    if let Some(task) = sched::current_task() {
        if let Some(t) = TASKS.lock().get_mut(&task) {
            t.faults += 1;
        }
    }
    if !crate::limits::heap_allows_fault() {
        kill_current(format_args!("{} at {:#x}: out of kernel memory", fault.access(), fault.address.as_u64()));
    }
    let outcome = fault_current(fault.address.as_u64(), fault.access_kind());
    if outcome == Some(FaultOutcome::Resolved) {
        return;
    }
    let why = match outcome {
        Some(FaultOutcome::ProtectionFailure) => "KERN_PROTECTION_FAILURE",
        Some(FaultOutcome::InvalidAddress) => "KERN_INVALID_ADDRESS",
        Some(FaultOutcome::OutOfMemory) => "KERN_RESOURCE_SHORTAGE (out of memory)",
        _ => "no task",
    };
    kill_current(format_args!("EXC_BAD_ACCESS: {} at {:#x} by code at {:#x}: {why}", fault.access(), fault.address.as_u64(), fault.ip.as_u64()));
}

/// Resolves a fault raised by the kernel's checked copies on a user address through the VM.
/// Returns whether the access can be retried.
pub fn resolve_for_kernel(fault: &PageFault) -> bool {
    let addr = fault.address.as_u64();
    (USER_MIN..USER_MAX).contains(&addr) && fault_current(addr, fault.access_kind()) == Some(FaultOutcome::Resolved)
}

/// Ends the running task after an exception it caused, with a report; never returns.
pub fn kill_current(report: core::fmt::Arguments<'_>) -> ! {
    let task = sched::current_task().expect("a ring-3 exception comes from a running thread");
    log::warn!("task {} ({}) killed: {report}", task.0, name(task));
    sched::exit_current(KILLED_STATUS)
}
