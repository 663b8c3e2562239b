//! System-call decoding: the number in `rax` picks the call, the arguments come from the
//! registers of [`machvm_abi`]'s convention, and the result goes back in `rax`.
//!
//! Each Mach call follows one pattern: **check the values** (flags, protections,
//! inheritance: before sizes, per the spec), **resolve the handles**, **sanitize the range**
//! (`vm::api::sanitize`), **operate** on the VM under its lock, and **copy results out**. A
//! call that fails has changed nothing.

mod copies;
mod device;
mod hurd;
mod memory;
mod objects;
mod tasks;
pub mod user;

use crate::arch::syscall::SyscallFrame;
use crate::task::{self, handles::Handle, sched, TaskId};
use machvm_abi::kern::*;
use machvm_abi::Sysno;
use vm::MapId;

/// A call's result: `KERN_SUCCESS` or an error code.
pub type KernResult = Result<(), kern_return_t>;

/// Runs the call the frame asks for and stores its result in `frame.rax`.
pub fn dispatch(frame: &mut SyscallFrame) {
    call(frame);
    task::unpin_maps();
}

fn call(frame: &mut SyscallFrame) {
    let a = frame.args();
    let call = Sysno::from_raw(frame.rax);
    if call.is_some_and(|call| allocates(call) && !crate::limits::heap_allows(heap_estimate(call, &a))) {
        let refused = if call == Some(Sysno::HurdVmAllocate) { ENOMEM } else { KERN_RESOURCE_SHORTAGE };
        frame.rax = i64::from(refused) as u64;
        return;
    }
    let result: i64 = match call {
        None => i64::from(KERN_INVALID_ARGUMENT),
        Some(Sysno::ConsoleWrite) => code(console_write(a[0], a[1])),
        Some(Sysno::TaskExit) => sched::exit_current(a[0] as i32),
        Some(Sysno::ThreadExit) => sched::exit_thread(),
        Some(Sysno::ThreadSwitch) => {
            sched::yield_now();
            i64::from(KERN_SUCCESS)
        }
        Some(Sysno::HostProcessors) => code(user::write_u64(a[0], crate::arch::smp::online() as u64)),
        Some(Sysno::MachTaskSelf) => i64::from(task_self()),
        Some(Sysno::TaskCreate) => code(tasks::task_create(a[0], a[1], a[2])),
        Some(Sysno::ThreadCreateRunning) => code(tasks::thread_create_running(a[0], a[1], a[2], a[3])),
        Some(Sysno::TaskTerminate) => code(tasks::task_terminate(a[0])),
        Some(Sysno::TaskWait) => code(tasks::task_wait(a[0], a[1])),
        Some(Sysno::TaskInfo) => code(tasks::task_info(a[0], a[1])),
        Some(Sysno::MachPortDeallocate) => code(tasks::mach_port_deallocate(a[0], a[1])),
        Some(Sysno::VmMap) => code(objects::vm_map(a[0])),
        Some(Sysno::MachMakeMemoryEntry) => code(objects::mach_make_memory_entry(a[0], a[1], a[2], a[3], a[4], a[5])),
        Some(Sysno::VmMachineAttribute) => code(objects::vm_machine_attribute(a[0], a[1], a[2], a[3], a[4])),
        Some(Sysno::VmCopyin) => code(copies::vm_copyin(a[0], a[1], a[2], a[3], a[4])),
        Some(Sysno::VmCopyout) => code(copies::vm_copyout(a[0], a[1], a[2])),
        Some(Sysno::VmCopyOverwrite) => code(copies::vm_copy_overwrite(a[0], a[1], a[2])),
        Some(Sysno::VmCopyDiscard) => code(copies::vm_copy_discard(a[0])),
        Some(Sysno::VmRead) => code(copies::vm_read(a[0], a[1], a[2], a[3], a[4])),
        Some(Sysno::VmWrite) => code(copies::vm_write(a[0], a[1], a[2], a[3])),
        Some(Sysno::VmCopy) => code(copies::vm_copy(a[0], a[1], a[2], a[3])),
        Some(Sysno::VmRemap) => code(copies::vm_remap(a[0])),
        Some(Sysno::HurdVmAllocate) => hurd::hurd_vm_allocate(a[0], a[1], a[2], a[3]),
        Some(Sysno::HurdVmDeallocate) => hurd::hurd_vm_deallocate(a[0], a[1]),
        Some(Sysno::ClockTscHz) => code(user::write_u64(a[0], crate::arch::tsc::hz())),
        Some(Sysno::VmMapDevice) => code(device::vm_map_device(a[0], a[1], a[2], a[3], a[4], a[5])),
        Some(Sysno::HostFramebuffer) => code(device::host_framebuffer(a[0], a[1])),
        Some(call) => code(memory::call(call, a)),
    };
    frame.rax = result as u64;
}

