//! Four system calls, numbered in rax, arguments in rdi, rsi and rdx, the result in rax:
//!
//! | rax | call | result |
//! |---|---|---|
//! | 1 | `vm_allocate(pages)` | the address, or 0 |
//! | 2 | `vm_protect(address, pages, prot)` | a `kern_return_t` |
//! | 3 | `vm_deallocate(address, pages)` | a `kern_return_t` |
//! | 4 | `exit(status)` | does not return |

use crate::arch::Registers;
use machvm::api::{sanitize, KernReturn, Sanitized};
use machvm::{NewMemory, Placement, Prot, ProtectTarget, VmError, PAGE_SIZE};

/// What the user program asked for last, for the end-of-run checks.
pub static LAST_ALLOCATION: spin::Mutex<Option<u64>> = spin::Mutex::new(None);

/// Called by the entry stub with the saved registers.
pub extern "C" fn dispatch(regs: &mut Registers) {
    let (a, b, c) = (regs.rdi, regs.rsi, regs.rdx);
    regs.rax = match regs.rax {
        1 => allocate(a),
        2 => result(protect(a, b, c)),
        3 => result(deallocate(a, b)),
        4 => crate::finish(Err(alloc::format!("the user program exited with status {a}"))),
        _ => result(Err(VmError::InvalidArgument)),
    };
}

fn result(outcome: Result<(), VmError>) -> u64 {
    outcome.map_or_else(|e| KernReturn::from(e).code() as u64, |()| 0)
}

fn allocate(pages: u64) -> u64 {
    let mut vm = crate::VM.lock();
    let vm = vm.as_mut().expect("the VM is up");
    match vm.allocate(crate::user_map(), Placement::Anywhere { mask: 0 }, pages, NewMemory::DEFAULT) {
        Ok(page) => {
            *LAST_ALLOCATION.lock() = Some(page.addr());
            page.addr()
        }
        Err(_) => 0,
    }
}

/// The page range of `(address, pages)`, checked: `None` for an empty one.
fn range(address: u64, pages: u64) -> Result<Option<(machvm::Page, machvm::Page)>, VmError> {
    let size = pages.checked_mul(PAGE_SIZE).ok_or(VmError::InvalidAddress)?;
    match sanitize(address, size, machvm::api::USER_MIN, machvm::api::USER_MAX) {
        Ok(Sanitized::Empty) => Ok(None),
        Ok(Sanitized::Range(r)) => Ok(Some((r.start(), r.end()))),
        Err(_) => Err(VmError::InvalidAddress),
    }
}

fn protect(address: u64, pages: u64, prot: u64) -> Result<(), VmError> {
    let prot = u32::try_from(prot).ok().and_then(Prot::from_raw).ok_or(VmError::InvalidArgument)?;
    let Some((start, end)) = range(address, pages)? else { return Ok(()) };
    let mut vm = crate::VM.lock();
    vm.as_mut().expect("the VM is up").protect(crate::user_map(), start, end, ProtectTarget::Current, prot)
}

fn deallocate(address: u64, pages: u64) -> Result<(), VmError> {
    let Some((start, end)) = range(address, pages)? else { return Ok(()) };
    let mut vm = crate::VM.lock();
    vm.as_mut().expect("the VM is up").deallocate(crate::user_map(), start, end)
}
