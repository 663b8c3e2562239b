//! A second, minimal kernel built on `machvm` and `machvm-pmap-x86` through their public API
//! only, as a hobby kernel would adopt them: its own frame allocator and heap (`frames`), its
//! own CPU tables and four system calls (`arch`, `syscall`), and one user program.
//!
//! The program (machine code below, run in ring 3) allocates four pages, writes two of them
//! (zero-fill faults resolved by the VM), makes them read-only, reads one back, deallocates
//! one, and writes to a read-only page. The kernel expects that last fault to be refused;
//! it then checks the memory the program wrote, destroys the address space, checks that every
//! frame is back, and reports the result in the test kernels' protocol.

#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]

extern crate alloc;

mod arch;
mod frames;
mod syscall;

use alloc::string::String;
use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::BootInfo;
use core::arch::global_asm;
use core::fmt::Write;
use frames::MiniFrames;
use machvm::pmap::{FrameAllocator, Pmap};
use machvm::{Access, FaultOutcome, MapId, NewMemory, Placement, Prot, ProtectTarget, Vm};
use machvm_pmap_x86::{DirectMap, HardwareMmu, X86Pmap};

/// Everything of the kernel sits in the upper half, which every address space shares.
const PHYS_BASE: u64 = 0xffff_8000_0000_0000;
static CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::FixedAddress(PHYS_BASE));
    config.mappings.kernel_base = Mapping::FixedAddress(0xffff_ffff_8000_0000);
    config.mappings.dynamic_range_start = Some(0xffff_c000_0000_0000);
    config.kernel_stack_size = 256 * 1024;
    config
};
bootloader_api::entry_point!(main, config = &CONFIG);

/// The machine as `machvm` wants it named.
struct Mini;
impl machvm::Machine for Mini {
    type Pmap = X86Pmap<MiniFrames, HardwareMmu>;
    type Frames = MiniFrames;
    type Phys = DirectMap;
}

/// The VM system. One processor and no interrupts but faults and system calls, so a plain
/// lock, never contended.
static VM: spin::Mutex<Option<Vm<Mini>>> = spin::Mutex::new(None);
static USER_MAP: spin::Once<MapId> = spin::Once::new();
/// Free frames once the VM is up, before the user's address space exists.
static BASELINE: spin::Once<u64> = spin::Once::new();

fn user_map() -> MapId {
    *USER_MAP.get().expect("the user map exists")
}

/// The console: COM1.
fn print(args: core::fmt::Arguments<'_>) {
    // SAFETY: COM1's ports are this kernel's alone, used from one processor at a time.
    if let Ok(mut port) = unsafe { uart_16550::Uart16550Tty::new_port(0x3f8, uart_16550::Config::default()) } {
        let _ = port.write_fmt(args);
    }
}

/// Ends QEMU through its `isa-debug-exit` device: 0x10 for success, 0x11 for failure.
fn exit_qemu(success: bool) -> ! {
    // SAFETY: port 0xf4 is the exit device the runner attaches; writing it ends the machine.
    unsafe { x86_64::instructions::port::Port::<u32>::new(0xf4).write(if success { 0x10 } else { 0x11 }) };
    loop {
        x86_64::instructions::hlt();
    }
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    print(format_args!("mini: a kernel on machvm and machvm-pmap-x86\nrunning 1 tests\ntest user_program_runs_on_the_vm ... "));
    frames::init(&boot_info.memory_regions);
    arch::init();
    let (boot_root, _) = x86_64::registers::control::Cr3::read();
    let kernel_root = machvm::Frame::containing(boot_root.start_address().as_u64());
    // SAFETY: the boot loader maps all of physical memory at PHYS_BASE for good.
    let window = unsafe { DirectMap::new(PHYS_BASE as *mut u8) };
    // SAFETY: ring 0, once, at boot with PCID 0; only this pmap writes CR3 from now on.
    let mmu = unsafe { HardwareMmu::new(true) };
    let limit = frames::limit();
    let mut vm: Vm<Mini> = Vm::new(X86Pmap::new(window, MiniFrames, mmu, kernel_root, limit), MiniFrames, window);
    BASELINE.call_once(|| MiniFrames.free_frames());
    let (entry, stack_top) = load_user_program(&mut vm).unwrap_or_else(|e| finish(Err(alloc::format!("loading: {e}"))));
    vm.pmap().activate(vm.space(user_map()));
    *VM.lock() = Some(vm);
    // SAFETY: the user's address space is active; `entry` is mapped executable and the stack
    // writable in it.
    unsafe { arch::enter_user(entry, stack_top) }
}

