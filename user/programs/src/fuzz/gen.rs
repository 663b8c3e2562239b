//! Generating calls: the shared argument helpers and the calls on ranges of a map.

use super::fuzzer::{write_slot, Call, Effect, Expect, Fuzzer, Mode};
use super::layout::{Ptr, PAGE};
use super::track::Role;
use super::values;
use mach::raw::Sysno;
use mach::{VM_DEVICE_UNCACHED, VM_DEVICE_WRITE_COMBINING, VM_FLAGS_ANYWHERE, VM_FLAGS_FIXED};

/// Scratch offsets of the out-parameter slots.
pub const SLOT_A: u64 = 0x000;
pub const SLOT_B: u64 = 0x040;
pub const SLOT_C: u64 = 0x080;
pub const SLOT_D: u64 = 0x0c0;
pub const SLOT_MAP: u64 = 0x100;
pub const SLOT_REMAP: u64 = 0x180;
pub const SLOT_INFO: u64 = 0x200;
pub const SLOT_STATS: u64 = 0x240;
pub const SLOT_TASK_INFO: u64 = 0x2c0;

impl Fuzzer {
    /// A call to `no` (`None`: an out-of-range number), or `None` if the generated one had to
    /// be dropped.
    pub fn generate_call(&mut self, no: Option<Sysno>) -> Option<Call> {
        let Some(no) = no else { return Some(self.raw_number()) };
        match no {
            Sysno::VmAllocate => self.vm_allocate(),
            Sysno::VmDeallocate | Sysno::VmProtect | Sysno::VmInherit | Sysno::VmBehaviorSet => self.range_call(no),
            Sysno::VmMsync | Sysno::VmMachineAttribute => Some(self.checking_call(no)),
            Sysno::VmWire => self.vm_wire(),
            Sysno::VmRegion => Some(self.vm_region()),
            Sysno::VmStatistics | Sysno::TaskInfo | Sysno::ClockTscHz | Sysno::HostProcessors => Some(self.info_call(no)),
            Sysno::VmMapDevice => self.vm_map_device(),
            Sysno::HostFramebuffer => Some(self.host_framebuffer()),
            _ => self.generate_other(no),
        }
    }

    /// A task handle argument: mostly this task, else a victim, a stale or wrong-typed name,
    /// or a forged number.
    pub fn task(&mut self) -> u64 {
        let me = u64::from(self.handles.me);
        match self.rng.below(100) {
            0..=54 => me,
            55..=69 => self.handles.victims.pick(&mut self.rng).map_or(me, |(_, v)| v.name.into()),
            70..=74 => self.handles.stale(&mut self.rng).into(),
            75..=77 => self.other_handle(),
            78..=79 => self.handles.host.map_or(2, u64::from),
            80..=84 => 0,
            85..=89 => self.rng.below(64),
            90..=92 => u32::MAX.into(),
            93..=95 => 1 << 32 | me,
            _ => self.rng.next(),
        }
    }

    /// A memory-entry or copy name (a wrong type for a task argument).
    fn other_handle(&mut self) -> u64 {
        let entry = self.handles.entries.pick(&mut self.rng).map(|(_, e)| e);
        let copy = self.handles.copies.pick(&mut self.rng).map(|(_, c)| c.0);
        entry.or(copy).map_or(3, u64::from)
    }

    /// An out-parameter of `len` bytes for slot `slot`: mostly usable, else hostile. Marks the
    /// call with the first hostile kind; returns the pointer and whether it is usable.
    pub fn out(&mut self, call: &mut Call, slot: u64, len: u64) -> (u64, bool) {
        let kind = if self.rng.chance(80) {
            if self.rng.chance(80) { Ptr::Slot } else { Ptr::Unaligned }
        } else {
            self.rng.pick(&Ptr::HOSTILE)
        };
        if !kind.usable() && call.bad_out.is_none() {
            call.bad_out = Some(kind);
        }
        (kind.address(self.layout.scratch_offset + slot, len, &mut self.rng, self.layout.text), kind.usable())
    }

    /// An address argument.
    pub fn address(&mut self) -> u64 {
        let recent = self.recent();
        values::address(&mut self.rng, recent, self.layout.text)
    }

