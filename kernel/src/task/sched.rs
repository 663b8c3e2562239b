//! Threads and the scheduler: a loop on every processor, per-processor run queues, stealing.
//!
//! Each processor runs a scheduler loop on a stack of its own (the boot processor on the boot
//! stack, the others on the stack `arch::smp` gave them). The loop takes the next thread of
//! its own queue, or else steals the oldest thread of the longest other queue, and switches to
//! it; the thread runs (in ring 3, entering the kernel for system calls and faults) until it
//! is preempted by the timer ([`preempt`]), blocks ([`block_on`]), yields ([`yield_now`]) or
//! ends; either way it switches back to its processor's loop, which then settles it
//! (`finish`): requeues it on that processor, parks it, or frees it. A processor with nothing
//! to run halts until an interrupt: its timer, or the rescheduling interrupt another
//! processor sends when it makes a thread ready while some processor is idle.
//!
//! ```text
//!  run() on cpu c ──switch──▶ thread (ring 3 ⇄ kernel) ──preempt/block/exit──▶ finish ──▶ next
//! ```
//!
//! Thread states: `Ready` (in a queue, or about to be requeued by `finish`) → `Running` →
//! `Ready` (preempted), `Blocked` (waiting for a task to end) or `Dead` (its task ended, or it
//! exited). A thread is *on a processor* from the moment a loop picks it until that loop's
//! `finish` has switched back from it; only then may another processor run it, so a thread
//! woken while it is still switching out is requeued by `finish`, never queued twice.
//!
//! Locking: one scheduler lock ([`SCHED`]) over the thread table and the queues, held for
//! O(1) steps (a pick scans the queues' lengths: O(processors)); at 100 Hz per processor it
//! is not contended. Each processor's running thread and task are also in its `percpu`
//! record, so the hot questions (the caller of a system call, the task of a fault) take no
//! lock.
//!
//! Each thread's kernel stack is a [`KernelStack`]: a slot of the kernel-stack area
//! (`memory::kstack`) with an unmapped guard page below it, so that an overflow is a reported
//! double fault rather than silent corruption; its frames go back when the thread is freed.

use super::TaskId;
use crate::arch::percpu::{self, MAX_CPUS};
use crate::arch::{context, fpu, sched_ipi};
use crate::memory::kstack::{KernelStack, KernelStackError, StackOwner};
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
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
    /// The processor whose loop picked it and has not yet settled it, if any.
    on_cpu: Option<usize>,
    /// Its FPU and SSE registers while it is not running.
    fpu: Box<fpu::FpuState>,
}

/// Invariants: every thread in a queue is `Ready` or `Dead` and in no other queue, at most
/// once; a thread with `on_cpu` set is in no queue; `ended` counts the calls of
/// [`task_finished`] (a waiter that saw a task unfinished blocks only if none finished since).
struct Scheduler {
    threads: BTreeMap<ThreadId, Box<Thread>>,
    queues: [VecDeque<ThreadId>; MAX_CPUS],
    /// Processors halted in their loop with nothing to run (bit `i` for processor `i`).
    idle: u64,
    next_id: u32,
    ended: u64,
    /// The tasks of dead threads taken out of `threads` whose stacks (and, for a task's last
    /// thread, whose task) are still being released, once per thread: they count as existing
    /// until then, so that nobody sees a task with neither a thread nor an end.
    settling: Vec<TaskId>,
}

static SCHED: Mutex<Scheduler> = Mutex::new(Scheduler {
    threads: BTreeMap::new(),
    queues: [const { VecDeque::new() }; MAX_CPUS],
    idle: 0,
    next_id: 1,
    ended: 0,
    settling: Vec::new(),
});

impl Scheduler {
    /// Queues `id` on processor `cpu` and wakes an idle processor to take it.
    fn enqueue(&mut self, cpu: usize, id: ThreadId) {
        self.queues[cpu].push_back(id);
        if self.idle != 0 {
            let target = self.idle.trailing_zeros() as usize;
            self.idle &= !(1 << target);
            sched_ipi::send(target);
        }
    }

