//! The CPU tables: a GDT with user segments and a TSS, an IDT with the page-fault handler and
//! the system-call gate (`int 0x80`), and the way into ring 3.

use core::arch::{asm, global_asm};
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PrivilegeLevel, VirtAddr};

/// The vector of the system-call gate.
pub const SYSCALL_VECTOR: u8 = 0x80;

const STACK_SIZE: usize = 64 * 1024;

/// A stack for the kernel: 16-byte aligned.
#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// The stack the CPU switches to when ring 3 is interrupted, and the double fault's.
static mut RING0_STACK: Stack = Stack([0; STACK_SIZE]);
static mut FAULT_STACK: Stack = Stack([0; STACK_SIZE]);

static TSS: spin::Once<TaskStateSegment> = spin::Once::new();
static GDT: spin::Once<(GlobalDescriptorTable, [SegmentSelector; 5])> = spin::Once::new();
static IDT: spin::Once<InterruptDescriptorTable> = spin::Once::new();

fn top(stack: *mut Stack) -> VirtAddr {
    VirtAddr::from_ptr(stack) + STACK_SIZE as u64
}

/// Loads the GDT, the TSS and the IDT.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.privilege_stack_table[0] = top(core::ptr::addr_of_mut!(RING0_STACK));
        tss.interrupt_stack_table[0] = top(core::ptr::addr_of_mut!(FAULT_STACK));
        tss
    });
    let (gdt, [code, data, _, _, tss_selector]) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let selectors = [
            gdt.append(Descriptor::kernel_code_segment()),
            gdt.append(Descriptor::kernel_data_segment()),
            gdt.append(Descriptor::user_data_segment()),
            gdt.append(Descriptor::user_code_segment()),
            gdt.append(Descriptor::tss_segment(tss)),
        ];
        (gdt, selectors)
    });
    gdt.load();
    // SAFETY: the selectors name the descriptors of the GDT just loaded, which lives for good.
    unsafe {
        CS::set_reg(*code);
        DS::set_reg(*data);
        ES::set_reg(*data);
        SS::set_reg(*data);
        load_tss(*tss_selector);
    }
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.page_fault.set_handler_fn(page_fault);
        idt.general_protection_fault.set_handler_fn(general_protection);
        // SAFETY: the double fault runs on its own stack (IST 0), set in the TSS above.
        unsafe { idt.double_fault.set_handler_fn(double_fault).set_stack_index(0) };
        // SAFETY: the stub saves every register the handler may change and returns with
        // `iretq`; ring 3 may call it (the gate's privilege level).
        unsafe {
            idt[SYSCALL_VECTOR]
                .set_handler_addr(VirtAddr::new(mini_syscall_entry as *const () as u64))
                .set_privilege_level(PrivilegeLevel::Ring3);
        }
        idt
    });
    idt.load();
}

/// The user's registers at a system call, as the entry stub saved them.
#[repr(C)]
#[derive(Debug)]
pub struct Registers {
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rax: u64,
}

extern "C" {
    fn mini_syscall_entry();
}

// The system-call gate: saves the caller-saved registers (the handler follows the C ABI, which
// keeps the others), hands them to `crate::syscall::dispatch`, restores them (with the result
// in rax) and returns to ring 3.
global_asm!(
    ".global mini_syscall_entry",
    "mini_syscall_entry:",
    "push rax", "push rdi", "push rsi", "push rdx", "push rcx", "push r8", "push r9", "push r10", "push r11",
    "mov rdi, rsp",
    "call {dispatch}",
    "pop r11", "pop r10", "pop r9", "pop r8", "pop rcx", "pop rdx", "pop rsi", "pop rdi", "pop rax",
    "iretq",
    dispatch = sym crate::syscall::dispatch,
);

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let addr = x86_64::registers::control::Cr2::read_raw();
    let access = if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        machvm::Access::Execute
    } else if code.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
        machvm::Access::Write
    } else {
        machvm::Access::Read
    };
    assert!(code.contains(PageFaultErrorCode::USER_MODE), "kernel page fault at {addr:#x}: {frame:?}");
    crate::user_fault(addr, access);
}

extern "x86-interrupt" fn general_protection(frame: InterruptStackFrame, code: u64) {
    panic!("general protection fault ({code:#x}): {frame:?}");
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, _: u64) -> ! {
    panic!("double fault: {frame:?}");
}

/// Enters ring 3 at `rip` with the stack `rsp` (interrupts stay off: this kernel takes none).
///
/// # Safety
///
/// The active address space must map `rip` executable and `rsp` writable for the user; the
/// only ways back are the system-call gate and faults.
pub unsafe fn enter_user(rip: u64, rsp: u64) -> ! {
    let (_, [_, _, data, code, _]) = GDT.get().expect("init ran");
    let (code, data) = (u64::from(code.0 | 3), u64::from(data.0 | 3));
    // SAFETY: an `iretq` frame for ring 3 (the caller's contract covers the addresses).
    unsafe {
        asm!(
            "push {ss}", "push {rsp}", "push {rflags}", "push {cs}", "push {rip}", "iretq",
            ss = in(reg) data, rsp = in(reg) rsp, rflags = in(reg) 0x2u64, cs = in(reg) code, rip = in(reg) rip,
            options(noreturn)
        )
    }
}
