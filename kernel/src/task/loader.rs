//! Loading a user ELF executable into a new task.
//!
//! Every check comes before the task exists: a 64-bit little-endian x86_64 executable
//! (`ET_EXEC`, linked at its address), loadable segments inside the user map, page-disjoint,
//! with file bytes inside the file, and an entry point in an executable segment.
//!
//! Each segment's file bytes become a *frozen* memory object (`vm::Vm::new_frozen_entry`),
//! mapped with `map_named`: read-only segments (text, read-only data) shared, writable ones
//! (data) as a copy-on-write copy; the pages past the file bytes (bss) are zero-fill memory.
//! Protections are the segment's, as current and maximum. The stack sits at the top of the
//! map with a guard page below it (mapped with no access, so nothing else is placed there and
//! an overflow faults).

use super::{sched, TaskId};
use crate::memory::kstack::KernelStackError;
use crate::vm_system;
use alloc::vec::Vec;
use core::fmt;
use vm::api::{USER_MAX, USER_MIN};
use vm::{MapMode, NewMemory, Page, Placement, Prot, VmError, PAGE_SIZE};
use x86_64::VirtAddr;
use xmas_elf::header::{Class, Data, Machine, Type};
use xmas_elf::program::{ProgramHeader, Type as SegmentType};
use xmas_elf::ElfFile;

/// Size of a user stack.
pub const STACK_SIZE: u64 = 256 * 1024;
/// First address past the user stack.
pub const STACK_TOP: u64 = USER_MAX;

/// Why an executable could not be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// Not an ELF file this kernel runs; the text says what is wrong.
    BadElf(&'static str),
    /// The VM refused (out of memory, most likely).
    Vm(VmError),
    /// No kernel stack for the first thread (every slot taken, or no free frame).
    KernelStack(KernelStackError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadElf(why) => write!(f, "not a loadable executable: {why}"),
            Self::Vm(e) => write!(f, "cannot map the executable: {e}"),
            Self::KernelStack(e) => write!(f, "cannot start its thread: {e}"),
        }
    }
}

/// One loadable segment, checked.
struct Segment<'a> {
    start: u64,
    end: u64,
    vaddr: u64,
    bytes: &'a [u8],
    prot: Prot,
}

/// Creates a task running `image` and starts its first thread.
///
/// # Errors
///
/// [`LoadError`] if the image is not a valid executable or memory runs out; nothing is left
/// behind.
pub fn spawn(name: &str, image: &[u8], privileged: bool) -> Result<TaskId, LoadError> {
    let (entry, segments) = parse(image)?;
    let task = super::create_empty(name, privileged).map_err(LoadError::Vm)?;
    let map = super::map_of(task).expect("just created");
    if let Err(e) = populate(map, &segments) {
        super::end(task, super::KILLED_STATUS);
        return Err(LoadError::Vm(e));
    }
    if let Err(e) = sched::spawn(task, VirtAddr::new(entry), VirtAddr::new(STACK_TOP - 8), 0) {
        super::end(task, super::KILLED_STATUS);
        return Err(LoadError::KernelStack(e));
    }
    Ok(task)
}

fn parse(image: &[u8]) -> Result<(u64, Vec<Segment<'_>>), LoadError> {
    let elf = ElfFile::new(image).map_err(LoadError::BadElf)?;
    let h = &elf.header;
    if h.pt1.class() != Class::SixtyFour || h.pt1.data() != Data::LittleEndian {
        return Err(LoadError::BadElf("not a 64-bit little-endian ELF file"));
    }
    if h.pt2.machine().as_machine() != Machine::X86_64 {
        return Err(LoadError::BadElf("not an x86_64 executable"));
    }
    if h.pt2.type_().as_type() != Type::Executable {
        return Err(LoadError::BadElf("not a position-dependent executable (ET_EXEC)"));
    }
    let mut segments = Vec::new();
    for ph in elf.program_iter() {
        if ph.get_type() == Ok(SegmentType::Load) && ph.mem_size() > 0 {
            segments.push(segment(image, &ph)?);
        }
    }
    segments.sort_by_key(|s| s.start);
    if segments.windows(2).any(|w| w[0].end > w[1].start) {
        return Err(LoadError::BadElf("loadable segments share a page"));
    }
    let entry = h.pt2.entry_point();
    if !segments.iter().any(|s| s.vaddr <= entry && entry < s.end && s.prot.contains(Prot::EXECUTE)) {
        return Err(LoadError::BadElf("the entry point is not in an executable segment"));
    }
    Ok((entry, segments))
}

