//! Generating calls: tasks, threads, handles, the Hurd's calls, the console and numbers that
//! are no call.

use super::fuzzer::{write_slot, Call, Effect, Expect, Fuzzer};
use super::gen::{SLOT_A, SLOT_C, SLOT_D};
use super::layout::{Ptr, PAGE, USER_MAX};
use super::track::{Role, VictimState};
use super::values;
use mach::raw::Sysno;
use mach::*;

/// Numbers that are no call, next to real ones and past the ends.
const NOT_CALLS: [u64; 12] = [3, 9, 38, 39, 42, 49, 52, 64, 1000, 1 << 32 | 10, 1 << 63, u64::MAX];

/// A thread entry that ends its task at once (if its stack lets it run at all).
pub extern "C" fn quick_exit(status: u64) -> ! {
    task_exit(status as i32)
}

impl Fuzzer {
    pub fn generate_task_call(&mut self, no: Sysno) -> Option<Call> {
        match no {
            Sysno::TaskCreate => self.task_create(),
            Sysno::ThreadCreateRunning => self.thread_create_running(),
            Sysno::TaskTerminate => self.task_terminate(),
            Sysno::TaskWait => self.task_wait(),
            Sysno::MachPortDeallocate => self.port_deallocate(),
            Sysno::HurdVmAllocate => self.hurd_allocate(),
            Sysno::HurdVmDeallocate => self.hurd_deallocate(),
            Sysno::ConsoleWrite => Some(self.console_write()),
            Sysno::TaskExit => self.task_exit(),
            Sysno::ThreadExit => self.thread_exit(),
            _ => Some(Call::new(no, [self.junk(), self.junk(), self.junk(), self.junk(), self.junk(), self.junk()])),
        }
    }

    pub fn raw_number(&mut self) -> Call {
        let no = if self.rng.chance(70) { self.rng.pick(&NOT_CALLS) } else { self.rng.next() };
        let no = if Sysno::from_raw(no).is_some() { 1000 } else { no };
        let mut call = Call::new(Sysno::MachTaskSelf, [self.junk(), self.junk(), self.junk(), self.junk(), self.junk(), self.junk()]);
        call.no = no;
        call
    }

    /// `task_create`: victims (the oldest freed when the task holds too many). A wild task's
    /// victims are never released by it: they end with it (the kernel ends thread-less tasks
    /// nobody names).
    fn task_create(&mut self) -> Option<Call> {
        let parent = self.task();
        let mut call = Call::new(Sysno::TaskCreate, [parent, values::boolean(&mut self.rng), 0, self.junk(), self.junk(), self.junk()]);
        let (ptr, usable) = self.out(&mut call, SLOT_C, 8);
        if usable {
            if self.handles.victims.is_full() {
                self.release_oldest_victim();
            }
            call.effect = Effect::NewVictim(ptr);
        }
        call.args[2] = ptr;
        call.must_write = true;
        call.target = Some(parent);
        Some(call)
    }

    /// `thread_create_running`: a victim gets a thread that cannot get far (a bad entry point
    /// or stack); a contained task never starts one in itself.
    fn thread_create_running(&mut self) -> Option<Call> {
        let task = self.task();
        if self.contained() && self.handles.role(task) == Role::Me {
            return None;
        }
        // Entry points that cannot run for long: the quick exit, page 0 (never mapped), or
        // values the kernel refuses (at or past the top of the map).
        let entry = match self.rng.below(4) {
            0 => quick_exit as *const () as u64,
            1 => self.rng.below(PAGE),
            2 => self.rng.pick(&[USER_MAX, USER_MAX + 1, 0xffff_8000_0000_0000, 0x8000_0000_0000, u64::MAX]),
            _ => self.rng.next() | 1 << 63,
        };
        let stack = if self.rng.chance(50) { self.rng.below(PAGE) } else { self.address() };
        let mut call = Call::new(Sysno::ThreadCreateRunning, [task, entry, stack, self.rng.next(), self.junk(), self.junk()]);
        call.effect = Effect::Doomed(task);
        Some(call)
    }

    fn task_terminate(&mut self) -> Option<Call> {
        let task = self.task();
        let role = self.handles.role(task);
        if (self.contained() && role == Role::Me) || self.is_running_kamikaze(role) {
            return None;
        }
        let mut call = Call::new(Sysno::TaskTerminate, [task, self.junk(), self.junk(), self.junk(), self.junk(), self.junk()]);
        call.effect = Effect::Ended(task);
        Some(call)
    }

    fn is_running_kamikaze(&self, role: Role) -> bool {
        let Role::Victim(i) = role else { return false };
        matches!(self.handles.victims.get(i).map(|v| v.state), Some(VictimState::Kamikaze { .. }))
    }

