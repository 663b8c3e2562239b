//! Generating calls: `vm_map`, memory entries, copy objects and the copies built on them.

use super::fuzzer::{write_slot, Call, Effect, Expect, Fuzzer};
use super::gen::{SLOT_A, SLOT_B, SLOT_C, SLOT_MAP, SLOT_REMAP};
use super::layout::PAGE;
use super::values;
use mach::raw::Sysno;
use mach::*;

impl Fuzzer {
    pub fn generate_other(&mut self, no: Sysno) -> Option<Call> {
        match no {
            Sysno::VmMap => self.vm_map(),
            Sysno::MachMakeMemoryEntry => self.make_memory_entry(),
            Sysno::VmCopyin => self.vm_copyin(),
            Sysno::VmCopyout => Some(self.vm_copyout()),
            Sysno::VmCopyOverwrite => self.vm_copy_overwrite(),
            Sysno::VmCopyDiscard => Some(self.vm_copy_discard()),
            Sysno::VmRead => self.vm_read(),
            Sysno::VmWrite | Sysno::VmCopy => self.vm_write_or_copy(no),
            Sysno::VmRemap => self.vm_remap(),
            _ => self.generate_task_call(no),
        }
    }

    /// A memory-entry argument: null, a live entry, a stale name or a forged one.
    fn entry_arg(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=3 => 0,
            4..=7 => self.handles.entries.pick(&mut self.rng).map_or(0, |(_, e)| e.into()),
            8 => self.handles.stale(&mut self.rng).into(),
            _ => self.task(),
        }
    }

    /// A copy argument: null, a live copy, a stale name or a forged one.
    fn copy_arg(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=1 => 0,
            2..=7 => self.handles.copies.pick(&mut self.rng).map_or(0, |(_, c)| c.0.into()),
            8 => self.handles.stale(&mut self.rng).into(),
            _ => self.task(),
        }
    }

    /// The size of the copy named `copy`, if this task holds it.
    fn copy_size(&self, copy: u64) -> Option<u64> {
        self.handles.copies.find(|c| u64::from(c.0) == copy).and_then(|i| self.handles.copies.get(i)).map(|c| c.1)
    }

    fn vm_map(&mut self) -> Option<Call> {
        let task = self.task() as u32;
        let address = self.address();
        let size = values::size(&mut self.rng, address);
        let flags = values::flags(&mut self.rng) as i32;
        if flags == 0 && !self.allows_on(task.into(), address, size) {
            return None;
        }
        let offset = if self.rng.chance(80) { self.rng.below(8) * PAGE } else { self.rng.pick(&[1, u64::MAX - 0xfff, 1 << 40]) };
        let args = VmMapArgs {
            address,
            size,
            mask: values::mask(&mut self.rng),
            offset,
            target_task: task,
            flags,
            object: self.entry_arg() as u32,
            copy: values::boolean(&mut self.rng) as u32,
            cur_protection: values::prot(&mut self.rng) as i32,
            max_protection: values::prot(&mut self.rng) as i32,
            inheritance: values::inheritance(&mut self.rng) as u32,
            reserved: if self.rng.chance(90) { 0 } else { self.rng.next() as u32 },
        };
        let mut call = self.block_call(Sysno::VmMap, SLOT_MAP, &args, task.into());
        if let Effect::Address(ptr) = call.effect {
            call.expect = match flags {
                1 => Expect::Placed { ptr, size, mask: args.mask },
                _ => Expect::Equals { ptr, value: address & !(PAGE - 1) },
            };
        }
        Some(call)
    }

    /// A call whose arguments are a block at one pointer (`vm_map`, `vm_remap`).
    fn block_call<T>(&mut self, no: Sysno, slot: u64, block: &T, task: u64) -> Call {
        let mut call = Call::new(no, [0, self.junk(), self.junk(), self.junk(), self.junk(), self.junk()]);
        let (ptr, usable) = self.out(&mut call, slot, core::mem::size_of::<T>() as u64);
        if usable {
            // SAFETY: `ptr` is a usable scratch pointer with room for the block (the slots
            // leave 128 bytes each); `T` is a plain argument struct.
            unsafe { (ptr as *mut T).write_unaligned(core::ptr::read(block)) };
            call.effect = Effect::Address(ptr);
        }
        call.args[0] = ptr;
        call.must_write = true;
        call.target = Some(task);
        call
    }

    fn make_memory_entry(&mut self) -> Option<Call> {
        let (task, offset) = (self.task(), self.address());
        let size = values::size(&mut self.rng, offset);
        let permission = values::prot(&mut self.rng);
        let create = permission & MAP_MEM_NAMED_CREATE as u64 != 0;
        let parent = if self.rng.chance(70) { 0 } else { self.entry_arg() };
        if !create && parent == 0 && !self.allows_on(task, offset, size) {
            return None;
        }
        let mut call = Call::new(Sysno::MachMakeMemoryEntry, [task, 0, offset, permission, 0, parent]);
        let (size_ptr, size_usable) = self.out(&mut call, SLOT_B, 8);
        let size = if create { size % (1 << 30) } else { size };
        if size_usable {
            write_slot(size_ptr, size);
            if let Some(rounded) = size.checked_next_multiple_of(PAGE) {
                call.expect = Expect::Equals { ptr: size_ptr, value: rounded };
            }
        }
        let (handle_ptr, handle_usable) = self.out(&mut call, SLOT_C, 8);
        if handle_usable {
            write_slot(handle_ptr, self.rng.next());
            call.effect = Effect::NewEntry(handle_ptr);
        }
        (call.args[1], call.args[4]) = (size_ptr, handle_ptr);
        call.must_write = true;
        call.target = Some(task);
        Some(call)
    }

    fn vm_copyin(&mut self) -> Option<Call> {
        let (task, address) = (self.task(), self.address());
        let size = values::size(&mut self.rng, address);
        let destroy = values::boolean(&mut self.rng);
        if (destroy != 0 && !self.allows_on(task, address, size)) || !self.allows_source(task, address, size) {
            return None;
        }
        let mut call = Call::new(Sysno::VmCopyin, [task, address, size, destroy, 0, self.junk()]);
        let (ptr, usable) = self.out(&mut call, SLOT_C, 8);
        if usable {
            write_slot(ptr, self.rng.next());
            call.effect = Effect::NewCopy(ptr, size);
        }
        call.args[4] = ptr;
        call.must_write = true;
        call.target = Some(task);
        Some(call)
    }

    fn vm_copyout(&mut self) -> Call {
        let (task, copy) = (self.task(), self.copy_arg());
        let mut call = Call::new(Sysno::VmCopyout, [task, copy, 0, self.junk(), self.junk(), self.junk()]);
        let (ptr, usable) = self.out(&mut call, SLOT_A, 8);
        call.args[2] = ptr;
        call.must_write = true;
        call.target = Some(task);
        call.effect = Effect::CopiedOut(copy, usable.then_some(ptr));
        call
    }

    fn vm_copy_overwrite(&mut self) -> Option<Call> {
        let (task, address, copy) = (self.task(), self.address(), self.copy_arg());
        if let Some(size) = self.copy_size(copy) {
            if !self.allows_on(task, address, size) {
                return None;
            }
        }
        let mut call = Call::new(Sysno::VmCopyOverwrite, [task, address, copy, self.junk(), self.junk(), self.junk()]);
        call.effect = Effect::CopyGone(copy);
        call.target = Some(task);
        Some(call)
    }

    fn vm_copy_discard(&mut self) -> Call {
        let copy = self.copy_arg();
        let mut call = Call::new(Sysno::VmCopyDiscard, [copy, self.junk(), self.junk(), self.junk(), self.junk(), self.junk()]);
        call.effect = Effect::CopyGone(copy);
        call
    }

    fn vm_read(&mut self) -> Option<Call> {
        let (task, address) = (self.task(), self.address());
        let size = values::resident_size(&mut self.rng, address);
        if !self.allows_source(task, address, size) {
            return None;
        }
        let mut call = Call::new(Sysno::VmRead, [task, address, size, 0, 0, self.junk()]);
        let (data, usable) = self.out(&mut call, SLOT_A, 8);
        if usable {
            call.effect = Effect::Address(data);
        }
        call.args[3] = data;
        let (count_ptr, count_usable) = self.out(&mut call, SLOT_B, 8);
        call.args[4] = count_ptr;
        if count_usable {
            call.expect = Expect::Equals { ptr: count_ptr, value: size };
        }
        call.must_write = true;
        call.target = Some(u64::from(self.handles.me));
        Some(call)
    }

    /// `vm_write(task, address, data, count)` or `vm_copy(task, source, count, dest)`.
    fn vm_write_or_copy(&mut self, no: Sysno) -> Option<Call> {
        let (task, dest, source) = (self.task(), self.address(), self.address());
        let count = values::resident_size(&mut self.rng, dest);
        let me = u64::from(self.handles.me);
        let source_task = if no == Sysno::VmWrite { me } else { task };
        if !self.allows_on(task, dest, count) || !self.allows_source(source_task, source, count) {
            return None;
        }
        let args = if no == Sysno::VmWrite { [task, dest, source, count] } else { [task, source, count, dest] };
        let mut call = Call::new(no, [args[0], args[1], args[2], args[3], self.junk(), self.junk()]);
        call.target = Some(task);
        Some(call)
    }

    fn vm_remap(&mut self) -> Option<Call> {
        let (target, source_task) = (self.task() as u32, self.task() as u32);
        let (target_address, src_address) = (self.address(), self.address());
        let size = values::resident_size(&mut self.rng, src_address);
        let flags = values::flags(&mut self.rng) as i32;
        let copy = values::boolean(&mut self.rng) as u32;
        if flags == 0 && !self.allows_on(target.into(), target_address, size.wrapping_add(src_address % PAGE)) {
            return None;
        }
        if copy == 0 && !self.allows_on(source_task.into(), src_address, size) {
            return None;
        }
        if !self.allows_source(source_task.into(), src_address, size) {
            return None;
        }
        let args = VmRemapArgs {
            target_address,
            size,
            mask: values::mask(&mut self.rng),
            src_address,
            target_task: target,
            flags,
            src_task: source_task,
            copy,
            cur_protection: self.rng.next() as i32,
            max_protection: self.rng.next() as i32,
            inheritance: values::inheritance(&mut self.rng) as u32,
            reserved: if self.rng.chance(90) { 0 } else { self.rng.next() as u32 },
        };
        Some(self.block_call(Sysno::VmRemap, SLOT_REMAP, &args, target.into()))
    }
}
