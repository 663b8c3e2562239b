//! Kernel stacks with guard pages: thread stacks and interrupt (IST) stacks.
//!
//! The kernel-stack area is the top-level (P4) entry 510, from [`AREA_START`]
//! (`boot::KERNEL_STACKS_BASE`), cut into [`SLOTS`] slots: one per thread the limits allow
//! (`limits::MAX_THREADS`), and per processor one per interrupt stack (`arch::gdt::IST_STACKS`)
//! and one for its scheduler loop. A slot is an
//! unmapped guard page with the stack above it:
//!
//! ```text
//!  AREA_START + s × SLOT_SIZE                                AREA_START + (s + 1) × SLOT_SIZE
//!  │ guard page (never mapped) │ stack: STACK_PAGES pages, mapped while the slot is owned │
//!                               ▲ bottom                                            top ▲
//! ```
//!
//! A stack that overflows touches its guard page; the page fault cannot push its frame there
//! either, so the CPU raises a double fault, which runs on its own IST stack (`arch::gdt`);
//! the handler finds the slot with [`overflow_at`] and panics naming the stack's owner.
//!
//! The page tables of the whole area are made at boot and never freed ([`tables`]). A
//! [`KernelStack`] owns a slot and the frames mapped in it: [`KernelStack::allocate`] claims a
//! free slot and maps fresh zeroed frames from the frame allocator; dropping it unmaps them,
//! invalidates their translations and frees them.
//!
//! Locking: none. A slot is claimed and released by an atomic owner word ([`OWNERS`]), and a
//! slot's leaf entries are written only by its owner; the double-fault handler only reads the
//! owner words, so it never waits for a lock held by the code that overflowed.

mod tables;

use crate::arch::gdt::IST_STACKS;
use crate::arch::percpu::MAX_CPUS;
use crate::limits::MAX_THREADS;
use crate::memory::{self, phys_to_virt};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::structures::paging::page::PageRange;
use x86_64::structures::paging::{Page, PhysFrame};
use x86_64::VirtAddr;

/// Bytes in a page.
const PAGE_SIZE: u64 = 4096;
/// Pages of stack in a slot (32 KiB).
pub const STACK_PAGES: u64 = 8;
/// Bytes of stack in a slot.
pub const STACK_SIZE: u64 = STACK_PAGES * PAGE_SIZE;
/// Bytes in a slot: one guard page and the stack.
pub const SLOT_SIZE: u64 = PAGE_SIZE + STACK_SIZE;
/// Slots in the area: one per thread, and per processor its interrupt stacks and (but the
/// boot processor, whose loop runs on the boot stack) its scheduler loop's stack.
pub const SLOTS: usize = MAX_THREADS + MAX_CPUS * (IST_STACKS + 1) - 1;
/// First address of the area.
pub const AREA_START: u64 = crate::boot::KERNEL_STACKS_BASE;
/// Bytes in the area.
pub const AREA_SIZE: u64 = SLOTS as u64 * SLOT_SIZE;

/// Who a stack belongs to, recorded in its slot for overflow reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackOwner {
    /// The kernel stack of the thread with this number (`task::sched::ThreadId`).
    Thread(u32),
    /// The stack of interrupt-stack-table `index` (as `arch::gdt` numbers them, from 0) of
    /// processor `cpu`.
    Interrupt {
        /// The processor.
        cpu: u16,
        /// The IST index.
        index: u16,
    },
    /// The scheduler loop's stack of application processor `cpu`.
    Scheduler(u16),
}

/// An owner word of a free slot.
const FREE: u64 = 0;
const THREAD_TAG: u64 = 1 << 32;
const INTERRUPT_TAG: u64 = 2 << 32;
const SCHEDULER_TAG: u64 = 3 << 32;

impl StackOwner {
    fn encode(self) -> u64 {
        match self {
            Self::Thread(n) => THREAD_TAG | u64::from(n),
            Self::Interrupt { cpu, index } => INTERRUPT_TAG | u64::from(cpu) << 16 | u64::from(index),
            Self::Scheduler(cpu) => SCHEDULER_TAG | u64::from(cpu),
        }
    }

