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
//! A task that nothing can reach any more ends: one with no thread whose last handle held by
//! another task goes away (dropped with `mach_port_deallocate`, or with its holder's end).
//! The end of a task drops its handles, so its thread-less children end with it, and theirs
//! with them: [`end`] works through a list rather than recursing, however deep the family.
//! Handles to a task are given only to its creator, so references never form a cycle.
//!
//! # Locks
//!
//! Three locks, never nested: the task table ([`TASKS`]), the scheduler (`sched`) and the
//! VM system (`vm_system`). Code copies what it needs out of one before taking another.

pub mod handles;
pub mod loader;
mod pins;
pub mod sched;

pub use pins::{pin_map, pin_named_map, unpin_maps};

use crate::arch::exceptions::PageFault;
use crate::sync::Mutex;
use crate::vm_system;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use crate::ledger::LedgerId;
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
/// destroyed; `refs` counts the `Handle::Task` naming this task in *other* tasks' handle
/// tables, plus the kernel's own references ([`retain`]); a live task with `refs == 0` has a
/// thread (or is being set up by the kernel, which holds it until its first thread starts).
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
    /// The ledger of its family (`crate::ledger`), charged for what it makes the kernel hold.
    pub ledger: LedgerId,
    /// The name of the handle to itself it was given at creation ([`self_name`] checks that
    /// it still holds it there).
    own_name: u32,
    /// System calls running that have pinned its map ([`pin_map`]).
    pins: u32,
    /// The map of an ended task, left to the last of them to destroy.
    doomed_map: Option<MapId>,
}

/// Every task, by id.
pub(crate) static TASKS: Mutex<BTreeMap<TaskId, Task>> = Mutex::new(BTreeMap::new());
static NEXT_TASK: Mutex<u32> = Mutex::new(1);

/// Makes a task with `map` (which it now owns) and a handle to itself (and, for
/// `privileged`, the host handle), in the family of `ledger` (counted as one more member,
/// except for a ledger just opened, which counts its first member).
pub fn create(name: &str, map: MapId, privileged: bool, ledger: Family) -> TaskId {
    let ledger = match ledger {
        Family::New(ledger) => ledger,
        Family::Join(ledger) => {
            crate::ledger::join(ledger);
            ledger
        }
    };
    let id = {
        let mut next = NEXT_TASK.lock();
        *next += 1;
        TaskId(*next - 1)
    };
    let task = Task { name: name.into(), map: Some(map), handles: HandleTable::new(), exit_status: None, faults: 0, refs: 0, ledger, own_name: 0, pins: 0, doomed_map: None };
    TASKS.lock().insert(id, task);
    let own_name = grant(id, Handle::Task(id));
    if let Some(task) = TASKS.lock().get_mut(&id) {
        task.own_name = own_name;
    }
    if privileged {
        let name = grant(id, Handle::Host);
        debug_assert_eq!(name, machvm_abi::vm::INIT_HOST_PRIV);
    }
    id
}

/// Which family a new task joins.
#[derive(Clone, Copy, Debug)]
pub enum Family {
    /// A family of its own, with a ledger just opened.
    New(LedgerId),
    /// Its creator's.
    Join(LedgerId),
}

/// Makes a task with an empty user map, heading a family of its own.
///
/// # Errors
///
/// [`vm::VmError::OutOfMemory`] if there is no frame for the address space, or no ledger.
pub fn create_empty(name: &str, privileged: bool) -> Result<TaskId, vm::VmError> {
    let ledger = crate::ledger::open().ok_or(vm::VmError::OutOfMemory)?;
    let map = crate::ledger::charged_to(ledger, || vm_system::lock().create_map(USER_MIN, USER_MAX));
    let map = map.inspect_err(|_| crate::ledger::leave(ledger))?;
    Ok(crate::ledger::charged_to(ledger, || create(name, map, privileged, Family::New(ledger))))
}

/// The ledger of task `id`'s family (the kernel's if there is no such task).
pub fn ledger_of(id: TaskId) -> LedgerId {
    TASKS.lock().get(&id).map_or(crate::ledger::KERNEL, |t| t.ledger)
}

/// Tasks in one family, at most: a quarter of the task table.
pub const FAMILY_TASKS: u32 = (crate::limits::MAX_TASKS / 4) as u32;

