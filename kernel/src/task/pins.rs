//! Maps pinned by the system call running on each processor.
//!
//! A call that names another task's map through a handle pins it ([`pin_named_map`],
//! [`pin_map`]): if another processor ends that task meanwhile, `release_map` leaves the map
//! to the last unpin ([`unpin_maps`], at the end of every call), so no call acts on a
//! destroyed map. A pinning call never blocks, so its pins are released on the processor
//! that took them; each processor's pins are its own (atomics only that processor writes,
//! and no interrupt handler pins), so pinning costs one hold of the task table.

use super::handles::Handle;
use super::{remove_record, sched, Task, TaskId, TASKS};
use crate::arch::percpu::{self, MAX_CPUS};
use crate::vm_system;
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU32, Ordering};
use vm::MapId;

/// Pins one call holds at most (a call names at most two maps; the heap gate's estimate
/// names them once more).
const PINS_PER_CALL: usize = 8;

/// For each processor, the tasks (id + 1; 0 for none) whose maps its running call pinned.
static PINS: [[AtomicU32; PINS_PER_CALL]; MAX_CPUS] = [const { [const { AtomicU32::new(0) }; PINS_PER_CALL] }; MAX_CPUS];
/// For each processor, how many of its slots are used.
static PINNED: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Pins the map of task `id` (alive) under the held task table; `None` if it has none or the
/// call holds [`PINS_PER_CALL`] pins already.
fn pin(tasks: &mut BTreeMap<TaskId, Task>, id: TaskId) -> Option<MapId> {
    let cpu = percpu::index();
    let used = PINNED[cpu].load(Ordering::Relaxed) as usize;
    if used == PINS_PER_CALL {
        return None;
    }
    let task = tasks.get_mut(&id).filter(|t| t.exit_status.is_none())?;
    let map = task.map?;
    task.pins += 1;
    PINS[cpu][used].store(id.0 + 1, Ordering::Relaxed);
    PINNED[cpu].store(used as u32 + 1, Ordering::Relaxed);
    Some(map)
}

/// The map of live task `id`, pinned until the running system call ends.
pub fn pin_map(id: TaskId) -> Option<MapId> {
    pin(&mut TASKS.lock(), id)
}

/// The map of the live task that `caller` names `name`, pinned until the running system call
/// ends: the handle lookup and the pin under one hold of the task table. `None` if the name
/// is not a task handle or the task has ended.
pub fn pin_named_map(caller: TaskId, name: u32) -> Option<MapId> {
    let mut tasks = TASKS.lock();
    let Some(Handle::Task(id)) = tasks.get(&caller)?.handles.get(name) else { return None };
    pin(&mut tasks, id)
}

/// Releases the pins the system call that ran on this processor took: a map whose task has
/// ended since is destroyed by the last.
pub fn unpin_maps() {
    let cpu = percpu::index();
    let used = PINNED[cpu].swap(0, Ordering::Relaxed) as usize;
    for slot in &PINS[cpu][..used] {
        let id = TaskId(slot.swap(0, Ordering::Relaxed) - 1);
        let doomed = {
            let mut tasks = TASKS.lock();
            let Some(task) = tasks.get_mut(&id) else { continue };
            task.pins -= 1;
            if task.pins > 0 {
                continue;
            }
            let doomed = task.doomed_map.take();
            if doomed.is_some() && task.refs == 0 {
                remove_record(&mut tasks, id);
            }
            doomed
        };
        if let Some(map) = doomed {
            vm_system::lock().destroy_map(map).expect("a doomed map is destroyed once, by its last unpin");
            sched::task_finished(id);
        }
    }
}