    /// The next thread for processor `cpu`: its own queue's first, or the first of the
    /// longest other queue.
    fn next_for(&mut self, cpu: usize) -> Option<ThreadId> {
        if let Some(id) = self.queues[cpu].pop_front() {
            return Some(id);
        }
        let victim = (0..MAX_CPUS).max_by_key(|&c| self.queues[c].len())?;
        self.queues[victim].pop_front()
    }
}

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
    let thread = Box::new(Thread { task, ledger, stack, saved_rsp, state: State::Ready, on_cpu: None, fpu });
    let mut sched = SCHED.lock();
    sched.threads.insert(id, thread);
    sched.enqueue(percpu::index(), id);
    Ok(id)
}

/// Threads in existence (any state, those being released included).
pub fn thread_count() -> usize {
    let sched = SCHED.lock();
    sched.threads.len() + sched.settling.len()
}

/// The task of the thread running on this processor, if a thread is running. Takes no lock.
pub fn current_task() -> Option<TaskId> {
    let cpu = percpu::try_current()?;
    (cpu.current.load(Ordering::Relaxed) != 0).then(|| TaskId(cpu.current_task.load(Ordering::Relaxed)))
}

fn current_thread() -> Option<ThreadId> {
    let id = percpu::try_current()?.current.load(Ordering::Relaxed);
    (id != 0).then_some(ThreadId(id))
}

/// Whether `task` has a thread, running or still being released (a task whose threads are
/// all gone has ended, or is a thread-less task that never had one).
pub fn has_threads(task: TaskId) -> bool {
    let sched = SCHED.lock();
    sched.threads.values().any(|t| t.task == task) || sched.settling.contains(&task)
}

/// Frees a dead thread taken out of the table (its kernel stack, its count in its family's
/// ledger); the caller then marks it [`settled`].
fn release(thread: Box<Thread>) {
    crate::ledger::thread_ended(thread.ledger);
    drop(thread);
}

/// Marks one thread of `task` released (see `Scheduler::settling`).
fn settled(task: TaskId) {
    let mut sched = SCHED.lock();
    let at = sched.settling.iter().position(|&t| t == task).expect("a settling thread");
    sched.settling.swap_remove(at);
}

/// Ends every thread of `task`: those on no processor are freed at once, those running are
/// marked dead (their processors are interrupted, and their loops free them). Returns
/// whether a thread of `task` still exists (the last one's loop then releases the task's
/// map).
pub fn task_ended(task: TaskId) -> bool {
    let here = percpu::index();
    let (freed, interrupt, exists) = {
        let mut sched = SCHED.lock();
        let (mut free, mut interrupt, mut exists) = (Vec::new(), 0u64, false);
        for (&id, thread) in sched.threads.iter_mut() {
            if thread.task == task {
                match thread.on_cpu {
                    None => free.push(id),
                    Some(cpu) => {
                        exists = true;
                        if let Some(record) = percpu::get(cpu) {
                            record.current_ended.store(true, Ordering::Release);
                        }
                        if cpu != here {
                            interrupt |= 1 << cpu;
                        }
                    }
                }
                thread.state = State::Dead;
            }
        }
        for queue in sched.queues.iter_mut() {
            queue.retain(|id| !free.contains(id));
        }
        let freed: Vec<Box<Thread>> = free.iter().filter_map(|id| sched.threads.remove(id)).collect();
        sched.settling.extend(freed.iter().map(|t| t.task));
        (freed, interrupt, exists)
    };
    for thread in freed {
        release(thread);
        settled(task);
    }
    for cpu in (0..MAX_CPUS).filter(|c| interrupt & (1 << c) != 0) {
        sched_ipi::send(cpu);
    }
    exists
}

/// Task `task` has finished (ended, its map destroyed): the threads blocked on it become
/// ready.
pub fn task_finished(task: TaskId) {
    let here = percpu::index();
    let mut sched = SCHED.lock();
    sched.ended += 1;
    let mut wake = Vec::new();
    for (&id, thread) in sched.threads.iter_mut() {
        if thread.state == (State::Blocked { on: task }) {
            thread.state = State::Ready;
            if thread.on_cpu.is_none() {
                wake.push(id);
            }
        }
    }
    for id in wake {
        sched.enqueue(here, id);
    }
}

/// Runs the scheduler loop of the boot processor until no thread is left, then returns (on
/// the boot stack).
pub fn run() {
    scheduler_loop(true);
}

/// Runs the scheduler loop of an application processor, for good.
pub fn run_processor() -> ! {
    scheduler_loop(false);
    unreachable!("an application processor's loop never ends")
}

