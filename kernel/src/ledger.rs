//! Ledgers: who the kernel's memory is charged to, so that one family of tasks cannot take
//! what the others need.
//!
//! Every kernel-heap block carries the ledger it was charged to (a word before the block,
//! written by [`crate::memory::heap`]), charged with the block's footprint (its size class
//! or its pages); freeing it credits that ledger, whoever frees it. A block is charged to
//! the *current* ledger: the calling task's while a system call or a user fault runs
//! ([`charged_to`]), the kernel's ([`KERNEL`]) otherwise.
//!
//! A *family* shares one ledger: the init task has its own, every task that init creates
//! starts a new one, and a task created by any other task joins its creator's. So whatever a
//! task does through its children (maps built by inheritance, their entries, handles,
//! threads) is charged where it started.
//!
//! Limits, all proportional to usable memory `U` (`crate::limits`):
//! - a family may hold at most [`quota`] bytes of heap, a quarter of what the reserve leaves
//!   (`(U − U/16) / 4`); a call (or fault) that starts above it is refused with
//!   `KERN_RESOURCE_SHORTAGE` (or ends the faulting task), and a call estimated to allocate
//!   a lot (a fork, a copy of many pieces: `limits::heap_allows`) is refused unless the
//!   estimate fits in what is left of the quota;
//! - every call is also refused while the heap cannot grow by the global reserve
//!   (`limits::heap_reserve`, `U / 16`), which covers the most one call allocates beyond
//!   its estimate;
//! - a family may have at most a quarter of the task table and of the thread limit;
//! - so one family holds at most its quota plus what its last call allocated beyond its
//!   estimate (below the reserve): under `0.24 U + 0.0625 U`, which leaves the others more
//!   than two thirds of memory, less what tasks' pages take, and the kernel its reserve.
//!   Two hostile families still leave the others room; it takes three, all at their peaks,
//!   to fill the heap up to the reserve (where every allocating call is refused, and the
//!   kernel still never runs out).
//!
//! Ledger slots are few ([`SLOTS`]); a slot is reused once its family has no task and no
//! thread. Blocks charged to the ended family may still be live (a shadow object its faults
//! made in memory shared with its parent, say): that *residue* stays on the slot, is not
//! counted against the new family's quota, and shrinks as those blocks are freed.

use crate::sync::Mutex;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Identifies a ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerId(u32);

/// The kernel's own ledger (boot, the scheduler, anything outside a task's call).
pub const KERNEL: LedgerId = LedgerId(0);

/// Ledger slots, the kernel's included: at most `SLOTS - 1` families at once.
pub const SLOTS: usize = 64;

/// Heap bytes charged to each ledger.
static BYTES: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

/// Of each ledger's bytes, those left by a family that used the slot before (at most
/// `BYTES`).
static RESIDUE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

/// Tasks in each ledger's family (the record, alive or ended); slot 0 is never counted.
static MEMBERS: Mutex<[u32; SLOTS]> = Mutex::new([0; SLOTS]);

/// Threads of each ledger's family.
static THREADS: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];

/// The ledger allocations are charged to now.
/// The current ledger before the boot processor's record exists (always the kernel's).
static CURRENT: AtomicU32 = AtomicU32::new(0);

impl LedgerId {
    /// The raw slot number (stored in heap block headers).
    pub fn raw(self) -> u32 {
        self.0
    }

    /// Heap bytes charged to this ledger's family now (without an earlier family's residue).
    pub fn bytes(self) -> usize {
        let i = self.0 as usize;
        BYTES[i].load(Ordering::Relaxed).saturating_sub(RESIDUE[i].load(Ordering::Relaxed))
    }

    /// Whether this family holds no more than its quota.
    pub fn within_quota(self) -> bool {
        self.within_quota_and(0)
    }

    /// Whether this family holds no more than its quota and `slack` bytes (the kernel's own
    /// ledger always does).
    pub fn within_quota_and(self, slack: usize) -> bool {
        self == KERNEL || self.bytes() <= quota().saturating_add(slack)
    }

