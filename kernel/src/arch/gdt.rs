//! The global descriptor table and the task-state segment.
//!
//! Segment order is fixed by `syscall`/`sysret` (STAR): kernel code, kernel data, then user
//! data and user code.

use core::cell::UnsafeCell;
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot of the double-fault handler's stack.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;
/// Size of the double-fault stack.
pub const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 1024;

/// The double-fault stack: a static, so that it exists before the heap does, and in a
/// writable section because of its `UnsafeCell`.
#[repr(C, align(16))]
struct IstStack(UnsafeCell<[u8; DOUBLE_FAULT_STACK_SIZE]>);

// SAFETY: Rust code never reads or writes the stack's bytes; only the CPU does, when it
// delivers a double fault on it.
unsafe impl Sync for IstStack {}

static DOUBLE_FAULT_STACK: IstStack = IstStack(UnsafeCell::new([0; DOUBLE_FAULT_STACK_SIZE]));

/// Segment selectors of the loaded GDT.
#[derive(Debug, Clone, Copy)]
pub struct Selectors {
    /// Ring-0 code.
    pub kernel_code: SegmentSelector,
    /// Ring-0 data and stack.
    pub kernel_data: SegmentSelector,
    /// Ring-3 data and stack.
    pub user_data: SegmentSelector,
    /// Ring-3 64-bit code.
    pub user_code: SegmentSelector,
    /// The task-state segment.
    pub tss: SegmentSelector,
}

/// The task-state segment, in a cell: its ring-0 stack pointer changes at every switch to
/// another thread.
struct TssCell(UnsafeCell<TaskStateSegment>);

// SAFETY: the kernel runs on one CPU; the TSS is written only by `init` (before it is loaded)
// and by `set_kernel_stack` with interrupts off, and otherwise read only by the CPU.
unsafe impl Sync for TssCell {}

static TSS: Once<TssCell> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Address range `[start, end)` of the double-fault stack.
pub fn double_fault_stack() -> (VirtAddr, VirtAddr) {
    let start = VirtAddr::from_ptr(DOUBLE_FAULT_STACK.0.get());
    (start, start + DOUBLE_FAULT_STACK_SIZE as u64)
}

/// Loads the GDT and TSS and reloads every segment register. Called once, at boot (loading
/// the TSS marks it busy, so a second load would fault).
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] = double_fault_stack().1;
        TssCell(UnsafeCell::new(tss))
    });
    // SAFETY: nothing else refers to the TSS yet: it is not loaded, and `set_kernel_stack`
    // needs `init` to have completed.
    let tss: &'static TaskStateSegment = unsafe { &*tss.0.get() };
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let selectors = Selectors {
            kernel_code: gdt.append(Descriptor::kernel_code_segment()),
            kernel_data: gdt.append(Descriptor::kernel_data_segment()),
            user_data: gdt.append(Descriptor::user_data_segment()),
            user_code: gdt.append(Descriptor::user_code_segment()),
            tss: gdt.append(Descriptor::tss_segment(tss)),
        };
        (gdt, selectors)
    });
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, whose descriptors are the flat 64-bit
    // kernel segments and the TSS built above; both tables live in statics forever.
    unsafe {
        CS::set_reg(selectors.kernel_code);
        SS::set_reg(selectors.kernel_data);
        DS::set_reg(selectors.kernel_data);
        ES::set_reg(selectors.kernel_data);
        load_tss(selectors.tss);
    }
}

/// The selectors of the loaded GDT.
///
/// # Panics
///
/// If called before [`init`].
pub fn selectors() -> &'static Selectors {
    &GDT.get().expect("gdt::init has run").1
}

/// Sets the stack the CPU switches to when an interrupt or exception arrives in ring 3
/// (TSS.RSP0): the kernel stack of the thread about to run.
///
/// # Panics
///
/// If called before [`init`].
pub fn set_kernel_stack(top: VirtAddr) {
    let tss = TSS.get().expect("gdt::init has run");
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: one CPU, interrupts off: no other reference to the TSS is live, and the CPU
        // reads RSP0 only on a transition from ring 3, which cannot happen during this write.
        unsafe { (*tss.0.get()).privilege_stack_table[0] = top };
    });
}
