//! Threads and the round-robin scheduler.
//!
//! The scheduler loop ([`run`]) runs on the boot stack. It switches to the first ready thread;
//! the thread runs (in ring 3, entering the kernel for system calls and faults) until it is
//! preempted by the timer ([`preempt`]), blocks ([`block_on`]) or ends ([`exit_current`]);
//! either way it switches back to the loop, which picks the next thread. A dead thread's
//! kernel stack is freed by the loop, after it has switched away from it for the last time.
//!
//! ```text
//!  run() ──switch──▶ thread A (ring 3 ⇄ kernel) ──preempt / block / exit──▶ run() ──▶ B ...
//! ```
//!
//! Thread states: `Ready` (in the ready queue) → `Running` → `Ready` (preempted),
//! `Blocked` (waiting for a task to end; back to `Ready` when it does) or `Dead` (its task
//! ended; freed by the loop the next time it comes across it).
//!
//! Each thread's kernel stack is a [`KernelStack`]: a slot of the kernel-stack area
//! (`memory::kstack`) with an unmapped guard page below it, so that an overflow is a reported
//! double fault rather than silent corruption; its frames go back when the thread is freed.

use super::TaskId;
use crate::arch::{context, fpu, gdt, syscall};
use crate::memory::kstack::{KernelStack, KernelStackError, StackOwner};
use crate::sync::IrqMutex;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::interrupts;
use x86_64::VirtAddr;

/// Identifies a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    Running,
    Blocked { on: TaskId },
    Dead,
}

/// A thread: a kernel stack and the stack pointer saved when it is not running.
struct Thread {
    task: TaskId,
    /// Its task's family's ledger, which counts it (`ledger::threads`).
    ledger: crate::ledger::LedgerId,
    stack: KernelStack,
    saved_rsp: u64,
    state: State,
    /// Its FPU and SSE registers while it is not running.
    fpu: Box<fpu::FpuState>,
}

impl Thread {
    fn stack_top(&self) -> VirtAddr {
        self.stack.top()
    }
}

/// Invariants: `ready` holds exactly the threads in state `Ready` or `Dead`-but-queued, each
/// once; `current` is the one `Running` thread, if any.
struct Scheduler {
    threads: BTreeMap<ThreadId, Box<Thread>>,
    ready: VecDeque<ThreadId>,
    current: Option<ThreadId>,
    next_id: u32,
}

static SCHED: IrqMutex<Scheduler> =
    IrqMutex::new(Scheduler { threads: BTreeMap::new(), ready: VecDeque::new(), current: None, next_id: 1 });

/// The scheduler loop's saved stack pointer while a thread runs.
static SCHEDULER_RSP: AtomicU64 = AtomicU64::new(0);

/// Adds a thread of `task` that starts in ring 3 at `entry` with stack pointer `user_stack`
/// and `arg` in its first argument register.
///
/// # Errors
///
/// [`KernelStackError`] if no kernel stack can be had (every slot taken, or no free frame);
/// nothing is left behind.
pub fn spawn(task: TaskId, entry: VirtAddr, user_stack: VirtAddr, arg: u64) -> Result<ThreadId, KernelStackError> {
    let id = {
        let mut sched = SCHED.lock();
        sched.next_id += 1;
        ThreadId(sched.next_id - 1)
    };
    let mut stack = KernelStack::allocate(StackOwner::Thread(id.0))?;
    let saved_rsp = context::prepare_first_entry(stack.words_mut(), entry, user_stack, arg);
    let fpu = Box::new(fpu::FpuState::initial());
    let ledger = super::ledger_of(task);
    crate::ledger::thread_started(ledger);
    let mut sched = SCHED.lock();
    sched.threads.insert(id, Box::new(Thread { task, ledger, stack, saved_rsp, state: State::Ready, fpu }));
    sched.ready.push_back(id);
    Ok(id)
}

/// Threads in existence (any state).
pub fn thread_count() -> usize {
    SCHED.lock().threads.len()
}

/// The task of the running thread, if a thread is running.
pub fn current_task() -> Option<TaskId> {
    let sched = SCHED.try_lock()?;
    sched.current.and_then(|id| sched.threads.get(&id)).map(|t| t.task)
}

/// Whether `task` has a thread that has not ended.
pub fn has_threads(task: TaskId) -> bool {
    SCHED.lock().threads.values().any(|t| t.task == task && t.state != State::Dead)
}

/// Marks every thread of `task` dead (they never run again; the loop frees them) and makes
/// the threads blocked on `task` ready.
pub fn task_ended(task: TaskId) {
    let mut sched = SCHED.lock();
    let mut wake = Vec::new();
    for (&id, thread) in sched.threads.iter_mut() {
        if thread.task == task {
            // A blocked thread is in no queue: queue it so that the loop frees it.
            if matches!(thread.state, State::Blocked { .. }) {
                wake.push(id);
            }
            thread.state = State::Dead;
        } else if thread.state == (State::Blocked { on: task }) {
            thread.state = State::Ready;
            wake.push(id);
        }
    }
    sched.ready.extend(wake);
}

