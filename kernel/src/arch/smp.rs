//! The processors: how many run threads.

use core::sync::atomic::{AtomicUsize, Ordering};

static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// Processors running threads (the boot processor and every application processor started).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}