    fn decode(word: u64) -> Option<Self> {
        match word & !0xffff_ffff {
            THREAD_TAG => Some(Self::Thread(word as u32)),
            INTERRUPT_TAG => Some(Self::Interrupt { cpu: (word >> 16) as u16, index: word as u16 }),
            SCHEDULER_TAG => Some(Self::Scheduler(word as u16)),
            _ => None,
        }
    }
}

impl fmt::Display for StackOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Thread(n) => write!(f, "thread {n}"),
            Self::Interrupt { cpu, index } => write!(f, "interrupt stack {index} of cpu {cpu}"),
            Self::Scheduler(cpu) => write!(f, "scheduler stack of cpu {cpu}"),
        }
    }
}

/// The owner of each slot, encoded ([`FREE`] when the slot is free). Invariant: a slot's
/// stack pages are mapped only while its word is not free, and only by its owner.
static OWNERS: [AtomicU64; SLOTS] = [const { AtomicU64::new(FREE) }; SLOTS];

/// Why a kernel stack could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelStackError {
    /// Every slot is taken.
    NoSlot,
    /// The frame allocator ran out of frames.
    OutOfMemory,
}

impl fmt::Display for KernelStackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSlot => f.write_str("every kernel-stack slot is taken"),
            Self::OutOfMemory => f.write_str("no free frame for a kernel stack"),
        }
    }
}

/// Sets up the area: global pages on, and every page table of the area made. Runs once, at
/// boot, after the frame allocator and before the CPU tables (whose interrupt stacks come
/// from here) and before any address space exists.
///
/// # Panics
///
/// If the CPU lacks global pages, the area's top-level entry is in use, or memory runs out.
pub fn init() {
    enable_global_pages();
    let frames = tables::build();
    log::info!(
        "kernel stacks: {SLOTS} slots of {} KiB (guard page, {} KiB stack) at {:#x}..{:#x}, {frames} table frames",
        SLOT_SIZE >> 10,
        STACK_SIZE >> 10,
        AREA_START,
        AREA_START + AREA_SIZE
    );
}

/// Turns on CR4.PGE, so that the area's global translations can be dropped from every PCID at
/// once (see [`tables`]).
fn enable_global_pages() {
    // CPUID leaf 1, EDX bit 13: global pages.
    let pge = core::arch::x86_64::__cpuid(1).edx & (1 << 13) != 0;
    assert!(pge, "the CPU lacks global pages (CPUID.01H:EDX.PGE)");
    // SAFETY: the CPU has the feature. Setting PGE flushes the TLB and only changes how
    // translations marked global are cached; at boot no entry is marked global (the
    // bootloader sets none, the pmap never does), so only this area's pages become global.
    unsafe { Cr4::update(|flags| flags.insert(Cr4Flags::PAGE_GLOBAL)) };
}

/// A kernel stack: a slot of the area with its stack pages mapped to frames it owns. Dropping
/// it unmaps the pages, invalidates their translations and frees the frames.
#[derive(Debug)]
pub struct KernelStack {
    slot: usize,
}

impl KernelStack {
    /// Claims a free slot for `owner` and maps zeroed frames under its stack.
    ///
    /// # Errors
    ///
    /// [`KernelStackError::NoSlot`] if every slot is taken, [`KernelStackError::OutOfMemory`]
    /// if frames run out; nothing is left allocated.
    pub fn allocate(owner: StackOwner) -> Result<Self, KernelStackError> {
        let slot = claim_slot(owner).ok_or(KernelStackError::NoSlot)?;
        // From here on, dropping `stack` gives back whatever was mapped.
        let stack = Self { slot };
        for page in stack.pages() {
            let frame = memory::allocate_frame().ok_or(KernelStackError::OutOfMemory)?;
            zero_frame(frame);
            tables::map(page, frame);
        }
        Ok(stack)
    }

