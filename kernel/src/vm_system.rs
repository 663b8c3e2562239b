//! The VM system of the kernel: the `vm` crate's [`Vm`] over `pmap-x86`, the frame allocator
//! and the direct map, behind one lock.
//!
//! The VM lock is a readers-writer [`RwLock`] that leaves interrupts on. Page faults take it
//! shared ([`read`]: `Vm::fault_shared`, many processors at once, each object's pages and the
//! pmap locked inside for short sections) and fall back to taking it exclusively; system
//! calls take it exclusively ([`lock`]); the scheduler takes it shared to load address
//! spaces. No interrupt handler takes it, and an operation under it may wait for a TLB
//! shootdown, which other processors must be able to take (they spin with interrupts on, or
//! serve the request while spinning). No code may touch user memory through the MMU while
//! holding it (a fault on that access would take the lock again). User copies
//! (`syscall::user`) run without it.

use crate::pmap::{self, KernelFrames, KernelPmap};
use crate::sync::RwLock;
use pmap_x86::DirectMap;
use vm::{Machine, Vm};

/// The kernel's machine for the VM layer.
pub struct KernelMachine;

impl Machine for KernelMachine {
    type Pmap = KernelPmap;
    type Frames = KernelFrames;
    type Phys = DirectMap;
}

/// The kernel's VM system type.
pub type KernelVm = Vm<KernelMachine>;

static VM: RwLock<Option<KernelVm>> = RwLock::new(None);

/// Builds the VM system over the pmap. Runs once, after `memory::init` and `arch::init`.
pub fn init() {
    vm::sync::set_wait_hook(crate::arch::tlb::service);
    let mut vm = Vm::new(pmap::build(), KernelFrames, pmap::direct_map());
    vm.set_entry_limit(crate::limits::map_entry_limit());
    vm.reserve_zero_page().expect("a free frame for the zero page at boot");
    *VM.write() = Some(vm);
}

/// Locks the VM system. Each hold is one VM operation for the frame budget
/// (`memory::operation_starts`): frames the VM counts under the lock stay available to it
/// until the lock is released, whatever the heap takes meanwhile.
///
/// # Panics
///
/// If called before [`init`].
pub fn lock() -> VmGuard {
    let guard = VM.write();
    assert!(guard.is_some(), "vm_system::init has run");
    crate::memory::operation_starts();
    VmGuard(guard)
}

/// Takes the VM system shared: for page faults (`Vm::fault_shared`) and for loading address
/// spaces.
///
/// # Panics
///
/// If called before [`init`].
pub fn read() -> SharedVm {
    let guard = VM.read();
    assert!(guard.is_some(), "vm_system::init has run");
    SharedVm(guard)
}

/// The VM system, shared.
pub struct SharedVm(spin::RwLockReadGuard<'static, Option<KernelVm>>);

impl core::ops::Deref for SharedVm {
    type Target = KernelVm;
    fn deref(&self) -> &KernelVm {
        self.0.as_ref().expect("checked by read")
    }
}

/// The locked VM system.
pub struct VmGuard(spin::RwLockWriteGuard<'static, Option<KernelVm>>);

impl VmGuard {
    /// The pmap, mutably.
    pub fn pmap_mut(&mut self) -> &mut KernelPmap {
        self.0.as_mut().expect("checked by lock").pmap_mut()
    }
}

impl core::ops::Deref for VmGuard {
    type Target = KernelVm;
    fn deref(&self) -> &KernelVm {
        self.0.as_ref().expect("checked by lock")
    }
}

impl core::ops::DerefMut for VmGuard {
    fn deref_mut(&mut self) -> &mut KernelVm {
        self.0.as_mut().expect("checked by lock")
    }
}
