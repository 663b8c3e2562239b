//! TLB shootdowns: invalidations carried out on other processors, one round of
//! inter-processor interrupts and acknowledgements at a time.
//!
//! One request exists at a time ([`LOCK`]). The initiator writes it, sets the bit of every
//! target in [`PENDING`] (release), sends each the [`VECTOR`] interrupt and waits until every
//! bit is clear; a target carries the request out and clears its bit (release, after its
//! invalidations). The initiator only frees what the request unmapped once it returns.
//!
//! A processor waiting for a lock with interrupts off could never take the interrupt, and if
//! the lock's holder were waiting for its acknowledgement, neither would move. So every wait
//! in the kernel, a lock's spin included (`sync`), calls [`service`], which carries out a
//! request addressed to this processor: a round always completes.

use super::{apic, percpu};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use pmap_x86::Invalidate;
use vm::pmap::FLUSH_BATCH;
use x86_64::instructions::tlb;
use x86_64::registers::control::{Cr3, Cr4, Cr4Flags};
use x86_64::structures::idt::InterruptStackFrame;
use x86_64::structures::paging::PhysFrame;
use x86_64::VirtAddr;

/// The vector of shootdown interrupts.
pub const VECTOR: u8 = 0xf0;

/// What the current request asks.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum Kind {
    /// `COUNT` pages of user spaces: `(ROOTS[i], PAGES[i])`, invalidated where that root is
    /// loaded.
    UserPages = 0,
    /// Every user translation of the loaded space.
    UserAll = 1,
    /// `COUNT` kernel (global) pages.
    KernelPages = 2,
    /// Every translation, global ones included.
    Everything = 3,
}

static LOCK: AtomicBool = AtomicBool::new(false);
static PENDING: AtomicU64 = AtomicU64::new(0);
static KIND: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static ROOTS: [AtomicU64; FLUSH_BATCH] = [const { AtomicU64::new(0) }; FLUSH_BATCH];
static PAGES: [AtomicU64; FLUSH_BATCH] = [const { AtomicU64::new(0) }; FLUSH_BATCH];
/// Rounds completed since boot.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

/// Rounds of shootdowns completed since boot.
pub fn rounds() -> u64 {
    ROUNDS.load(Ordering::Relaxed)
}

/// Carries out the request addressed to this processor, if there is one. Safe to call
/// anywhere, with interrupts on or off; takes no lock.
pub fn service() {
    let Some(cpu) = percpu::try_current() else { return };
    let bit = 1u64 << cpu.index;
    if PENDING.load(Ordering::Acquire) & bit == 0 {
        return;
    }
    let count = COUNT.load(Ordering::Relaxed);
    match KIND.load(Ordering::Relaxed) {
        k if k == Kind::UserPages as u64 => {
            let loaded = Cr3::read().0.start_address().as_u64();
            for i in 0..count {
                if ROOTS[i].load(Ordering::Relaxed) == loaded {
                    tlb::flush(VirtAddr::new_truncate(PAGES[i].load(Ordering::Relaxed)));
                }
            }
        }
        k if k == Kind::UserAll as u64 => tlb::flush_all(),
        k if k == Kind::KernelPages as u64 => {
            for page in &PAGES[..count] {
                tlb::flush(VirtAddr::new_truncate(page.load(Ordering::Relaxed)));
            }
        }
        _ => flush_everything_here(),
    }
    PENDING.fetch_and(!bit, Ordering::Release);
}

/// Drops every translation of this processor, global ones and every PCID's included
/// (toggling CR4.PGE).
pub fn flush_everything_here() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: clearing and restoring PGE changes no translation, only empties the TLB.
        unsafe {
            let flags = Cr4::read();
            Cr4::write(flags - Cr4Flags::PAGE_GLOBAL);
            Cr4::write(flags);
        }
    });
}

