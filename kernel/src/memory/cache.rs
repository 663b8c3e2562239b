//! Per-processor caches of free frames, so that page faults on several processors do not
//! meet at the frame allocator's lock for every frame.
//!
//! Each processor keeps up to [`CAPACITY`] frames. The VM side's allocations take from the
//! running processor's cache, which refills [`BATCH`] frames at a time from the allocator
//! (within the frame budget, as single allocations are); its frees go to the cache, which
//! gives [`BATCH`] back when full. Frames in caches count as free everywhere free frames are
//! counted ([`cached`]), and when the allocator has nothing left to give, an allocation
//! takes from the other processors' caches, so a frame in a cache is never out of reach:
//! an operation that counted the free frames first still gets every one it counted.
//!
//! Each cache is locked on its own (uncontended but for such a drain); the
//! allocator's lock is taken once per batch.

use crate::arch::percpu::{self, MAX_CPUS};
use crate::sync::Mutex;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::structures::paging::PhysFrame;

/// Frames one processor's cache holds at most.
pub const CAPACITY: usize = 32;
/// Frames moved between a cache and the allocator at once.
pub const BATCH: usize = 16;

struct Cache {
    frames: [Option<PhysFrame>; CAPACITY],
    len: usize,
}

impl Cache {
    fn pop(&mut self) -> Option<PhysFrame> {
        self.len = self.len.checked_sub(1)?;
        self.frames[self.len].take()
    }

    fn push(&mut self, frame: PhysFrame) {
        self.frames[self.len] = Some(frame);
        self.len += 1;
    }
}

static CACHES: [Mutex<Cache>; MAX_CPUS] = [const { Mutex::new(Cache { frames: [None; CAPACITY], len: 0 }) }; MAX_CPUS];
/// Frames in all caches.
static CACHED: AtomicU64 = AtomicU64::new(0);

/// Frames sitting in the caches (free, counted as such).
pub fn cached() -> u64 {
    CACHED.load(Ordering::Relaxed)
}

/// A frame for the VM side: from this processor's cache, refilled by `refill` (which takes
/// up to the count asked from the allocator, within the budget), or from another
/// processor's cache when the allocator gives none.
pub fn allocate(refill: impl FnOnce(&mut dyn FnMut(PhysFrame), usize)) -> Option<PhysFrame> {
    let mut cache = CACHES[percpu::index()].lock();
    if cache.len == 0 {
        refill(&mut |frame| cache.push(frame), BATCH);
        CACHED.fetch_add(cache.len as u64, Ordering::Relaxed);
    }
    if let Some(frame) = cache.pop() {
        CACHED.fetch_sub(1, Ordering::Relaxed);
        return Some(frame);
    }
    drop(cache);
    steal()
}

/// A frame from any processor's cache.
pub fn steal() -> Option<PhysFrame> {
    CACHES.iter().find_map(|cache| {
        let frame = cache.lock().pop()?;
        CACHED.fetch_sub(1, Ordering::Relaxed);
        Some(frame)
    })
}

/// Takes back a frame of the VM side into this processor's cache; when the cache is full,
/// `spill` gets [`BATCH`] of its frames for the allocator.
pub fn deallocate(frame: PhysFrame, spill: impl FnOnce(&mut dyn Iterator<Item = PhysFrame>)) {
    let mut cache = CACHES[percpu::index()].lock();
    if cache.len == CAPACITY {
        let start = CAPACITY - BATCH;
        let mut out = cache.frames[start..].iter_mut().filter_map(Option::take);
        spill(&mut out);
        cache.len = start;
        CACHED.fetch_sub(BATCH as u64, Ordering::Relaxed);
    }
    cache.push(frame);
    CACHED.fetch_add(1, Ordering::Relaxed);
}
