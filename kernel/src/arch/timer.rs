//! The periodic timer: each processor's local APIC timer, at [`HZ`], on [`TIMER_VECTOR`].
//! The boot processor measures it once against the 8253/8254 PIT (on IRQ 0 of the 8259
//! PICs, remapped above the CPU exceptions), then masks the PICs for good. It drives
//! preemption: a tick that interrupts ring 3 gives the processor to the next ready thread.

use super::{apic, percpu};
use crate::sync::IrqMutex;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use pic8259::ChainedPics;
use x86_64::instructions::interrupts;
use x86_64::instructions::port::Port;
use x86_64::structures::idt::InterruptStackFrame;

/// First vector of the PICs (IRQ 0, the PIT).
pub const PIC_OFFSET: u8 = 32;
/// The timer's vector (the PIT's while it calibrates, then every APIC timer's).
pub const TIMER_VECTOR: u8 = PIC_OFFSET;
/// Ticks per second.
pub const HZ: u32 = 100;
const PIT_FREQUENCY: u32 = 1_193_182;

// SAFETY: the offsets place both PICs' vectors (32..48) above the CPU exceptions.
static PICS: IrqMutex<ChainedPics> = IrqMutex::new(unsafe { ChainedPics::new(PIC_OFFSET, PIC_OFFSET + 8) });
static TICKS: AtomicU64 = AtomicU64::new(0);
/// Whether the ticks come from the APIC timers (else from the PIT).
static APIC_TIMER: AtomicBool = AtomicBool::new(false);

/// Ticks since boot (the boot processor's).
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Remaps the PICs and runs the PIT at [`HZ`] to measure the APIC timer (and the TSC), then
/// masks the PICs and starts the boot processor's APIC timer. Interrupts are off when it
/// returns.
pub fn init() {
    let divisor = (PIT_FREQUENCY / HZ) as u16;
    // SAFETY: ports 0x20/0xa0 (PICs) and 0x40/0x43 (PIT) belong to these devices on every PC,
    // and the kernel owns them; the PIC vectors do not collide with exceptions.
    unsafe {
        let mut pics = PICS.lock();
        pics.initialize();
        pics.write_masks(0b1111_1110, 0b1111_1111);
        Port::<u8>::new(0x43).write(0b0011_0110); // channel 0, lobyte/hibyte, mode 3
        Port::<u8>::new(0x40).write(divisor as u8);
        Port::<u8>::new(0x40).write((divisor >> 8) as u8);
    }
    super::tsc::hz();
    apic::calibrate(wait_for_tick);
    // SAFETY: masking every line of the PICs only stops their interrupts.
    unsafe { PICS.lock().write_masks(0xff, 0xff) };
    APIC_TIMER.store(true, Ordering::SeqCst);
    start_local();
}

/// Waits (interrupts on, halted) until the next tick.
pub fn wait_for_tick() {
    let start = ticks();
    while ticks() == start {
        interrupts::enable_and_hlt();
        interrupts::disable();
    }
}

/// Starts the running processor's APIC timer.
pub fn start_local() {
    apic::start_timer(TIMER_VECTOR);
}

pub(super) extern "x86-interrupt" fn interrupt(frame: InterruptStackFrame) {
    let _entry = percpu::UserEntry::new(&frame);
    super::cpu::forbid_user_access();
    if APIC_TIMER.load(Ordering::Relaxed) {
        if percpu::index() == 0 {
            TICKS.fetch_add(1, Ordering::Relaxed);
        }
        apic::end_of_interrupt();
    } else {
        TICKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the PIT's interrupt is being handled; acknowledging it is what the PIC
        // expects.
        unsafe { PICS.lock().notify_end_of_interrupt(TIMER_VECTOR) };
    }
    if frame.code_segment.rpl() == x86_64::PrivilegeLevel::Ring3 {
        crate::task::sched::preempt();
    }
}