fn segment<'a>(image: &'a [u8], ph: &ProgramHeader<'_>) -> Result<Segment<'a>, LoadError> {
    let (vaddr, mem, file, offset) = (ph.virtual_addr(), ph.mem_size(), ph.file_size(), ph.offset());
    let end = vaddr.checked_add(mem).and_then(|e| e.checked_next_multiple_of(PAGE_SIZE));
    let start = vaddr - vaddr % PAGE_SIZE;
    let Some(end) = end.filter(|&e| start >= USER_MIN && e <= STACK_TOP - STACK_SIZE - PAGE_SIZE) else {
        return Err(LoadError::BadElf("a segment lies outside the user map"));
    };
    let file_end = offset.checked_add(file).filter(|&e| file <= mem && e <= image.len() as u64);
    if ph.flags().is_write() && !ph.flags().is_read() {
        return Err(LoadError::BadElf("a writable segment is not readable"));
    }
    let Some(file_end) = file_end else {
        return Err(LoadError::BadElf("a segment's file bytes lie outside the file"));
    };
    let flags = ph.flags();
    let mut prot = Prot::NONE;
    prot.set(Prot::READ, flags.is_read());
    prot.set(Prot::WRITE, flags.is_write());
    prot.set(Prot::EXECUTE, flags.is_execute());
    Ok(Segment { start, end, vaddr, bytes: &image[offset as usize..file_end as usize], prot })
}

fn populate(map: vm::MapId, segments: &[Segment<'_>]) -> Result<(), VmError> {
    let mut vm = vm_system::lock();
    for s in segments {
        map_segment(&mut vm, map, s)?;
    }
    let guard = NewMemory { protection: Prot::NONE, max_protection: Prot::NONE, ..NewMemory::DEFAULT };
    let stack_bottom = STACK_TOP - STACK_SIZE;
    vm.allocate(map, Placement::Fixed(Page::containing(stack_bottom - PAGE_SIZE)), 1, guard)?;
    vm.allocate(map, Placement::Fixed(Page::containing(stack_bottom)), STACK_SIZE / PAGE_SIZE, NewMemory::DEFAULT)?;
    Ok(())
}

/// Maps one segment: its file pages from a frozen object (shared, or copied if writable),
/// the rest zero-fill.
fn map_segment(vm: &mut vm_system::KernelVm, map: vm::MapId, s: &Segment<'_>) -> Result<(), VmError> {
    let memory = NewMemory { protection: s.prot, max_protection: s.prot, inheritance: vm::Inherit::Copy };
    let file_end = (s.vaddr + s.bytes.len() as u64).next_multiple_of(PAGE_SIZE).max(s.start);
    let file_pages = (file_end - s.start) / PAGE_SIZE;
    if file_pages > 0 {
        let granted = s.prot - Prot::WRITE;
        let entry = vm.new_frozen_entry(file_pages, s.vaddr - s.start, s.bytes, granted)?;
        let mode = if s.prot.contains(Prot::WRITE) { MapMode::Copy } else { MapMode::Shared };
        let mapped = vm.map_named(map, Placement::Fixed(Page::containing(s.start)), file_pages, entry, 0, mode, memory);
        vm.release_named(entry);
        mapped?;
    }
    if file_end < s.end {
        let pages = (s.end - file_end) / PAGE_SIZE;
        vm.allocate(map, Placement::Fixed(Page::containing(file_end)), pages, memory)?;
    }
    Ok(())
}
