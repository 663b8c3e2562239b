//! The MMU operations the pmap needs: invalidating TLB entries and switching page tables.
//!
//! [`HardwareMmu`] executes them on the CPU; tests use [`crate::sim::SimMmu`], which records
//! them.

use machvm::Frame;
use x86_64::instructions::tlb;
use x86_64::registers::control::{Cr3, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

/// Process-context identifiers are 12 bits; 0 belongs to the kernel's own tables.
pub const PCID_COUNT: u16 = 4096;

/// The most processors a pmap tracks (a set of them is a `u64` mask, bit `i` for processor
/// `i`).
pub const MAX_CPUS: usize = 64;

/// The page attribute table the pmap's cache bits assume ([`program_pat`]): entries 0 and 4
/// write-back, 1 write-combining (instead of write-through), 2 and 6 uncached-minus, 3 and 7
/// uncached, 5 write-through.
pub const PAT: u64 = 0x0007_0406_0007_0106;

/// Programs the processor's PAT MSR with [`PAT`]; every processor must, before any mapping
/// of write-combining memory is used (the SDM wants the same PAT on all of them).
///
/// # Safety
///
/// Ring 0. The change of entry 1 (write-through to write-combining) is safe only while no
/// mapping selects it for memory that must stay write-through: the boot loader's and this
/// pmap's mappings do not.
pub unsafe fn program_pat() {
    // SAFETY: IA32_PAT (0x277) exists on every x86_64 processor; the caller vouches for the
    // entries' users.
    unsafe { x86_64::registers::model_specific::Msr::new(0x277).write(PAT) };
}

/// What a shootdown asks the other processors to invalidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidate<'a> {
    /// Pages, each of the address space with this top-level table: a processor invalidates
    /// those of the space it has loaded (the others it will flush when it loads them, if it
    /// uses PCIDs; without, loading a space empties the TLB anyway).
    Pages(&'a [(Frame, u64)]),
    /// Every user translation of whatever space is loaded.
    Everything,
}

/// TLB and page-table-base operations, on the processor running the caller.
///
/// Called from several processors at once (the pmap's `&self` methods run side by side).
pub trait Mmu {
    /// Invalidates the translation of `addr` in the current address space.
    fn invalidate_page(&self, addr: u64);

    /// Invalidates every non-global translation of the current address space.
    fn invalidate_all(&self);

    /// Switches to the tables rooted at `root`. With PCIDs, `pcid` tags the space and
    /// `keep_cached` keeps that tag's cached translations; without, both are ignored (a switch
    /// always empties the TLB of non-global translations).
    fn switch_to(&self, root: Frame, pcid: u16, keep_cached: bool);

    /// Whether translations are tagged with PCIDs.
    fn has_pcid(&self) -> bool;

    /// Whether the no-execute bit may be used in page-table entries.
    fn has_no_execute(&self) -> bool;

    /// The number of the processor running this (`< MAX_CPUS`).
    fn cpu(&self) -> usize {
        0
    }

    /// Makes every processor in `cpus` (a mask; never the caller's own) carry out `what`, and
    /// returns once all have: one round of inter-processor interrupts and acknowledgements.
    /// A machine with one processor never gets here.
    fn shootdown(&self, cpus: u64, what: Invalidate<'_>) {
        let _ = what;
        debug_assert_eq!(cpus, 0, "a shootdown on a machine with one processor");
    }
}

/// The real MMU of the CPU this runs on.
#[derive(Debug)]
pub struct HardwareMmu {
    pcid: bool,
    no_execute: bool,
}

impl HardwareMmu {
    /// Takes control of the MMU: turns on PCIDs if the CPU has them and `use_pcid` is set,
    /// and reads whether EFER.NXE is on.
    ///
    /// # Safety
    ///
    /// Must run in ring 0, once, with the current CR3 using PCID 0 (true at boot), and the
    /// returned value must be the only code that switches CR3 from then on.
    pub unsafe fn new(use_pcid: bool) -> Self {
        let pcid = use_pcid && cpu_has_pcid();
        if pcid {
            // SAFETY: the CPU supports PCIDs and the current PCID is 0, the two conditions for
            // setting CR4.PCIDE without a #GP.
            unsafe { Cr4::update(|flags| flags.insert(Cr4Flags::PCID)) };
        }
        let no_execute = Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE);
        Self { pcid, no_execute }
    }
}

fn cpu_has_pcid() -> bool {
    // CPUID leaf 1, ECX bit 17: process-context identifiers.
    // SAFETY: every x86_64 processor has CPUID (the intrinsic is `unsafe` before Rust 1.87
    // only for that reason).
    #[allow(unused_unsafe)]
    let leaf = unsafe { core::arch::x86_64::__cpuid(1) };
    leaf.ecx & (1 << 17) != 0
}

impl Mmu for HardwareMmu {
    fn invalidate_page(&self, addr: u64) {
        tlb::flush(VirtAddr::new_truncate(addr));
    }

    fn invalidate_all(&self) {
        // Reloading CR3 (bit 63 clear) drops the current PCID's non-global translations.
        tlb::flush_all();
    }

    fn switch_to(&self, root: Frame, pcid: u16, keep_cached: bool) {
        let frame = PhysFrame::containing_address(PhysAddr::new(root.addr()));
        // SAFETY: `root` is a top-level table built by the pmap, whose kernel half is the
        // kernel's own, so the code and data in use stay mapped across the switch.
        unsafe {
            if self.pcid {
                let tag = x86_64::instructions::tlb::Pcid::new(pcid).expect("PCIDs are 12 bits");
                if keep_cached {
                    Cr3::write_pcid_no_flush(frame, tag);
                } else {
                    Cr3::write_pcid(frame, tag);
                }
            } else {
                Cr3::write(frame, Cr3::read().1);
            }
        }
    }

    fn has_pcid(&self) -> bool {
        self.pcid
    }

    fn has_no_execute(&self) -> bool {
        self.no_execute
    }
}
