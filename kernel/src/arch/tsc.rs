//! The time-stamp counter's frequency, measured against the PIT (the timer's ticks), once,
//! the first time it is asked for.

use super::timer;
use spin::Once;

static HZ: Once<u64> = Once::new();

/// Timer ticks the measurement spans (at `timer::HZ` a second).
const TICKS: u64 = 10;

/// Reads the time-stamp counter.
pub fn read() -> u64 {
    // SAFETY: RDTSC only reads the counter (CR4.TSD is clear: ring 3 may read it too).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The TSC's ticks per second. The first call waits `TICKS` timer ticks (100 ms) with
/// interrupts on; interrupts are off again when it returns.
pub fn hz() -> u64 {
    *HZ.call_once(|| {
        let wait_for_tick = timer::wait_for_tick;
        wait_for_tick();
        let (t0, c0) = (timer::ticks(), read());
        while timer::ticks() < t0 + TICKS {
            wait_for_tick();
        }
        let cycles = read() - c0;
        cycles * u64::from(timer::HZ) / TICKS
    })
}
