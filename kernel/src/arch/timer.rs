//! The periodic timer: the 8253/8254 PIT on IRQ 0 of the 8259 PICs, remapped above the CPU
//! exceptions. It drives preemption: a tick that interrupts ring 3 gives the CPU to the next
//! ready thread.

use crate::sync::IrqMutex;
use core::sync::atomic::{AtomicU64, Ordering};
use pic8259::ChainedPics;
use x86_64::instructions::port::Port;
use x86_64::structures::idt::InterruptStackFrame;

/// First vector of the PICs (IRQ 0, the timer).
pub const PIC_OFFSET: u8 = 32;
/// The timer's vector.
pub const TIMER_VECTOR: u8 = PIC_OFFSET;
/// Ticks per second.
pub const HZ: u32 = 100;
const PIT_FREQUENCY: u32 = 1_193_182;

// SAFETY: the offsets place both PICs' vectors (32..48) above the CPU exceptions.
static PICS: IrqMutex<ChainedPics> = IrqMutex::new(unsafe { ChainedPics::new(PIC_OFFSET, PIC_OFFSET + 8) });
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Ticks since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Remaps the PICs, unmasks only the timer and programs the PIT to [`HZ`]. Interrupts stay
/// off until something turns them on.
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
}

pub(super) extern "x86-interrupt" fn interrupt(frame: InterruptStackFrame) {
    super::cpu::forbid_user_access();
    TICKS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the timer's interrupt is being handled; acknowledging it is what the PIC expects.
    unsafe { PICS.lock().notify_end_of_interrupt(TIMER_VECTOR) };
    if frame.code_segment.rpl() == x86_64::PrivilegeLevel::Ring3 {
        crate::task::sched::preempt();
    }
}