    /// `task_wait`, never on a kamikaze child (the harness waits for those, with a deadline).
    fn task_wait(&mut self) -> Option<Call> {
        let task = self.task();
        if self.is_running_kamikaze(self.handles.role(task)) {
            return None;
        }
        let mut call = Call::new(Sysno::TaskWait, [task, 0, self.junk(), self.junk(), self.junk(), self.junk()]);
        call.args[1] = self.out(&mut call, SLOT_D, 8).0;
        call.must_write = true;
        call.effect = Effect::Ended(task);
        Some(call)
    }

    /// `mach_port_deallocate`: a contained task keeps its own and the host's names, and the
    /// names of its running kamikaze children (which it must collect). Dropping the last name
    /// of an idle victim must end it (the kernel reaps thread-less tasks nobody names).
    fn port_deallocate(&mut self) -> Option<Call> {
        let task = self.task();
        let name = match self.rng.below(10) {
            0..=4 => self.task(),
            5..=6 => self.handles.entries.pick(&mut self.rng).map_or(0, |(_, e)| e.into()),
            7 => self.handles.copies.pick(&mut self.rng).map_or(0, |(_, c)| c.0.into()),
            _ => self.rng.below(32),
        };
        if self.handles.role(task) == Role::Me {
            match self.handles.role(name) {
                Role::Me | Role::Host if self.contained() => return None,
                role if self.is_running_kamikaze(role) => return None,
                _ => {}
            }
        }
        let mut call = Call::new(Sysno::MachPortDeallocate, [task, name, self.junk(), self.junk(), self.junk(), self.junk()]);
        if self.handles.role(task) == Role::Me {
            call.effect = Effect::Dropped(name);
        }
        Some(call)
    }

    fn hurd_allocate(&mut self) -> Option<Call> {
        let address = self.address();
        let map_now = values::boolean(&mut self.rng);
        let size = if map_now != 0 { values::resident_size(&mut self.rng, address) } else { values::size(&mut self.rng, address) };
        let size = if self.rng.chance(70) { size & !(PAGE - 1) } else { size };
        let flags = if self.rng.chance(80) { self.rng.below(4) } else { self.rng.pick(&[4, 8, 0x80, u64::MAX]) };
        if flags & 1 != 0 && !self.layout.allows(address, size) {
            return None;
        }
        let mut call = Call::new(Sysno::HurdVmAllocate, [0, size, flags, map_now, self.junk(), self.junk()]);
        let (ptr, usable) = self.out(&mut call, SLOT_A, 8);
        if usable {
            write_slot(ptr, address);
            call.effect = Effect::Address(ptr);
            call.expect = match flags & 1 {
                _ if size == 0 => Expect::Equals { ptr, value: address },
                1 => Expect::Equals { ptr, value: address },
                _ => Expect::Placed { ptr, size, mask: 0 },
            };
        }
        call.args[0] = ptr;
        call.must_write = size != 0 && size % PAGE == 0 && flags & !3 == 0;
        call.target = Some(self.handles.me.into());
        Some(call)
    }

    fn hurd_deallocate(&mut self) -> Option<Call> {
        let address = self.address();
        let size = values::size(&mut self.rng, address);
        let size = if self.rng.chance(70) { size & !(PAGE - 1) } else { size };
        if !self.layout.allows(address, size) {
            return None;
        }
        let mut call = Call::new(Sysno::HurdVmDeallocate, [address, size, self.junk(), self.junk(), self.junk(), self.junk()]);
        call.target = Some(self.handles.me.into());
        Some(call)
    }

    /// `console_write` with text that cannot be printed: a bad pointer, no bytes, or too many.
    fn console_write(&mut self) -> Call {
        let (ptr, len) = match self.rng.below(3) {
            0 => {
                let kind = self.rng.pick(&[Ptr::Guard, Ptr::Hole, Ptr::Null, Ptr::Kernel, Ptr::NonCanonical, Ptr::MapTop]);
                (kind.address(0, 8, &mut self.rng, self.layout.text), 1 + self.rng.below(64))
            }
            1 => (self.address(), 0),
            _ => (self.address(), 64 * 1024 + 1 + self.rng.below(1 << 20)),
        };
        Call::new(Sysno::ConsoleWrite, [ptr, len, self.junk(), self.junk(), self.junk(), self.junk()])
    }

    /// `task_exit`: only a wild task ends itself.
    fn task_exit(&mut self) -> Option<Call> {
        if self.contained() || !self.rng.chance(10) {
            return None;
        }
        Some(Call::new(Sysno::TaskExit, [self.rng.next(), self.junk(), self.junk(), self.junk(), self.junk(), self.junk()]))
    }

    /// `thread_exit`: only a wild task ends its (only) thread, which ends the task.
    fn thread_exit(&mut self) -> Option<Call> {
        if self.contained() || !self.rng.chance(10) {
            return None;
        }
        Some(Call::new(Sysno::ThreadExit, [self.junk(), self.junk(), self.junk(), self.junk(), self.junk(), self.junk()]))
    }
}
