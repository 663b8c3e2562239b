//! The two crates on the host, as a kernel would use them, on the simulated machine.
//!
//! Makes an address space, faults pages in, forks it (copy-on-write), copies between the
//! two maps, tears everything down, and checks that every frame came back. Run it with
//! `cargo run -p machvm-pmap-x86 --example host`.

use machvm::api::{USER_MAX, USER_MIN};
use machvm::pmap::FrameAllocator;
use machvm::{Access, FaultOutcome, NewMemory, Placement, VmError, PAGE_SIZE};
use machvm_pmap_x86::sim;

fn main() -> Result<(), VmError> {
    let (arena, mut vm) = sim::vm(4096);
    let free_at_start = vm.frames().free_frames();

    // A task's address space with 16 pages of zero-fill memory.
    let parent = vm.create_map(USER_MIN, USER_MAX)?;
    let at = vm.allocate(parent, Placement::Anywhere { mask: 0 }, 16, NewMemory::DEFAULT)?.addr();

    // A store by the task faults; the handler makes the page and the store is retried.
    assert_eq!(vm.fault(parent, at, Access::Write), FaultOutcome::Resolved);
    vm.write_bytes(parent, at, b"written by the parent")?;

    // Fork: the child shares the pages copy-on-write.
    let child = vm.fork(parent)?;
    vm.write_bytes(parent, at, b"changed after the fork")?;
    let mut seen = [0u8; 21];
    vm.read_bytes(child, at, &mut seen)?;
    assert_eq!(&seen, b"written by the parent", "the child kept its copy");

    // vm_copy from the parent into fresh memory of the child.
    let target = vm.allocate(child, Placement::Anywhere { mask: 0 }, 1, NewMemory::DEFAULT)?.addr();
    vm.copy_between(parent, at, PAGE_SIZE, child, target)?;
    vm.read_bytes(child, target, &mut seen)?;
    assert_eq!(&seen[..7], b"changed");

    vm.check_invariants();
    let accounts = vm.frame_accounts();
    println!("resident pages {}, page tables {}", accounts.resident, accounts.page_tables);

    // Tear down: every frame goes back to the allocator (the shared zero page excepted, if a
    // read ever took it).
    vm.destroy_map(child)?;
    vm.destroy_map(parent)?;
    let accounts = vm.frame_accounts();
    assert_eq!(accounts.free + accounts.zero_page, free_at_start, "every frame came back");
    println!("all {} frames back ({} in the arena)", free_at_start, arena.len());
    Ok(())
}