/// Threads in one family, at most: a quarter of the thread limit.
pub const FAMILY_THREADS: u32 = (crate::limits::MAX_THREADS / 4) as u32;

/// Gives `holder` a handle; returns its name.
pub fn grant(holder: TaskId, handle: Handle) -> u32 {
    let mut tasks = TASKS.lock();
    if let Some(t) = handle.other_task(holder) {
        tasks.get_mut(&t).expect("a handle names an existing task").refs += 1;
    }
    tasks.get_mut(&holder).expect("the holder exists").handles.insert(handle)
}

/// Takes the handle `name` away from `holder`; returns it.
pub fn revoke(holder: TaskId, name: u32) -> Option<Handle> {
    let (handle, unreachable) = {
        let mut tasks = TASKS.lock();
        let handle = tasks.get_mut(&holder)?.handles.remove(name)?;
        let unreachable = handle.other_task(holder).and_then(|t| drop_ref(&mut tasks, t));
        (handle, unreachable)
    };
    release_vm_handle(handle);
    end_unreachable(unreachable.into_iter().collect());
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
    let unreachable = drop_ref(&mut TASKS.lock(), id);
    end_unreachable(unreachable.into_iter().collect());
}

/// Drops one reference to `id`: the record goes once nothing names an ended task; returns
/// `id` if it is alive and nothing outside it names it any more (it ends if it has no thread).
fn drop_ref(tasks: &mut BTreeMap<TaskId, Task>, id: TaskId) -> Option<TaskId> {
    let task = tasks.get_mut(&id).expect("a handle names an existing task");
    task.refs -= 1;
    if task.refs > 0 {
        return None;
    }
    if task.exit_status.is_none() {
        return Some(id);
    }
    if task.map.is_none() && task.pins == 0 {
        remove_record(tasks, id);
    }
    None
}

/// Removes the record of an ended task that nothing names; its family has one member less.
fn remove_record(tasks: &mut BTreeMap<TaskId, Task>, id: TaskId) {
    if let Some(task) = tasks.remove(&id) {
        crate::ledger::leave(task.ledger);
    }
}