fn scheduler_loop(returns_when_done: bool) {
    let cpu = percpu::current();
    loop {
        debug_assert_kernel_flags();
        interrupts::disable();
        match pick(cpu.index) {
            Some(picked) => {
                // The loop's own work (loading address spaces, freeing threads) runs with
                // interrupts on, as VM operations do.
                interrupts::enable();
                run_thread(cpu, picked);
            }
            None if returns_when_done && thread_count() == 0 => return,
            // Halt until an interrupt (the timer, or a wake-up); `pick` marked this processor
            // idle under the lock, so a thread queued since has sent the interrupt, which
            // `enable_and_hlt` takes (interrupts come back on with the halt, atomically).
            None => interrupts::enable_and_hlt(),
        }
    }
}

/// What the loop needs of a thread it picked.
struct Picked {
    id: ThreadId,
    rsp: u64,
    top: VirtAddr,
    task: TaskId,
    ledger: crate::ledger::LedgerId,
    fpu: *mut fpu::FpuState,
}

/// Takes the next thread for processor `cpu` and marks it on that processor (a dead one is
/// settled by `finish` without running). With nothing to run, marks the processor idle.
fn pick(cpu: usize) -> Option<Picked> {
    let mut sched = SCHED.lock();
    let Some(id) = sched.next_for(cpu) else {
        sched.idle |= 1 << cpu;
        return None;
    };
    sched.idle &= !(1 << cpu);
    if let Some(record) = percpu::get(cpu) {
        // Under the scheduler lock, as `task_ended` sets it: a task that ends from now on
        // sets it again.
        record.current_ended.store(false, Ordering::Release);
    }
    let thread = sched.threads.get_mut(&id).expect("queued threads exist");
    thread.on_cpu = Some(cpu);
    if thread.state == State::Ready {
        thread.state = State::Running;
    }
    let fpu: *mut fpu::FpuState = &mut *thread.fpu;
    Some(Picked { id, rsp: thread.saved_rsp, top: thread.stack.top(), task: thread.task, ledger: thread.ledger, fpu })
}

/// Switches to `picked` on this processor (unless it is dead or its task has no map), and
/// settles it once it switches back.
fn run_thread(cpu: &'static percpu::Cpu, picked: Picked) {
    let map = super::map_of(picked.task);
    let dead = {
        let mut sched = SCHED.lock();
        let thread = sched.threads.get_mut(&picked.id).expect("a picked thread exists");
        // A thread started in a task that ended meanwhile has no map to run in.
        if map.is_none() {
            thread.state = State::Dead;
        }
        thread.state == State::Dead
    };
    if let (Some(map), false) = (map, dead) {
        cpu.set_kernel_stack(picked.top);
        {
            let vm = crate::vm_system::read();
            let space = vm.space(map);
            vm::pmap::Pmap::activate(vm.pmap(), space);
        }
        interrupts::disable();
        // SAFETY: the thread's boxed FPU state lives until its loop frees the thread, after
        // this switch; nothing else uses it while the thread runs on this processor.
        unsafe { (*picked.fpu).restore() };
        // While the thread runs, what its calls and faults make the kernel allocate is
        // charged to its family.
        crate::ledger::set_current(picked.ledger);
        cpu.current_task.store(picked.task.0, Ordering::Relaxed);
        cpu.current.store(picked.id.0, Ordering::Relaxed);
        // SAFETY: interrupts are off; `rsp` is the thread's saved stack (prepared by `spawn`
        // or saved by its last switch), which runs nowhere else (it is on this processor);
        // the loop's own stack pointer goes to the processor's record, from which the thread
        // switches back.
        unsafe { context::switch(cpu.scheduler_rsp.as_ptr(), picked.rsp) };
        cpu.current.store(0, Ordering::Relaxed);
        crate::ledger::set_current(crate::ledger::KERNEL);
        // SAFETY: as above; the thread has switched back, its registers are live.
        unsafe { (*picked.fpu).save() };
        interrupts::enable();
    }
    finish(cpu.index, picked.id);
}