    /// The slot's number.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The lowest address of the stack (the guard page lies just below).
    pub fn bottom(&self) -> VirtAddr {
        slot_start(self.slot) + PAGE_SIZE
    }

    /// The first address past the stack (16-byte aligned): the initial stack pointer.
    pub fn top(&self) -> VirtAddr {
        slot_start(self.slot) + SLOT_SIZE
    }

    /// The guard page below the stack, never mapped.
    pub fn guard_page(&self) -> Page {
        Page::containing_address(slot_start(self.slot))
    }

    /// The stack as words, to lay out a new thread's first frame (`arch::context`). Nothing may
    /// be running on it: a context runs on a stack only after an `unsafe` switch, whose
    /// contract forbids handing out a stack in use.
    pub fn words_mut(&mut self) -> &mut [u64] {
        // SAFETY: the stack pages are mapped, writable and zeroed-or-written memory owned by
        // this value for as long as it lives; `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.bottom().as_mut_ptr::<u64>(), (STACK_SIZE / 8) as usize) }
    }

    fn pages(&self) -> PageRange {
        Page::range(Page::containing_address(self.bottom()), Page::containing_address(self.top()))
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        let mut stale = crate::arch::tlb::KernelPages::new(memory::deallocate_frame);
        for page in self.pages() {
            if let Some(frame) = tables::unmap(page) {
                stale.push(page.start_address(), Some(frame));
            }
        }
        stale.invalidate();
        OWNERS[self.slot].store(FREE, Ordering::Release);
    }
}

/// Claims the first free slot for `owner`.
fn claim_slot(owner: StackOwner) -> Option<usize> {
    let claim = |word: &AtomicU64| word.compare_exchange(FREE, owner.encode(), Ordering::AcqRel, Ordering::Acquire);
    OWNERS.iter().position(|word| claim(word).is_ok())
}

/// Fills `frame`, just allocated, with zeros.
fn zero_frame(frame: PhysFrame) {
    // SAFETY: the frame was just allocated, so nothing else uses it; it is mapped writable
    // through the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame.start_address()).as_mut_ptr::<u8>(), 0, PAGE_SIZE as usize) };
}

fn slot_start(slot: usize) -> VirtAddr {
    VirtAddr::new(AREA_START + slot as u64 * SLOT_SIZE)
}

/// A fault in the guard page of an owned stack: that stack overflowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackOverflow {
    /// The slot whose guard page was touched.
    pub slot: usize,
    /// Who owns the stack.
    pub owner: StackOwner,
    /// The faulting address.
    pub address: VirtAddr,
}

impl fmt::Display for StackOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (owner, slot, address) = (self.owner, self.slot, self.address.as_u64());
        write!(f, "kernel stack overflow: {owner} / stack slot {slot}, fault at {address:#x}")
    }
}

/// The overflow a fault at `address` means, if `address` lies in the guard page of an owned
/// slot. Takes no lock and allocates nothing: the double-fault handler calls it.
pub fn overflow_at(address: VirtAddr) -> Option<StackOverflow> {
    let offset = address.as_u64().checked_sub(AREA_START).filter(|&o| o < AREA_SIZE)?;
    if offset % SLOT_SIZE >= PAGE_SIZE {
        return None;
    }
    let slot = (offset / SLOT_SIZE) as usize;
    let owner = StackOwner::decode(OWNERS[slot].load(Ordering::Acquire))?;
    Some(StackOverflow { slot, owner, address })
}

/// Slots in use (tests compare it before and after).
pub fn slots_in_use() -> usize {
    OWNERS.iter().filter(|word| word.load(Ordering::Relaxed) != FREE).count()
}

/// The frame mapped at `page` of the area, read from its leaf entry (tests use it to check
/// what a stack owns).
pub fn mapped_frame(page: Page) -> Option<PhysFrame> {
    tables::translate(page)
}