    /// Whether a call may change, alias or overwrite `(address, size)` of the task named
    /// `task`.
    pub fn allows_on(&self, task: u64, address: u64, size: u64) -> bool {
        match self.handles.role(task) {
            Role::Me => self.layout.allows(address, size),
            Role::Victim(_) => self.layout.allows_other(address, size),
            _ => true,
        }
    }

    /// Whether a call may take a copy of `(address, size)` of the task named `task`.
    pub fn allows_source(&self, task: u64, address: u64, size: u64) -> bool {
        self.handles.role(task) != Role::Me || self.layout.allows_source(address, size)
    }

    /// Garbage for unused argument registers.
    pub fn junk(&mut self) -> u64 {
        values::garbage(&mut self.rng)
    }

    fn vm_allocate(&mut self) -> Option<Call> {
        let (task, address) = (self.task(), self.address());
        let size = values::size(&mut self.rng, address);
        let flags = values::flags(&mut self.rng);
        if flags == 0 && !self.allows_on(task, address, size) {
            return None;
        }
        let mut call = Call::new(Sysno::VmAllocate, [task, 0, size, flags, self.junk(), self.junk()]);
        let (ptr, usable) = self.out(&mut call, SLOT_A, 8);
        if usable {
            write_slot(ptr, address);
            call.effect = Effect::Address(ptr);
            call.expect = match flags {
                1 => Expect::Placed { ptr, size, mask: 0 },
                _ if size != 0 => Expect::Equals { ptr, value: address & !(PAGE - 1) },
                _ => Expect::Equals { ptr, value: address },
            };
        }
        call.args[1] = ptr;
        call.must_write = flags == 1 || (flags == 0 && size != 0);
        call.target = Some(task);
        Some(call)
    }

    /// `vm_deallocate`, `vm_protect`, `vm_inherit` or `vm_behavior_set`.
    fn range_call(&mut self, no: Sysno) -> Option<Call> {
        let (task, address) = (self.task(), self.address());
        let size = values::size(&mut self.rng, address);
        if !self.allows_on(task, address, size) {
            return None;
        }
        let mut args = [task, address, size, self.junk(), self.junk(), self.junk()];
        match no {
            Sysno::VmProtect => (args[3], args[4]) = (values::boolean(&mut self.rng), values::prot(&mut self.rng)),
            Sysno::VmInherit => args[3] = values::inheritance(&mut self.rng),
            Sysno::VmBehaviorSet => args[3] = values::behavior(&mut self.rng),
            _ => {}
        }
        let mut call = Call::new(no, args);
        call.target = Some(task);
        Some(call)
    }

    /// `vm_msync` or `vm_machine_attribute`: they only check the range.
    fn checking_call(&mut self, no: Sysno) -> Call {
        let (task, address) = (self.task(), self.address());
        let size = values::size(&mut self.rng, address);
        let mut call = Call::new(no, [task, address, size, self.junk(), self.junk(), self.junk()]);
        if no == Sysno::VmMsync {
            call.args[3] = if self.rng.chance(70) { self.rng.below(8) } else { self.rng.pick(&[0x8, 0x100, u64::MAX, 3 | 1 << 32]) };
        } else {
            call.args[3] = if self.rng.chance(70) { 1 } else { self.rng.pick(&[0, 2, 4, 8, u64::MAX, 1 << 32 | 1]) };
            let (ptr, usable) = self.out(&mut call, SLOT_D, 8);
            if usable {
                let value = if self.rng.chance(70) { self.rng.pick(&[2, 3, 5, 6]) } else { self.rng.pick(&[0, 1, 4, 7, u64::MAX]) };
                write_slot(ptr, value);
            }
            call.args[4] = ptr;
        }
        call.target = Some(task);
        call
    }

    fn vm_wire(&mut self) -> Option<Call> {
        let (host, task, address) = (self.host_arg(), self.task(), self.address());
        let size = values::resident_size(&mut self.rng, address);
        if !self.allows_on(task, address, size) {
            return None;
        }
        let access = if self.rng.chance(30) { 0 } else { values::prot(&mut self.rng) };
        let mut call = Call::new(Sysno::VmWire, [host, task, address, size, access, self.junk()]);
        call.target = Some(task);
        Some(call)
    }

