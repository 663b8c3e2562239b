//! The synchronisation the VM layer uses inside itself: spin locks and atomics, or `loom`'s
//! under `cfg(loom)`, so that the lock protocol is model-checked on the host with the same
//! code (`tests/loom.rs`).
//!
//! Locks here are taken only by the faults that run side by side under a kernel's shared VM
//! lock ([`Vm::fault_shared`](crate::Vm::fault_shared)); code holding the VM exclusively
//! reaches what they guard through `get_mut`, without locking.

use core::fmt;
use core::ops::{Deref, DerefMut};

#[cfg(loom)]
use loom::sync::{Mutex as Inner, MutexGuard as InnerGuard};
#[cfg(not(loom))]
use spin::{Mutex as Inner, MutexGuard as InnerGuard};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering};

/// What a processor does while it waits for a contended lock (`spin_loop` and then this):
/// a kernel serves TLB shootdowns there, since the holder may be waiting for this
/// processor's acknowledgement.
#[cfg(not(loom))]
static WAIT_HOOK: spin::Once<fn()> = spin::Once::new();

/// Sets what a processor does while waiting for a contended VM lock (once; later calls
/// change nothing). A kernel whose TLB shootdowns wait for acknowledgements serves them
/// here, or else a processor spinning with interrupts off for a lock whose holder waits for
/// it would never let either move.
pub fn set_wait_hook(hook: fn()) {
    #[cfg(not(loom))]
    WAIT_HOOK.call_once(|| hook);
    #[cfg(loom)]
    let _ = hook;
}

/// A mutual-exclusion lock.
pub struct Lock<T>(Inner<T>);

/// Holds a [`Lock`].
pub struct LockGuard<'a, T>(InnerGuard<'a, T>);

impl<T> Lock<T> {
    /// A new unlocked lock.
    pub fn new(value: T) -> Self {
        Self(Inner::new(value))
    }

    /// Takes the lock, running the wait hook ([`set_wait_hook`]) while it is contended.
    pub fn lock(&self) -> LockGuard<'_, T> {
        #[cfg(loom)]
        return LockGuard(self.0.lock().expect("no thread panics holding a VM lock"));
        #[cfg(not(loom))]
        loop {
            if let Some(guard) = self.0.try_lock() {
                return LockGuard(guard);
            }
            core::hint::spin_loop();
            if let Some(hook) = WAIT_HOOK.get() {
                hook();
            }
        }
    }

    /// The value, through exclusive access to the lock (no locking).
    pub fn get_mut(&mut self) -> &mut T {
        #[cfg(loom)]
        return self.0.get_mut().expect("no thread panics holding a VM lock");
        #[cfg(not(loom))]
        self.0.get_mut()
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lock { .. }")
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// An event counter, bumped by faults running side by side.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts `n`.
    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}
