//! Tasks and threads: each task owns a VM map (and through it a pmap address space) and a
//! handle table; each thread runs in ring 3 on a kernel stack of its own.
//!
//! # Locks
//!
//! Three locks, never nested: the task table ([`TASKS`]), the scheduler (`sched`) and the
//! VM system (`vm_system`). Code copies what it needs out of one before taking another.

pub mod handles;
pub mod loader;
pub mod sched;

use crate::sync::IrqMutex;
use crate::vm_system;
use alloc::collections::BTreeMap;
use alloc::string::String;
use handles::{Handle, HandleTable};
use vm::api::{USER_MAX, USER_MIN};
use crate::arch::exceptions::PageFault;
use vm::{Access, FaultOutcome, MapId};
use x86_64::structures::idt::PageFaultErrorCode;

/// Identifies a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

/// The status of a task killed by the kernel (an unresolvable fault or exception).
pub const KILLED_STATUS: i32 = -1;

/// A task: an address space and the handles it holds.
pub struct Task {
    /// Its name, for reports.
    pub name: String,
    /// Its VM map.
    pub map: MapId,
    /// Its handles.
    pub handles: HandleTable,
    /// Set when the task has ended.
    pub exit_status: Option<i32>,
}

/// Every task, by id.
pub(crate) static TASKS: IrqMutex<BTreeMap<TaskId, Task>> = IrqMutex::new(BTreeMap::new());
static NEXT_TASK: IrqMutex<u32> = IrqMutex::new(1);

/// Makes a task with an empty user map and a handle to itself (and, for `privileged`, the
/// host handle).
///
/// # Errors
///
/// [`vm::VmError::OutOfMemory`] if there is no frame for the address space.
pub fn create(name: &str, privileged: bool) -> Result<TaskId, vm::VmError> {
    let map = vm_system::lock().create_map(USER_MIN, USER_MAX)?;
    let id = {
        let mut next = NEXT_TASK.lock();
        *next += 1;
        TaskId(*next - 1)
    };
    let mut handles = HandleTable::new();
    handles.insert(Handle::Task(id));
    if privileged {
        handles.insert(Handle::Host);
    }
    TASKS.lock().insert(id, Task { name: name.into(), map, handles, exit_status: None });
    Ok(id)
}

/// The map of task `id`, if it is alive.
pub fn map_of(id: TaskId) -> Option<MapId> {
    TASKS.lock().get(&id).filter(|t| t.exit_status.is_none()).map(|t| t.map)
}

/// The exit status of task `id`, if it has ended.
pub fn exit_status(id: TaskId) -> Option<i32> {
    TASKS.lock().get(&id).and_then(|t| t.exit_status)
}

/// Ends task `id` with `status`: its map is destroyed, returning every frame it held. The
/// task's address space must not be active.
pub fn reap(id: TaskId, status: i32) {
    let map = {
        let mut tasks = TASKS.lock();
        let Some(task) = tasks.get_mut(&id) else { return };
        if task.exit_status.is_some() {
            return;
        }
        task.exit_status = Some(status);
        task.handles = HandleTable::new();
        task.map
    };
    vm_system::lock().destroy_map(map);
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

/// The access a page fault made.
fn access_of(fault: &PageFault) -> Access {
    if fault.error.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        Access::Execute
    } else if fault.error.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
        Access::Write
    } else {
        Access::Read
    }
}

/// Handles a page fault raised in ring 3: resolved through the VM, or else the task ends with
/// a report on the console (the kernel and the other tasks go on).
pub fn user_fault(fault: &PageFault) {
    let outcome = fault_current(fault.address.as_u64(), access_of(fault));
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
    (USER_MIN..USER_MAX).contains(&addr) && fault_current(addr, access_of(fault)) == Some(FaultOutcome::Resolved)
}

/// Ends the running task after an exception it caused, with a report; never returns.
pub fn kill_current(report: core::fmt::Arguments<'_>) -> ! {
    let task = sched::current_task().expect("a ring-3 exception comes from a running thread");
    log::warn!("task {} ({}) killed: {report}", task.0, name(task));
    sched::exit_current(KILLED_STATUS)
}
