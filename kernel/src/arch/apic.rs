//! The local APIC (xAPIC, through its memory-mapped registers): inter-processor interrupts,
//! the per-processor timer, end of interrupt.
//!
//! The registers are reached through the direct map of physical memory (the bootloader maps
//! the first 4 GiB whole, the APIC's page included; the firmware's MTRRs make that range
//! uncacheable, whatever the page tables say).

use crate::boot::PHYS_MAP_BASE;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const ENABLE: u64 = 1 << 11;

const ID: usize = 0x20;
const EOI: usize = 0xb0;
const SPURIOUS: usize = 0xf0;
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;
const LVT_TIMER: usize = 0x320;
const TIMER_INITIAL: usize = 0x380;
const TIMER_CURRENT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3e0;

const DELIVERY_PENDING: u32 = 1 << 12;
const LEVEL_ASSERT: u32 = 1 << 14;
const INIT: u32 = 0b101 << 8;
const STARTUP: u32 = 0b110 << 8;
const PERIODIC: u32 = 1 << 17;
const MASKED: u32 = 1 << 16;
/// Divide the bus clock by 16.
const DIVIDE_BY_16: u32 = 0b0011;

/// The vector of spurious interrupts (its handler does nothing).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// Virtual address of the register page.
static BASE: AtomicU64 = AtomicU64::new(0);
/// Timer counts per tick, measured once by the boot processor.
static COUNTS_PER_TICK: AtomicU32 = AtomicU32::new(0);

/// Physical address of the local APIC's register page (every processor's is at the same
/// address), once the boot processor has enabled its own.
pub fn physical_base() -> Option<u64> {
    let virt = BASE.load(Ordering::Relaxed);
    (virt != 0).then(|| virt - crate::boot::PHYS_MAP_BASE)
}

fn register(offset: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: `register` is a 32-bit register of this processor's local APIC, mapped by the
    // direct map (see `enable`), aligned; reads have no side effect on these registers.
    unsafe { register(offset).read_volatile() }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`; every write below is one the APIC documents for that register.
    unsafe { register(offset).write_volatile(value) }
}

/// Turns on this processor's local APIC (software enable, spurious vector) and returns its id.
pub fn enable() -> u32 {
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 processor; setting its enable bit keeps
    // the base address and turns the xAPIC on.
    let base = unsafe {
        let value = msr.read();
        msr.write(value | ENABLE);
        value & 0x000f_ffff_ffff_f000
    };
    BASE.store(PHYS_MAP_BASE + base, Ordering::Relaxed);
    write(SPURIOUS, 0x100 | u32::from(SPURIOUS_VECTOR));
    id()
}

/// This processor's APIC id.
pub fn id() -> u32 {
    read(ID) >> 24
}

/// Signals the end of the interrupt being handled.
pub fn end_of_interrupt() {
    write(EOI, 0);
}

fn send(apic_id: u32, command: u32) {
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, command);
    while read(ICR_LOW) & DELIVERY_PENDING != 0 {
        core::hint::spin_loop();
    }
}

/// Sends fixed interrupt `vector` to the processor with APIC id `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) {
    send(apic_id, u32::from(vector));
}

/// Sends an INIT, then the start-up interrupt naming real-mode page `page`, twice, as the
/// multiprocessor start-up protocol asks (waits from `delay`).
pub fn start_processor(apic_id: u32, page: u8, delay: impl Fn(u64)) {
    send(apic_id, INIT | LEVEL_ASSERT);
    delay(10_000);
    for _ in 0..2 {
        send(apic_id, STARTUP | u32::from(page));
        delay(200);
    }
}

/// Measures the timer's counts per tick of `wait_tick` (which returns at a tick boundary of
/// the boot timer). Boot processor, once.
pub fn calibrate(wait_tick: impl Fn()) {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, MASKED);
    wait_tick();
    write(TIMER_INITIAL, u32::MAX);
    wait_tick();
    let counted = u32::MAX - read(TIMER_CURRENT);
    write(TIMER_INITIAL, 0);
    COUNTS_PER_TICK.store(counted.max(1), Ordering::Relaxed);
}

/// Starts this processor's periodic timer on `vector`, one interrupt per tick measured by
/// [`calibrate`].
pub fn start_timer(vector: u8) {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, PERIODIC | u32::from(vector));
    write(TIMER_INITIAL, COUNTS_PER_TICK.load(Ordering::Relaxed));
}
