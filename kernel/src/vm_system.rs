//! The VM system of the kernel: the `vm` crate's [`Vm`] over `pmap-x86`, the frame allocator
//! and the direct map, behind one lock.
//!
//! The VM lock is a [`Mutex`] that leaves interrupts on: it is taken by system calls, the
//! page-fault handler and the scheduler (to activate address spaces), never by an interrupt
//! handler, and an operation under it may wait for a TLB shootdown, which other processors
//! must be able to take. No code may touch user memory through the MMU while holding it (a
//! fault on that access would take the lock again). User copies (`syscall::user`) run
//! without it.

use crate::pmap::{self, KernelFrames, KernelPmap};
use crate::sync::Mutex;
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

static VM: Mutex<Option<KernelVm>> = Mutex::new(None);

/// Builds the VM system over the pmap. Runs once, after `memory::init` and `arch::init`.
pub fn init() {
    let mut vm = Vm::new(pmap::build(), KernelFrames, pmap::direct_map());
    vm.set_entry_limit(crate::limits::map_entry_limit());
    vm.reserve_zero_page().expect("a free frame for the zero page at boot");
    *VM.lock() = Some(vm);
}

/// Locks the VM system. Each hold is one VM operation for the frame budget
/// (`memory::operation_starts`): frames the VM counts under the lock stay available to it
/// until the lock is released, whatever the heap takes meanwhile.
///
/// # Panics
///
/// If called before [`init`].
pub fn lock() -> VmGuard {
    let guard = VM.lock();
    assert!(guard.is_some(), "vm_system::init has run");
    crate::memory::operation_starts();
    VmGuard(guard)
}

/// The locked VM system.
pub struct VmGuard(spin::MutexGuard<'static, Option<KernelVm>>);

impl VmGuard {
    /// The pmap.
    pub fn pmap(&self) -> &KernelPmap {
        self.0.as_ref().expect("checked by lock").pmap()
    }

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
