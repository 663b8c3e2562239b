//! Spin locks whose waits keep TLB shootdowns moving.
//!
//! A processor spinning for a lock may be the one a shootdown waits for, and the lock's
//! holder may be the one waiting (`arch::tlb`): so every spin here carries out the request
//! addressed to this processor between attempts ([`tlb::service`](crate::arch::tlb::service)).
//!
//! - [`Mutex`]: interrupts left as they are: every lock of the kernel's own state (tasks,
//!   scheduler, frames and their caches, the heap, ledgers).
//! - [`IrqMutex`]: interrupts off while held, for the few pieces of state a handler may take
//!   while it interrupted kernel code (the console, a probe's fault record, the PICs).
//!
//! Why most locks leave interrupts on: a handler takes a kernel lock only when it interrupted
//! ring 3 (the timer's preemption, a task's fault or exception), where no kernel lock is
//! held, or when the page-fault handler resolves a fault of a probe routine (`arch::probe`),
//! which runs holding no lock; the timer, shootdown and rescheduling interrupts that arrive
//! in kernel mode take none. So no handler can spin on a lock its interrupted code holds,
//! and turning interrupts off and on around every hold would only cost (under QEMU's TCG
//! each `sti` ends a translated block: measured, 20-30 % of a short system call's time).
//! - [`RwLock`]: interrupts left as they are, shared or exclusive, writers first: the VM
//!   system (faults share it, everything else holds it alone; an operation runs with
//!   interrupts on).

use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};
use x86_64::instructions::interrupts;

/// Spins until `try_lock` succeeds, serving shootdowns meanwhile.
fn spin<G>(mut try_lock: impl FnMut() -> Option<G>) -> G {
    loop {
        if let Some(guard) = try_lock() {
            return guard;
        }
        crate::arch::tlb::service();
        core::hint::spin_loop();
    }
}

/// A spin lock that keeps interrupts disabled while it is held, so that a handler on the same
/// CPU can never spin on a lock its own interrupted code holds.
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqMutex`]; restores the interrupt flag when dropped.
pub struct IrqMutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    were_enabled: bool,
}

impl<T> IrqMutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self { inner: spin::Mutex::new(value) }
    }

    /// Disables interrupts, then takes the lock.
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        IrqMutexGuard { guard: Some(spin(|| self.inner.try_lock())), were_enabled }
    }

    /// Takes the lock only if it is free; used on paths that must not wait (the panic path).
    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        match self.inner.try_lock() {
            Some(guard) => Some(IrqMutexGuard { guard: Some(guard), were_enabled }),
            None => {
                if were_enabled {
                    interrupts::enable();
                }
                None
            }
        }
    }
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is present until drop")
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is present until drop")
    }
}

impl<T> Drop for IrqMutexGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock before interrupts can come back.
        self.guard.take();
        if self.were_enabled {
            interrupts::enable();
        }
    }
}

/// A spin lock that leaves interrupts as they are. A handler may take it only when it
/// interrupted ring 3 or a probe routine (module docs), never while it interrupted a holder.
pub struct Mutex<T> {
    inner: spin::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self { inner: spin::Mutex::new(value) }
    }

    /// Takes the lock.
    pub fn lock(&self) -> spin::MutexGuard<'_, T> {
        spin(|| self.inner.try_lock())
    }

    /// Takes the lock only if it is free.
    pub fn try_lock(&self) -> Option<spin::MutexGuard<'_, T>> {
        self.inner.try_lock()
    }
}

/// A readers-writer spin lock that leaves interrupts as they are, where a waiting writer
/// keeps new readers out (so that a stream of readers cannot starve it). No interrupt or
/// exception handler may take it, and no holder may take it again.
pub struct RwLock<T> {
    inner: spin::RwLock<T>,
    writers_waiting: AtomicUsize,
}

impl<T> RwLock<T> {
    /// A new unlocked lock.
    pub const fn new(value: T) -> Self {
        Self { inner: spin::RwLock::new(value), writers_waiting: AtomicUsize::new(0) }
    }

    /// Takes the lock shared, once no writer waits.
    pub fn read(&self) -> spin::RwLockReadGuard<'_, T> {
        spin(|| if self.writers_waiting.load(Ordering::Acquire) == 0 { self.inner.try_read() } else { None })
    }

    /// Takes the lock exclusively.
    pub fn write(&self) -> spin::RwLockWriteGuard<'_, T> {
        self.writers_waiting.fetch_add(1, Ordering::AcqRel);
        let guard = spin(|| self.inner.try_write());
        self.writers_waiting.fetch_sub(1, Ordering::AcqRel);
        guard
    }
}