/// Runs one round: `fill` writes the request, then every online processor in `targets`
/// carries it out. Returns when all have.
fn round(targets: u64, kind: Kind, fill: impl FnOnce() -> usize) {
    let targets = targets & super::smp::online_mask() & !(1 << percpu::index());
    if targets == 0 {
        return;
    }
    while LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        service();
        core::hint::spin_loop();
    }
    COUNT.store(fill(), Ordering::Relaxed);
    KIND.store(kind as u64, Ordering::Relaxed);
    PENDING.store(targets, Ordering::Release);
    for cpu in (0..percpu::MAX_CPUS).filter(|i| targets & (1 << i) != 0) {
        apic::send_ipi(percpu::get(cpu).expect("an online processor").apic_id, VECTOR);
    }
    while PENDING.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
    ROUNDS.fetch_add(1, Ordering::Relaxed);
    LOCK.store(false, Ordering::Release);
}

/// Carries out `what` (for user spaces) on the processors in `targets`.
pub fn shootdown_user(targets: u64, what: Invalidate<'_>) {
    match what {
        Invalidate::Pages(pages) => round(targets, Kind::UserPages, || {
            for (i, &(root, page)) in pages.iter().take(FLUSH_BATCH).enumerate() {
                ROOTS[i].store(root.addr(), Ordering::Relaxed);
                PAGES[i].store(page, Ordering::Relaxed);
            }
            pages.len().min(FLUSH_BATCH)
        }),
        Invalidate::Everything => round(targets, Kind::UserAll, || 0),
    }
}

/// Invalidates kernel (global) pages on every processor: here, then on the others. A frame a
/// page mapped may be freed once this returns.
pub fn invalidate_kernel_pages(pages: &[VirtAddr]) {
    for &page in pages {
        tlb::flush(page);
    }
    for batch in pages.chunks(FLUSH_BATCH) {
        round(u64::MAX, Kind::KernelPages, || {
            for (slot, page) in PAGES.iter().zip(batch) {
                slot.store(page.as_u64(), Ordering::Relaxed);
            }
            batch.len()
        });
    }
}

/// Kernel pages just unmapped, invalidated everywhere in batches of [`FLUSH_BATCH`] (one
/// round each), after which the frames they mapped go to `free`.
pub struct KernelPages {
    pages: [VirtAddr; FLUSH_BATCH],
    frames: [Option<PhysFrame>; FLUSH_BATCH],
    len: usize,
    free: fn(PhysFrame),
}

impl KernelPages {
    /// An empty batch whose frames go to `free`.
    pub fn new(free: fn(PhysFrame)) -> Self {
        Self { pages: [VirtAddr::zero(); FLUSH_BATCH], frames: [None; FLUSH_BATCH], len: 0, free }
    }

    /// Adds `page`, unmapped, and the frame it mapped if that is to be freed.
    pub fn push(&mut self, page: VirtAddr, frame: Option<PhysFrame>) {
        if self.len == FLUSH_BATCH {
            self.invalidate();
        }
        self.pages[self.len] = page;
        self.frames[self.len] = frame;
        self.len += 1;
    }

    /// Invalidates the pages everywhere, then frees their frames.
    pub fn invalidate(&mut self) {
        invalidate_kernel_pages(&self.pages[..self.len]);
        for frame in self.frames[..self.len].iter_mut().filter_map(Option::take) {
            (self.free)(frame);
        }
        self.len = 0;
    }
}

impl Drop for KernelPages {
    fn drop(&mut self) {
        debug_assert_eq!(self.len, 0, "kernel pages unmapped but not invalidated");
    }
}

/// Drops every translation on every processor (global ones and every PCID's): a page table
/// of the kernel half may then be freed.
pub fn flush_everything() {
    flush_everything_here();
    round(u64::MAX, Kind::Everything, || 0);
}

pub(super) extern "x86-interrupt" fn interrupt(frame: InterruptStackFrame) {
    let _entry = percpu::UserEntry::new(&frame);
    service();
    apic::end_of_interrupt();
}