/// Back in processor `cpu`'s loop after `id` ran (or was found dead): requeue it if it is
/// still runnable, free it if it is dead, and release its task's map if it was the task's
/// last thread.
fn finish(cpu: usize, id: ThreadId) {
    crate::pmap::with_shared(|pmap| pmap.deactivate());
    // A thread that ended inside a system call left its pins here.
    super::unpin_maps();
    let dead = {
        let mut sched = SCHED.lock();
        let thread = sched.threads.get_mut(&id).expect("the thread exists");
        thread.on_cpu = None;
        match thread.state {
            State::Dead => {
                let thread = sched.threads.remove(&id).expect("present");
                let last = !sched.threads.values().any(|t| t.task == thread.task);
                sched.settling.push(thread.task);
                Some((thread, last))
            }
            State::Running | State::Ready => {
                thread.state = State::Ready;
                sched.enqueue(cpu, id);
                None
            }
            State::Blocked { .. } => None,
        }
    };
    if let Some((thread, last)) = dead {
        let task = thread.task;
        release(thread);
        if last {
            super::last_thread_gone(task);
        }
        settled(task);
    }
}

/// Gives the processor back to its loop from the running thread, which stays ready.
/// Called by the timer interrupt when it interrupted ring 3.
pub fn preempt() {
    switch_to_scheduler(|_, _| {});
}

/// Gives the processor back to its loop if the running thread's task has ended (called on the
/// way back to ring 3, so that a thread of an ended task never runs there again).
pub fn leave_if_ended() {
    let Some(cpu) = percpu::try_current() else { return };
    if !cpu.current_ended.load(Ordering::Acquire) {
        return;
    }
    let Some(id) = current_thread() else { return };
    if SCHED.lock().threads.get(&id).is_some_and(|t| t.state == State::Dead) {
        switch_to_scheduler(|_, _| {});
        unreachable!("a dead thread is never switched to");
    }
}

/// Gives the processor to the next ready thread; the caller stays ready.
pub fn yield_now() {
    switch_to_scheduler(|_, _| {});
}

/// Blocks the running thread until task `on` has finished (`task::finished`; returns at once
/// if it has).
pub fn block_on(on: TaskId) {
    let seen = SCHED.lock().ended;
    if super::finished(on).is_some() {
        return;
    }
    // A task that finished since `seen` may be `on`: then do not block (the caller checks
    // again).
    switch_to_scheduler(|ended, thread| {
        // A thread whose task ended meanwhile stays dead (its loop frees it).
        if ended == seen && thread.state != State::Dead {
            thread.state = State::Blocked { on };
        }
    });
}

/// Ends the running thread's task with `status`; never returns.
pub fn exit_current(status: i32) -> ! {
    let task = current_task().expect("a running thread");
    super::end(task, status);
    switch_to_scheduler(|_, _| {});
    unreachable!("a dead thread is never switched to");
}

/// Ends the running thread; when it was its task's last thread, the task ends with status 0
/// (decided by the loop that frees it, so that threads of one task exiting at once on
/// several processors cannot each leave the task to the other). Never returns.
pub fn exit_thread() -> ! {
    switch_to_scheduler(|_, thread| thread.state = State::Dead);
    unreachable!("a dead thread is never switched to");
}

/// Checks that no flag a task controls has reached the scheduler: SMAP is on (AC clear), and
/// NT, TF and DF are clear (the entry paths sanitise RFLAGS; see `arch::syscall`).
fn debug_assert_kernel_flags() {
    use x86_64::registers::rflags::{self, RFlags};
    let leaked = RFlags::ALIGNMENT_CHECK | RFlags::NESTED_TASK | RFlags::TRAP_FLAG | RFlags::DIRECTION_FLAG;
    debug_assert!(!rflags::read().intersects(leaked), "task flags in the scheduler: {:?}", rflags::read());
}

/// Switches from the running thread to its processor's loop after `change` (given the count
/// of finished tasks) has updated the thread.
fn switch_to_scheduler(change: impl FnOnce(u64, &mut Thread)) {
    debug_assert_kernel_flags();
    interrupts::without_interrupts(|| {
        let cpu = percpu::current();
        let save = {
            let mut sched = SCHED.lock();
            let Some(id) = current_thread() else { return };
            let ended = sched.ended;
            let thread = sched.threads.get_mut(&id).expect("the current thread exists");
            change(ended, thread);
            core::ptr::addr_of_mut!(thread.saved_rsp)
        };
        // SAFETY: interrupts are off; `save` points into the running thread's boxed record,
        // which its loop frees only after this switch; the processor's record holds the
        // loop's stack as its switch to this thread saved it.
        unsafe { context::switch(save, cpu.scheduler_rsp.load(Ordering::SeqCst)) };
    });
}