    /// The privileged host's name, mostly; else this task or another name.
    fn host_arg(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=6 => self.handles.host.map_or(2, u64::from),
            7 => self.handles.me.into(),
            _ => self.task(),
        }
    }

    /// `vm_map_device`: the frame buffer of QEMU's VGA device (mostly), memory, the local
    /// APIC, or any page; a placement and a caching, or junk flags.
    fn vm_map_device(&mut self) -> Option<Call> {
        const FRAME_BUFFER: u64 = 0xfd00_0000;
        let (host, task, address) = (self.host_arg(), self.task(), self.address());
        let size = values::size(&mut self.rng, address);
        let fixed = self.rng.chance(30);
        if fixed && !self.allows_on(task, address, size) {
            return None;
        }
        let phys = match self.rng.below(10) {
            0..=5 => FRAME_BUFFER + self.rng.below(64) * PAGE,
            6 => 0x10_0000,
            7 => 0xfee0_0000,
            8 => self.rng.next() & !(PAGE - 1),
            _ => self.junk(),
        };
        let cache = match self.rng.below(10) {
            0..=4 => VM_DEVICE_WRITE_COMBINING,
            5..=8 => VM_DEVICE_UNCACHED,
            _ => self.rng.next() as i32,
        };
        let flags = (if fixed { VM_FLAGS_FIXED } else { VM_FLAGS_ANYWHERE } | cache) as u32 as u64;
        let mut call = Call::new(Sysno::VmMapDevice, [host, task, 0, size, phys, flags]);
        let (ptr, usable) = self.out(&mut call, SLOT_A, 8);
        if usable {
            write_slot(ptr, address);
            call.effect = Effect::Address(ptr);
        }
        call.args[2] = ptr;
        call.must_write = true;
        call.target = Some(task);
        Some(call)
    }

    /// `host_framebuffer`, into a slot or a hostile pointer.
    fn host_framebuffer(&mut self) -> Call {
        let mut call = Call::new(Sysno::HostFramebuffer, [self.host_arg(), 0, self.junk(), self.junk(), self.junk(), self.junk()]);
        call.args[1] = self.out(&mut call, SLOT_INFO, 32).0;
        call.must_write = true;
        call
    }

    fn vm_region(&mut self) -> Call {
        let task = self.task();
        let mut call = Call::new(Sysno::VmRegion, [task, 0, 0, 0, self.junk(), self.junk()]);
        let (a, usable) = self.out(&mut call, SLOT_A, 8);
        let query = if self.rng.chance(50) { self.address() } else { self.rng.below(8) * PAGE };
        if usable {
            write_slot(a, query);
        }
        call.args[1] = a;
        let (size_ptr, size_usable) = self.out(&mut call, SLOT_B, 8);
        call.args[2] = size_ptr;
        call.args[3] = self.out(&mut call, SLOT_INFO, 32).0;
        if usable && size_usable {
            call.expect = Expect::Region { address_ptr: a, size_ptr, query };
        }
        call.must_write = true;
        call
    }

    /// `vm_statistics`, `task_info`, `clock_tsc_hz` or `host_processors`: one out-parameter.
    fn info_call(&mut self, no: Sysno) -> Call {
        let mut call = Call::new(no, [0, 0, self.junk(), self.junk(), self.junk(), self.junk()]);
        match no {
            Sysno::VmStatistics => call.args[0] = self.out(&mut call, SLOT_STATS, 64).0,
            Sysno::ClockTscHz | Sysno::HostProcessors => call.args[0] = self.out(&mut call, SLOT_A, 8).0,
            _ => {
                call.args[0] = self.task();
                call.args[1] = self.out(&mut call, SLOT_TASK_INFO, 40).0;
            }
        }
        call.must_write = true;
        call
    }

    /// Whether this task must survive (and so must not end itself).
    pub fn contained(&self) -> bool {
        self.mode == Mode::Contained
    }
}
