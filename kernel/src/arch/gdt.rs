//! The global descriptor table and the task-state segment.
//!
//! Segment order is fixed by `syscall`/`sysret` (STAR): kernel code, kernel data, then user
//! data and user code.
//!
//! The TSS names two kinds of stack: RSP0, the running thread's kernel stack (set at every
//! switch), and the interrupt stacks (IST), allocated here at boot from the kernel-stack area
//! (`memory::kstack`) so that each has a guard page below it. The double fault runs on IST
//! index [`DOUBLE_FAULT_IST_INDEX`], so that it still has a stack when a kernel stack
//! overflowed into its guard page.

use crate::memory::kstack::{KernelStack, StackOwner};
use core::cell::UnsafeCell;
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot of the double-fault handler's stack.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;
/// Interrupt stacks in the TSS's interrupt stack table (IST indices `0..IST_STACKS`). Each is
/// a kernel stack above a guard page (`memory::kstack`), which reserves a slot for each.
pub const IST_STACKS: usize = 1;

// The TSS holds seven interrupt stacks, and the double fault needs one.
const _: () = assert!(IST_STACKS <= 7 && (DOUBLE_FAULT_IST_INDEX as usize) < IST_STACKS);

/// The interrupt stacks, by IST index: allocated at boot, never freed.
static IST: Once<[KernelStack; IST_STACKS]> = Once::new();

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
///
/// # Panics
///
/// If called before [`init`].
pub fn double_fault_stack() -> (VirtAddr, VirtAddr) {
    let stack = &IST.get().expect("gdt::init has run")[usize::from(DOUBLE_FAULT_IST_INDEX)];
    (stack.bottom(), stack.top())
}

/// Allocates the interrupt stacks, then loads the GDT and TSS and reloads every segment
/// register. Called once, at boot, after `memory::kstack::init` (loading the TSS marks it
/// busy, so a second load would fault).
///
/// # Panics
///
/// If the interrupt stacks cannot be allocated.
pub fn init() {
    let ist = IST.call_once(|| {
        let allocate = |index: usize| KernelStack::allocate(StackOwner::Interrupt(index as u16));
        core::array::from_fn(|index| allocate(index).expect("an interrupt stack at boot"))
    });
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        for (index, stack) in ist.iter().enumerate() {
            tss.interrupt_stack_table[index] = stack.top();
        }
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
