//! The global descriptor tables and task-state segments: one of each per processor.
//!
//! Segment order is fixed by `syscall`/`sysret` (STAR): kernel code, kernel data, then user
//! data and user code.
//!
//! A TSS names two kinds of stack: RSP0, the running thread's kernel stack (set at every
//! switch), and the interrupt stacks (IST), allocated here when the processor starts, from
//! the kernel-stack area (`memory::kstack`) so that each has a guard page below it. The double fault runs on IST
//! index [`DOUBLE_FAULT_IST_INDEX`], so that it still has a stack when a kernel stack
//! overflowed into its guard page.

use crate::memory::kstack::{KernelStack, StackOwner};
use core::cell::UnsafeCell;
use spin::Once;
use super::percpu;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot of the double-fault handler's stack.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;
/// Interrupt stacks in each processor's interrupt stack table (IST indices `0..IST_STACKS`).
/// Each is a kernel stack above a guard page (`memory::kstack`), which reserves a slot for
/// each, per processor.
pub const IST_STACKS: usize = 1;

// The TSS holds seven interrupt stacks, and the double fault needs one.
const _: () = assert!(IST_STACKS <= 7 && (DOUBLE_FAULT_IST_INDEX as usize) < IST_STACKS);

/// Segment selectors of the loaded GDT (the same on every processor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A processor's descriptor tables and interrupt stacks, made when it starts and never freed.
pub struct CpuTables {
    gdt: GlobalDescriptorTable,
    /// In a cell: its ring-0 stack pointer changes at every switch to another thread.
    tss: UnsafeCell<TaskStateSegment>,
    ist: [KernelStack; IST_STACKS],
    selectors: Option<Selectors>,
}

// SAFETY: the TSS is written only by its own processor (`set_ring0_stack`, with interrupts
// off) and otherwise read only by that processor's hardware; the rest is immutable.
unsafe impl Sync for CpuTables {}

static SELECTORS: Once<Selectors> = Once::new();

impl CpuTables {
    /// Sets the stack the processor switches to when an interrupt or exception arrives in
    /// ring 3 (TSS.RSP0). Called only on the processor these tables belong to.
    pub fn set_ring0_stack(&self, top: VirtAddr) {
        x86_64::instructions::interrupts::without_interrupts(|| {
            // SAFETY: only this processor writes its TSS, with interrupts off, so no other
            // reference is live; the CPU reads RSP0 only on a transition from ring 3, which
            // cannot happen during this write.
            unsafe { (*self.tss.get()).privilege_stack_table[0] = top };
        });
    }

    /// Address range `[start, end)` of this processor's double-fault stack.
    pub fn double_fault_stack(&self) -> (VirtAddr, VirtAddr) {
        let stack = &self.ist[usize::from(DOUBLE_FAULT_IST_INDEX)];
        (stack.bottom(), stack.top())
    }
}

/// Address range `[start, end)` of the running processor's double-fault stack.
pub fn double_fault_stack() -> (VirtAddr, VirtAddr) {
    percpu::current().tables.double_fault_stack()
}

/// Allocates processor `cpu`'s interrupt stacks and builds its GDT and TSS.
///
/// # Errors
///
/// If the interrupt stacks cannot be allocated.
pub fn build_for(cpu: usize) -> Result<&'static CpuTables, crate::memory::kstack::KernelStackError> {
    let mut stacks = alloc::vec::Vec::with_capacity(IST_STACKS);
    for index in 0..IST_STACKS {
        stacks.push(KernelStack::allocate(StackOwner::Interrupt { cpu: cpu as u16, index: index as u16 })?);
    }
    let ist: [KernelStack; IST_STACKS] = stacks.try_into().unwrap_or_else(|_| unreachable!("IST_STACKS stacks"));
    let mut tss = TaskStateSegment::new();
    for (index, stack) in ist.iter().enumerate() {
        tss.interrupt_stack_table[index] = stack.top();
    }
    let tables = alloc::boxed::Box::leak(alloc::boxed::Box::new(CpuTables {
        gdt: GlobalDescriptorTable::new(),
        tss: UnsafeCell::new(tss),
        ist,
        selectors: None,
    }));
    // SAFETY: the TSS lives in the leaked record forever; nothing refers to it yet.
    let tss: &'static TaskStateSegment = unsafe { &*tables.tss.get() };
    let selectors = Selectors {
        kernel_code: tables.gdt.append(Descriptor::kernel_code_segment()),
        kernel_data: tables.gdt.append(Descriptor::kernel_data_segment()),
        user_data: tables.gdt.append(Descriptor::user_data_segment()),
        user_code: tables.gdt.append(Descriptor::user_code_segment()),
        tss: tables.gdt.append(Descriptor::tss_segment(tss)),
    };
    assert_eq!(*SELECTORS.call_once(|| selectors), selectors, "every processor's GDT has one layout");
    tables.selectors = Some(selectors);
    Ok(tables)
}

impl CpuTables {
    /// Loads this GDT and TSS and reloads every segment register.
    ///
    /// # Safety
    ///
    /// Once, on the processor these tables belong to (loading a TSS marks it busy).
    pub unsafe fn load(&'static self) {
        let selectors = self.selectors.expect("set by build_for");
        self.gdt.load();
        // SAFETY: the selectors index the GDT just loaded, whose descriptors are the flat
        // 64-bit kernel segments and this processor's TSS; both live for good.
        unsafe {
            CS::set_reg(selectors.kernel_code);
            SS::set_reg(selectors.kernel_data);
            DS::set_reg(selectors.kernel_data);
            ES::set_reg(selectors.kernel_data);
            load_tss(selectors.tss);
        }
    }
}

/// The selectors of the loaded GDT.
///
/// # Panics
///
/// If called before the boot processor's tables are loaded.
pub fn selectors() -> &'static Selectors {
    SELECTORS.get().expect("gdt::load_for has run")
}