/// Whether `call` can make the kernel allocate memory that stays (map entries, objects,
/// tasks, threads, handles, copies). Every call is taken to, except those known to only read,
/// free or allocate what they free before returning; removal calls are gated where they
/// split an entry (`memory::deallocate`).
fn allocates(call: Sysno) -> bool {
    use Sysno::*;
    !matches!(
        call,
        ConsoleWrite | TaskExit | MachTaskSelf | VmDeallocate | HurdVmDeallocate | VmRegion | VmMsync | VmStatistics
            | VmMachineAttribute | VmCopyDiscard | TaskTerminate | TaskWait | TaskInfo | MachPortDeallocate | ClockTscHz
            | ThreadExit | ThreadSwitch | HostProcessors | HostFramebuffer
    )
}

/// Heap bytes `call` may allocate beyond what the reserve covers: the calls that copy or place
/// copies of many pieces (`limits`' table), estimated from the pieces they could touch. Fork
/// is estimated in `tasks::task_create`; every other call costs 0 here. A name or pointer that
/// does not resolve counts as nothing (the call fails on it later).
fn heap_estimate(call: Sysno, a: &[u64; 6]) -> usize {
    use crate::limits::copy_bytes;
    match call {
        Sysno::VmCopyin => copy_bytes(range_pieces(target_map(a[0]).ok(), a[2]), true, false),
        Sysno::VmRead | Sysno::VmCopy => copy_bytes(range_pieces(target_map(a[0]).ok(), a[2]), true, true),
        Sysno::VmWrite => copy_bytes(range_pieces(task::map_of(caller()), a[3]), true, true),
        Sysno::VmRemap => user::read_plain::<machvm_abi::VmRemapArgs>(a[0]).map_or(0, |args| {
            copy_bytes(range_pieces(target_map(args.src_task.into()).ok(), args.size), true, true)
        }),
        Sysno::VmCopyout => copy_bytes(copy_pieces(a[1]), false, true),
        Sysno::VmCopyOverwrite => copy_bytes(copy_pieces(a[2]), false, true),
        _ => 0,
    }
}

/// Pieces of a copy of `size` bytes of `map`.
fn range_pieces(map: Option<MapId>, size: u64) -> usize {
    map.map_or(0, |map| crate::limits::pieces(size, crate::vm_system::read().map(map).entry_count()))
}

/// Pieces of the copy named `name`: at most one per page, and no more than a map holds.
fn copy_pieces(name: u64) -> usize {
    let Ok(name) = u32::try_from(name) else { return 0 };
    let Some(Handle::Copy(id)) = with_handles(|h| h.get(name)) else { return 0 };
    let size = crate::vm_system::read().copy_size(id).unwrap_or(0);
    crate::limits::pieces(size, crate::limits::map_entry_limit())
}

fn code(result: KernResult) -> i64 {
    i64::from(result.err().unwrap_or(KERN_SUCCESS))
}

/// The calling task.
fn caller() -> TaskId {
    sched::current_task().expect("system calls come from a running thread")
}

/// The caller's handle table, read under the task lock.
fn with_handles<R>(f: impl FnOnce(&task::handles::HandleTable) -> R) -> R {
    let id = caller();
    let tasks = task::TASKS.lock();
    f(&tasks.get(&id).expect("the caller is alive").handles)
}

/// The task named `name` in the caller's handle table (alive or ended).
///
/// # Errors
///
/// `KERN_INVALID_TASK` if the name is not a task handle.
fn target_task(name: u64) -> Result<TaskId, kern_return_t> {
    let name = u32::try_from(name).map_err(|_| KERN_INVALID_TASK)?;
    match with_handles(|h| h.get(name)) {
        Some(Handle::Task(id)) => Ok(id),
        _ => Err(KERN_INVALID_TASK),
    }
}

/// The map of the task named `name` in the caller's handle table, pinned until the call
/// returns (`task::pin_map`).
///
/// # Errors
///
/// `KERN_INVALID_TASK` if the name is not a handle for a live task.
fn target_map(name: u64) -> Result<MapId, kern_return_t> {
    let name = u32::try_from(name).map_err(|_| KERN_INVALID_TASK)?;
    task::pin_named_map(caller(), name).ok_or(KERN_INVALID_TASK)
}

/// `mach_task_self()`: the caller's name for itself.
fn task_self() -> u32 {
    task::self_name(caller())
}

/// Longest text one `console_write` takes.
const CONSOLE_WRITE_MAX: u64 = 64 * 1024;

/// `console_write(ptr, len)`: prints the bytes (invalid UTF-8 is shown replaced). The text is
/// copied in whole before anything is printed, so a bad pointer prints nothing.
fn console_write(ptr: u64, len: u64) -> KernResult {
    if len > CONSOLE_WRITE_MAX {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let mut text = alloc::vec![0u8; len as usize];
    user::copy_in(ptr, &mut text)?;
    for piece in text.utf8_chunks() {
        crate::print!("{}", piece.valid());
        if !piece.invalid().is_empty() {
            crate::print!("\u{fffd}");
        }
    }
    Ok(())
}