/// Ends each task of `candidates` that is still alive, unnamed and thread-less, and the tasks
/// that become so as a result (a list, not recursion: a family can be as deep as the task
/// limit).
fn end_unreachable(mut candidates: Vec<TaskId>) {
    while let Some(id) = candidates.pop() {
        let unnamed = TASKS.lock().get(&id).is_some_and(|t| t.refs == 0 && t.exit_status.is_none());
        if unnamed && !sched::has_threads(id) {
            log::debug!("task {} ({}) ended: unreachable", id.0, name(id));
            candidates.extend(end_one(id, KILLED_STATUS));
        }
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
    tasks.get(&holder).is_some_and(|t| t.handles.len() < crate::limits::MAX_HANDLES)
}

/// The map of task `id`, if it is alive.
pub fn map_of(id: TaskId) -> Option<MapId> {
    TASKS.lock().get(&id).filter(|t| t.exit_status.is_none()).and_then(|t| t.map)
}

/// The exit status of task `id`, if it has ended.
pub fn exit_status(id: TaskId) -> Option<i32> {
    TASKS.lock().get(&id).and_then(|t| t.exit_status)
}

/// The exit status of task `id` once it has ended and its map is destroyed (every frame it
/// held is back): what `task_wait` waits for.
pub fn finished(id: TaskId) -> Option<i32> {
    TASKS.lock().get(&id).and_then(|t| t.exit_status.filter(|_| t.map.is_none() && t.doomed_map.is_none()))
}

/// Ends task `id` with `status` (nothing if it has already ended): records the status, drops
/// its handles and kills its threads; destroys its map unless it is the running task, whose
/// map the scheduler destroys after switching away ([`release_map`]).
///
/// Its thread-less children that nothing else names end with it (see the module docs).
pub fn end(id: TaskId, status: i32) {
    end_unreachable(end_one(id, status));
}

/// Ends task `id` alone; returns the tasks its dropped handles left unnamed.
fn end_one(id: TaskId, status: i32) -> Vec<TaskId> {
    let handles = {
        let mut tasks = TASKS.lock();
        let Some(task) = tasks.get_mut(&id).filter(|t| t.exit_status.is_none()) else { return Vec::new() };
        task.exit_status = Some(status);
        core::mem::take(&mut task.handles)
    };
    let unreachable = {
        let mut tasks = TASKS.lock();
        let named = handles.iter().filter_map(|h| h.other_task(id));
        named.filter_map(|t| drop_ref(&mut tasks, t)).collect()
    };
    for handle in handles.iter() {
        release_vm_handle(handle);
    }
    if !sched::task_ended(id) {
        release_map(id);
    }
    unreachable
}

/// The last thread of task `id` has been freed: a task that has not ended (its threads all
/// exited) ends now with status 0; an ended one loses its map.
pub fn last_thread_gone(id: TaskId) {
    if exit_status(id).is_none() {
        end(id, 0);
    } else {
        release_map(id);
    }
}

/// Destroys the map of ended task `id` (once), returning every frame it held. Its address
/// space must not be active.
///
/// While system calls of other tasks have the map pinned ([`pin_map`]), it only stops being
/// the task's: the last of them destroys it when it unpins.
pub fn release_map(id: TaskId) {
    let map = {
        let mut tasks = TASKS.lock();
        let Some(task) = tasks.get_mut(&id) else { return };
        let map = task.map.take();
        if task.pins > 0 {
            task.doomed_map = map;
            return;
        }
        if task.refs == 0 {
            remove_record(&mut tasks, id);
        }
        map
    };
    if let Some(map) = map {
        vm_system::lock().destroy_map(map).expect("a task's map is destroyed once, when the task is taken out of the table");
    }
    sched::task_finished(id);
}

/// Resolves a page fault at `addr` in the current task's map: with the VM shared when the
/// fault is one of the common cases (`Vm::fault_shared`, side by side with faults on other
/// processors), else with it exclusive. Returns the outcome, or `None` when no task is
/// running. A fault may take frames down to half the heap's reserve
/// (`memory::fault_starts`), as its gate allows (`limits::heap_allows_fault`).
pub fn fault_current(addr: u64, access: Access) -> Option<FaultOutcome> {
    let task = sched::current_task()?;
    let map = map_of(task)?;
    {
        let vm = vm_system::read();
        crate::memory::fault_starts();
        if let Some(outcome) = vm.fault_shared(map, addr, access) {
            log::trace!(target: "fault", "task {} {access:?} {addr:#x}: {outcome:?} (shared)", task.0);
            return Some(outcome);
        }
    }
    let mut vm = vm_system::lock();
    crate::memory::fault_starts();
    let outcome = vm.fault(map, addr, access);
    log::trace!(target: "fault", "task {} {access:?} {addr:#x}: {outcome:?} (exclusive)", task.0);
    Some(outcome)
}

/// The name of task `id`, for reports.
pub fn name(id: TaskId) -> String {
    TASKS.lock().get(&id).map(|t| t.name.clone()).unwrap_or_default()
}

/// Handles a page fault raised in ring 3: resolved through the VM, or else the task ends with
/// a report on the console (the kernel and the other tasks go on). An `implicit` supervisor
/// access (the CPU touching a present user page as a supervisor for a ring-3 instruction)
/// cannot be resolved and ends the task at once.
pub fn user_fault(fault: &PageFault, implicit: bool) {
    if let Some(task) = sched::current_task() {
        if let Some(t) = TASKS.lock().get_mut(&task) {
            t.faults += 1;
        }
    }
    if implicit {
        kill_current(format_args!("supervisor-mode {} of {:#x} on behalf of code at {:#x}: refused by SMAP", fault.access(), fault.address.as_u64(), fault.ip.as_u64()));
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

/// The name task `id` has for itself (`mach_task_self`), 0 if it holds none: O(1) while it
/// holds the name it was given at creation, which is the usual case; otherwise the first
/// such name in its table (a task that gave its own name away pays for the search itself).
pub fn self_name(id: TaskId) -> u32 {
    let tasks = TASKS.lock();
    let Some(task) = tasks.get(&id) else { return 0 };
    let own = Handle::Task(id);
    if task.handles.get(task.own_name) == Some(own) {
        return task.own_name;
    }
    task.handles.find(own).unwrap_or(0)
}