/// Makes the user's address space: the program's code (read and execute) and a stack.
fn load_user_program(vm: &mut Vm<Mini>) -> Result<(u64, u64), machvm::VmError> {
    let map = vm.create_map(machvm::api::USER_MIN, machvm::api::USER_MAX)?;
    USER_MAP.call_once(|| map);
    let code = user_program();
    let code_pages = (code.len() as u64).div_ceil(4096);
    let at = vm.allocate(map, Placement::Anywhere { mask: 0 }, code_pages, NewMemory::DEFAULT)?;
    vm.write_bytes(map, at.addr(), code)?;
    let end = machvm::Page::containing(at.addr() + code_pages * 4096);
    vm.protect(map, at, end, ProtectTarget::Current, Prot::READ | Prot::EXECUTE)?;
    let stack = vm.allocate(map, Placement::Anywhere { mask: 0 }, 4, NewMemory::DEFAULT)?;
    Ok((at.addr(), stack.addr() + 4 * 4096))
}

/// A user page fault: resolved by the VM, or else the end of the program's run.
fn user_fault(addr: u64, access: Access) {
    let outcome = VM.lock().as_mut().expect("the VM is up").fault(user_map(), addr, access);
    if outcome == FaultOutcome::Resolved {
        return;
    }
    let expected = syscall::LAST_ALLOCATION.lock().filter(|&at| at == addr && access == Access::Write);
    let verdict = match (expected, outcome) {
        (Some(_), FaultOutcome::ProtectionFailure) => check_and_tear_down(addr),
        _ => Err(alloc::format!("unexpected fault: {access:?} at {addr:#x}: {outcome:?}")),
    };
    finish(verdict)
}

/// After the refused write: the memory holds what the program wrote, and tearing the address
/// space down returns every frame.
fn check_and_tear_down(region: u64) -> Result<(), String> {
    let mut guard = VM.lock();
    let vm = guard.as_mut().expect("the VM is up");
    let map = user_map();
    let mut word = [0u8; 8];
    vm.read_bytes(map, region, &mut word).map_err(|e| alloc::format!("reading back: {e}"))?;
    if u64::from_le_bytes(word) != 0x1234 {
        return Err(alloc::format!("page 0 holds {:#x}", u64::from_le_bytes(word)));
    }
    if vm.read_bytes(map, region + 3 * 4096, &mut word).is_ok() {
        return Err("page 3 is still mapped after vm_deallocate".into());
    }
    vm.check_invariants();
    vm.pmap().deactivate();
    vm.destroy_map(map).map_err(|e| alloc::format!("destroying the map: {e}"))?;
    let accounts = vm.frame_accounts();
    let baseline = *BASELINE.get().expect("set at boot");
    if accounts.free + accounts.zero_page != baseline {
        return Err(alloc::format!("{} frames free after teardown, {baseline} before", accounts.free + accounts.zero_page));
    }
    Ok(())
}

/// Reports the test's result and ends the machine.
fn finish(verdict: Result<(), String>) -> ! {
    match verdict {
        Ok(()) => print(format_args!("ok\n")),
        Err(why) => print(format_args!("FAILED\nmini: {why}\n")),
    }
    exit_qemu(true)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    print(format_args!("FAILED\n[PANIC] {info}\n"));
    exit_qemu(false)
}

/// The user program's machine code (position-independent).
fn user_program() -> &'static [u8] {
    extern "C" {
        static mini_user_start: u8;
        static mini_user_end: u8;
    }
    // SAFETY: the two symbols bound the program's bytes in the kernel image (below).
    unsafe {
        let start = core::ptr::addr_of!(mini_user_start);
        let len = core::ptr::addr_of!(mini_user_end) as usize - start as usize;
        core::slice::from_raw_parts(start, len)
    }
}

// The user program: system calls through `int 0x80` (see `syscall`).
global_asm!(
    ".section .rodata.mini_user, \"a\"",
    ".global mini_user_start",
    ".global mini_user_end",
    "mini_user_start:",
    "mov eax, 1", "mov edi, 4", "int 0x80",            // vm_allocate(4 pages)
    "test rax, rax", "jz 2f",
    "mov rbx, rax",
    "mov qword ptr [rbx], 0x1234",                      // zero-fill faults
    "mov qword ptr [rbx + 0x3000], 0x5678",
    "mov eax, 2", "mov rdi, rbx", "mov esi, 4", "mov edx, 1", "int 0x80",   // vm_protect(read)
    "test rax, rax", "jnz 2f",
    "mov rcx, qword ptr [rbx]", "cmp rcx, 0x1234", "jne 2f",                // still readable
    "lea rdi, [rbx + 0x3000]", "mov eax, 3", "mov esi, 1", "int 0x80",      // vm_deallocate(page 3)
    "test rax, rax", "jnz 2f",
    "mov qword ptr [rbx], 1",                           // refused: read-only
    "2:",
    "mov eax, 4", "mov edi, 1", "int 0x80",             // exit(1): something went wrong
    "mini_user_end:",
    ".text",
);