    /// Whether this family, holding `bytes` more, would hold no more than its quota (the
    /// kernel's own ledger always would).
    pub fn has_room_for(self, bytes: usize) -> bool {
        self == KERNEL || self.bytes().saturating_add(bytes) <= quota()
    }
}

/// The most heap bytes one family may hold: a quarter of the memory the reserve leaves.
pub fn quota() -> usize {
    (crate::limits::usable_bytes() - crate::limits::heap_reserve()) / 4
}

/// The ledger allocations are charged to now.
pub fn current() -> LedgerId {
    LedgerId(here().load(Ordering::Relaxed))
}

/// The running processor's current ledger (the boot processor's static one until its record
/// exists).
fn here() -> &'static AtomicU32 {
    crate::arch::percpu::try_current().map_or(&CURRENT, |cpu| &cpu.ledger)
}

/// Charges allocations to `ledger` from now on (the scheduler, when a thread of its family
/// starts running).
pub fn set_current(ledger: LedgerId) {
    here().store(ledger.0, Ordering::Relaxed);
}

/// Runs `f` with allocations charged to `ledger`, then charges the previous ledger again.
pub fn charged_to<R>(ledger: LedgerId, f: impl FnOnce() -> R) -> R {
    let previous = here().swap(ledger.0, Ordering::Relaxed);
    let result = f();
    here().store(previous, Ordering::Relaxed);
    result
}

/// Charges `bytes` of heap to the ledger numbered `raw` (the heap's allocation path).
pub fn charge(raw: u32, bytes: usize) {
    BYTES[raw as usize].fetch_add(bytes, Ordering::Relaxed);
}

/// Credits `bytes` of heap to the ledger numbered `raw` (the heap's free path).
pub fn credit(raw: u32, bytes: usize) {
    let left = BYTES[raw as usize].fetch_sub(bytes, Ordering::Relaxed) - bytes;
    RESIDUE[raw as usize].fetch_min(left, Ordering::Relaxed);
}

/// A ledger for a new family: a slot with no task and no thread, the one with the least
/// residue. `None` when every slot is in use.
pub fn open() -> Option<LedgerId> {
    let mut members = MEMBERS.lock();
    let unused = |i: &usize| members[*i] == 0 && THREADS[*i].load(Ordering::Relaxed) == 0;
    let slot = (1..SLOTS).filter(unused).min_by_key(|&i| BYTES[i].load(Ordering::Relaxed))?;
    RESIDUE[slot].store(BYTES[slot].load(Ordering::Relaxed), Ordering::Relaxed);
    members[slot] = 1;
    Some(LedgerId(slot as u32))
}

/// Counts one more task in `ledger`'s family.
pub fn join(ledger: LedgerId) {
    if ledger != KERNEL {
        MEMBERS.lock()[ledger.0 as usize] += 1;
    }
}

/// Counts one task less in `ledger`'s family (its record is gone).
pub fn leave(ledger: LedgerId) {
    if ledger != KERNEL {
        MEMBERS.lock()[ledger.0 as usize] -= 1;
    }
}

/// Counts a new thread of `ledger`'s family.
pub fn thread_started(ledger: LedgerId) {
    THREADS[ledger.0 as usize].fetch_add(1, Ordering::Relaxed);
}

/// Counts a thread of `ledger`'s family less (its kernel stack is freed).
pub fn thread_ended(ledger: LedgerId) {
    THREADS[ledger.0 as usize].fetch_sub(1, Ordering::Relaxed);
}

/// Threads of `ledger`'s family.
pub fn threads(ledger: LedgerId) -> u32 {
    THREADS[ledger.0 as usize].load(Ordering::Relaxed)
}

/// Tasks in `ledger`'s family.
pub fn members(ledger: LedgerId) -> u32 {
    MEMBERS.lock()[ledger.0 as usize]
}

/// Families with at least one task.
pub fn families() -> usize {
    MEMBERS.lock().iter().filter(|&&n| n > 0).count()
}
