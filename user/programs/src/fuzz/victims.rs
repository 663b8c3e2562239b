//! Recording what successful calls returned, the victims' lives, and kamikaze children: a
//! worker's own children that fuzz without any restraint and whose death is expected.

use super::fuzzer::{read_slot, Effect, Fuzzer, Mode};
use super::stats;
use super::track::{Role, Victim, VictimState};
use mach::*;

/// Stack of a kamikaze child.
const KAMIKAZE_STACK: u64 = 64 * 1024;
/// Seconds a kamikaze child may run before it counts as hung.
const KAMIKAZE_SECONDS: u64 = 60;

impl Fuzzer {
    /// Records what a successful call gave or took.
    pub fn record(&mut self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Address(ptr) => {
                let address = read_slot(ptr);
                self.remember(address);
            }
            Effect::NewVictim(ptr) => {
                let name = read_slot(ptr) as u32;
                self.handles.saw(name);
                if !self.handles.victims.insert(Victim { name, state: VictimState::Idle }) {
                    task_terminate(name);
                    self.drop_name(name);
                }
            }
            Effect::NewEntry(ptr) => {
                let name = read_slot(ptr) as u32;
                self.handles.saw(name);
                if !self.handles.entries.insert(name) {
                    self.drop_name(name);
                }
            }
            Effect::NewCopy(ptr, size) => self.new_copy(read_slot(ptr) as u32, size),
            Effect::CopyGone(copy) => self.copy_gone(copy),
            Effect::CopiedOut(copy, ptr) => {
                self.copy_gone(copy);
                if let Some(ptr) = ptr {
                    let address = read_slot(ptr);
                    self.remember(address);
                }
            }
            Effect::Dropped(name) => self.dropped(name),
            Effect::Ended(task) => self.set_state(task, VictimState::Ended, false),
            Effect::Doomed(task) => self.set_state(task, VictimState::Doomed, true),
        }
    }

    fn new_copy(&mut self, name: u32, size: u64) {
        if name == 0 {
            return;
        }
        self.handles.saw(name);
        if !self.handles.copies.insert((name, size)) {
            vm_copy_discard(name);
            self.handles.forget(name);
        }
    }

    fn copy_gone(&mut self, copy: u64) {
        if let Role::Copy(i) = self.handles.role(copy) {
            self.handles.copies.take(i);
            self.handles.forget(copy as u32);
        }
    }

    fn dropped(&mut self, name: u64) {
        match self.handles.role(name) {
            Role::Victim(i) => drop(self.handles.victims.take(i)),
            Role::Entry(i) => drop(self.handles.entries.take(i)),
            Role::Copy(i) => drop(self.handles.copies.take(i)),
            Role::Me | Role::Host | Role::Unknown => {}
        }
        self.handles.forget(name as u32);
    }

    fn set_state(&mut self, task: u64, state: VictimState, only_if_idle: bool) {
        if let Role::Victim(i) = self.handles.role(task) {
            let mut victim = self.handles.victims.get(i).expect("present");
            if !only_if_idle || victim.state == VictimState::Idle {
                victim.state = state;
                self.handles.victims.set(i, victim);
            }
        }
    }

    /// Drops a name this task holds (not counted as a fuzzed call).
    fn drop_name(&mut self, name: u32) {
        mach_port_deallocate(self.handles.me, name);
        self.handles.forget(name);
    }

    /// Ends victim `i` (if it is alive) and waits for it; its name stays.
    pub fn end_victim(&mut self, i: usize) {
        let Some(mut victim) = self.handles.victims.get(i) else { return };
        if victim.state != VictimState::Ended {
            task_terminate(victim.name);
            let mut status = 0;
            task_wait(victim.name, &mut status);
            victim.state = VictimState::Ended;
            self.handles.victims.set(i, victim);
        }
    }

    /// Ends victim `i` and drops its name.
    pub fn release_victim(&mut self, i: usize) {
        self.end_victim(i);
        if let Some(victim) = self.handles.victims.take(i) {
            self.drop_name(victim.name);
        }
    }

    /// Releases the first victim that is not a running kamikaze child.
    pub fn release_oldest_victim(&mut self) {
        let busy = |v: &Victim| matches!(v.state, VictimState::Kamikaze { .. });
        if let Some(i) = self.handles.victims.find(|v| !busy(v)) {
            self.release_victim(i);
        }
    }

    /// Starts a kamikaze child (unless one is running): a copy of this task that runs a wild
    /// fuzzer with its own seed and adds its counts to slot `slot`'s kamikaze statistics.
    pub fn launch_kamikaze(&mut self, slot: u64) {
        if self.mode == Mode::Wild || self.handles.victims.find(|v| matches!(v.state, VictimState::Kamikaze { .. })).is_some() {
            return;
        }
        if self.handles.victims.is_full() {
            self.release_oldest_victim();
        }
        let me = self.handles.me;
        let (mut child, mut stack) = (0, 0);
        if task_create(me, TRUE, &mut child) != KERN_SUCCESS {
            return;
        }
        let seed = (self.seed.wrapping_mul(1_000_003) ^ self.calls) & 0xffff_ffff_ffff;
        let started = vm_allocate(child, &mut stack, KAMIKAZE_STACK, VM_FLAGS_ANYWHERE) == KERN_SUCCESS
            && thread_create_running(child, kamikaze_entry, stack + KAMIKAZE_STACK - 8, slot << 48 | seed) == KERN_SUCCESS;
        self.handles.saw(child);
        let mut hz = 0;
        clock_tsc_hz(&mut hz);
        let state = if started { VictimState::Kamikaze { deadline: rdtsc() + hz * KAMIKAZE_SECONDS } } else { VictimState::Idle };
        self.handles.victims.insert(Victim { name: child, state });
        self.stats.kamikazes += u64::from(started);
    }

    /// Collects kamikaze children that have ended; with `block`, waits for every one. A child
    /// past its deadline is a violation (no call it makes may block).
    pub fn collect_kamikazes(&mut self, block: bool) -> Result<(), super::fuzzer::Violation> {
        for (i, victim) in self.handles.victims.iter().collect_array().into_iter().flatten() {
            let VictimState::Kamikaze { deadline } = victim.state else { continue };
            let ended = task_info(victim.name, &mut TaskBasicInfo::default()) == KERN_INVALID_TASK;
            if !ended && !block && rdtsc() < deadline {
                continue;
            }
            let late = !ended && rdtsc() >= deadline;
            if late {
                self.stats.kamikaze_timeouts += 1;
                task_terminate(victim.name);
            }
            let mut status = 0;
            let kr = task_wait(victim.name, &mut status);
            self.stats.kamikaze_killed += u64::from(status == -1 && !late);
            self.handles.victims.set(i, Victim { name: victim.name, state: VictimState::Ended });
            if kr != KERN_SUCCESS || late {
                return Err(self.violation(format_args!("kamikaze child {} did not end in time (task_wait {kr})", victim.name)));
            }
        }
        Ok(())
    }
}

/// Collecting a table's entries, so that the table can change meanwhile.
trait CollectArray<T> {
    fn collect_array(self) -> [Option<T>; 6];
}

impl<T: Copy, I: Iterator<Item = T>> CollectArray<T> for I {
    fn collect_array(self) -> [Option<T>; 6] {
        let mut out = [None; 6];
        for (slot, item) in out.iter_mut().zip(self) {
            *slot = Some(item);
        }
        out
    }
}

/// Entry point of a kamikaze child: `arg` is the report slot (top 16 bits) and the seed.
extern "C" fn kamikaze_entry(arg: u64) -> ! {
    mach::test::detach();
    let plan = *stats::plan();
    let mut fuzzer = Fuzzer::new(arg & 0xffff_ffff_ffff, 0, Mode::Wild, None, stats::slot(arg >> 48, true), plan);
    let _ = fuzzer.batch(plan.kamikaze_calls);
    task_exit(0)
}