/// Runs ready threads until none is left, then returns (on the boot stack).
pub fn run() {
    loop {
        debug_assert_kernel_flags();
        let Some((thread, rsp, top, task, fpu)) = pick() else { return };
        let Some(map) = super::map_of(task) else {
            finish(thread);
            continue;
        };
        let space = crate::vm_system::lock().space(map);
        let ledger = super::ledger_of(task);
        interrupts::without_interrupts(|| {
            gdt::set_kernel_stack(top);
            syscall::set_kernel_stack(top);
            vm::pmap::Pmap::activate(&mut *crate::pmap::lock(), space);
            // SAFETY: the thread's boxed FPU state lives until the loop frees the thread,
            // after this switch; nothing else uses it while the thread runs.
            unsafe { (*fpu).restore() };
            // While the thread runs, what its calls and faults make the kernel allocate is
            // charged to its family.
            crate::ledger::set_current(ledger);
            // SAFETY: interrupts are off; `rsp` is the thread's saved stack (prepared by
            // `spawn` or saved by its last switch), which nothing else runs on; the loop's own
            // stack pointer goes to SCHEDULER_RSP, from which the thread switches back.
            unsafe { context::switch(SCHEDULER_RSP.as_ptr(), rsp) };
            crate::ledger::set_current(crate::ledger::KERNEL);
            // SAFETY: as above; the thread has switched back, its registers are live.
            unsafe { (*fpu).save() };
        });
        finish(thread);
    }
}

/// Takes the next ready thread and marks it running (a dead one is returned as is, to be
/// freed by `finish` without running). Also gives a pointer to its boxed FPU state, which
/// lives until `finish` frees the thread.
fn pick() -> Option<(ThreadId, u64, VirtAddr, TaskId, *mut fpu::FpuState)> {
    let mut sched = SCHED.lock();
    let id = sched.ready.pop_front()?;
    sched.current = Some(id);
    let thread = sched.threads.get_mut(&id).expect("ready threads exist");
    if thread.state == State::Ready {
        thread.state = State::Running;
    }
    let fpu: *mut fpu::FpuState = &mut *thread.fpu;
    Some((id, thread.saved_rsp, thread.stack_top(), thread.task, fpu))
}

/// Back in the loop after `id` ran (or was found dead): requeue it if it is still runnable,
/// free it if it is dead, and end its task if it was the task's last thread.
fn finish(id: ThreadId) {
    crate::pmap::lock().deactivate();
    let dead = {
        let mut sched = SCHED.lock();
        sched.current = None;
        let thread = sched.threads.get_mut(&id).expect("the thread exists");
        match thread.state {
            State::Dead => {
                let thread = sched.threads.remove(&id).expect("present");
                let last = !sched.threads.values().any(|t| t.task == thread.task);
                Some((thread, last))
            }
            State::Running | State::Ready => {
                thread.state = State::Ready;
                sched.ready.push_back(id);
                None
            }
            State::Blocked { .. } => None,
        }
    };
    if let Some((thread, last)) = dead {
        let task = thread.task;
        crate::ledger::thread_ended(thread.ledger);
        drop(thread);
        if last {
            super::release_map(task);
        }
    }
}

/// Gives the CPU back to the scheduler loop from the running thread, which stays ready.
/// Called by the timer interrupt when it interrupted ring 3.
pub fn preempt() {
    switch_to_scheduler(|_| {});
}

/// Blocks the running thread until task `on` ends (returns at once if it already has).
pub fn block_on(on: TaskId) {
    if super::exit_status(on).is_some() {
        return;
    }
    switch_to_scheduler(|thread| thread.state = State::Blocked { on });
}

/// Ends the running thread's task with `status`; never returns.
pub fn exit_current(status: i32) -> ! {
    let task = current_task().expect("a running thread");
    super::end(task, status);
    switch_to_scheduler(|_| {});
    unreachable!("a dead thread is never switched to");
}

/// Ends the running thread; when it was its task's last live thread, the task ends with
/// status 0. Never returns.
pub fn exit_thread() -> ! {
    let task = current_task().expect("a running thread");
    let last = {
        let sched = SCHED.lock();
        let me = sched.current;
        !sched.threads.iter().any(|(&id, t)| Some(id) != me && t.task == task && t.state != State::Dead)
    };
    if last {
        super::end(task, 0);
    }
    switch_to_scheduler(|thread| thread.state = State::Dead);
    unreachable!("a dead thread is never switched to");
}

/// Gives the processor to the next ready thread; the caller stays ready.
pub fn yield_now() {
    switch_to_scheduler(|_| {});
}

/// Checks that no flag a task controls has reached the scheduler: SMAP is on (AC clear), and
/// NT, TF and DF are clear (the entry paths sanitise RFLAGS; see `arch::syscall`).
fn debug_assert_kernel_flags() {
    use x86_64::registers::rflags::{self, RFlags};
    let leaked = RFlags::ALIGNMENT_CHECK | RFlags::NESTED_TASK | RFlags::TRAP_FLAG | RFlags::DIRECTION_FLAG;
    debug_assert!(!rflags::read().intersects(leaked), "task flags in the scheduler: {:?}", rflags::read());
}

fn switch_to_scheduler(change: impl FnOnce(&mut Thread)) {
    debug_assert_kernel_flags();
    interrupts::without_interrupts(|| {
        let save = {
            let mut sched = SCHED.lock();
            let Some(id) = sched.current else { return };
            let thread = sched.threads.get_mut(&id).expect("the current thread exists");
            change(thread);
            core::ptr::addr_of_mut!(thread.saved_rsp)
        };
        // SAFETY: interrupts are off; `save` points into the running thread's boxed record,
        // which the loop frees only after this switch; SCHEDULER_RSP holds the loop's stack
        // as its switch to this thread saved it.
        unsafe { context::switch(save, SCHEDULER_RSP.load(Ordering::SeqCst)) };
    });
}
