//! The rescheduling interrupt: wakes an idle processor when a thread becomes ready, and
//! makes a processor running a thread whose task has ended give it up.

use super::{apic, percpu};
use x86_64::structures::idt::InterruptStackFrame;

/// The vector of rescheduling interrupts.
pub const VECTOR: u8 = 0xf1;

/// Sends the interrupt to processor `index` (if it is online).
pub fn send(index: usize) {
    if let Some(cpu) = percpu::get(index) {
        apic::send_ipi(cpu.apic_id, VECTOR);
    }
}

pub(super) extern "x86-interrupt" fn interrupt(frame: InterruptStackFrame) {
    let _entry = percpu::UserEntry::new(&frame);
    super::cpu::forbid_user_access();
    apic::end_of_interrupt();
    if frame.code_segment.rpl() == x86_64::PrivilegeLevel::Ring3 {
        crate::task::sched::leave_if_ended();
    }
}
