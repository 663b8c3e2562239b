//! The interrupt descriptor table: one handler for every CPU exception.

use super::{apic, exceptions as ex, gdt, sched_ipi, timer, tlb};
use x86_64::structures::idt::InterruptStackFrame;
use spin::Once;
use x86_64::structures::idt::InterruptDescriptorTable;

static IDT: Once<InterruptDescriptorTable> = Once::new();

fn build() -> InterruptDescriptorTable {
    let mut idt = InterruptDescriptorTable::new();
    idt.divide_error.set_handler_fn(ex::divide_error);
    idt.debug.set_handler_fn(ex::debug);
    idt.non_maskable_interrupt.set_handler_fn(ex::non_maskable_interrupt);
    idt.breakpoint.set_handler_fn(ex::breakpoint);
    idt.overflow.set_handler_fn(ex::overflow);
    idt.bound_range_exceeded.set_handler_fn(ex::bound_range_exceeded);
    idt.invalid_opcode.set_handler_fn(ex::invalid_opcode);
    idt.device_not_available.set_handler_fn(ex::device_not_available);
    // SAFETY: the IST slot holds the dedicated double-fault stack (see `gdt`), used by nothing
    // else, so a double fault always starts on a valid stack even after a kernel stack overflow.
    unsafe {
        idt.double_fault
            .set_handler_fn(ex::double_fault)
            .set_stack_index(gdt::DOUBLE_FAULT_IST_INDEX);
    }
    idt.invalid_tss.set_handler_fn(ex::invalid_tss);
    idt.segment_not_present.set_handler_fn(ex::segment_not_present);
    idt.stack_segment_fault.set_handler_fn(ex::stack_segment_fault);
    idt.general_protection_fault.set_handler_fn(ex::general_protection_fault);
    idt.page_fault.set_handler_fn(ex::page_fault);
    idt.x87_floating_point.set_handler_fn(ex::x87_floating_point);
    idt.alignment_check.set_handler_fn(ex::alignment_check);
    idt.machine_check.set_handler_fn(ex::machine_check);
    idt.simd_floating_point.set_handler_fn(ex::simd_floating_point);
    idt.virtualization.set_handler_fn(ex::virtualization);
    idt.cp_protection_exception.set_handler_fn(ex::cp_protection);
    idt.hv_injection_exception.set_handler_fn(ex::hv_injection);
    idt.vmm_communication_exception.set_handler_fn(ex::vmm_communication);
    idt.security_exception.set_handler_fn(ex::security);
    idt[timer::TIMER_VECTOR].set_handler_fn(timer::interrupt);
    idt[tlb::VECTOR].set_handler_fn(tlb::interrupt);
    idt[sched_ipi::VECTOR].set_handler_fn(sched_ipi::interrupt);
    idt[apic::SPURIOUS_VECTOR].set_handler_fn(spurious);
    idt
}

/// A spurious interrupt of the local APIC: nothing to do, not even an end of interrupt.
extern "x86-interrupt" fn spurious(_frame: InterruptStackFrame) {}

/// Builds the IDT (once) and loads it on the processor running this.
pub fn init() {
    IDT.call_once(build).load();
}
