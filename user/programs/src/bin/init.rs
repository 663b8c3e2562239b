//! The default demo: allocates, writes and protects memory; creates a child task with SHARE,
//! COPY and NONE regions and checks what each side sees of the other's writes; wires memory;
//! prints a vmmap-style table of each task's regions and vm_stat-style counters.

#![no_std]
#![no_main]

use mach::*;

mach::entry!(main);

const PAGE: u64 = 4096;

fn check(what: &str, kr: kern_return_t) {
    assert_eq!(kr, KERN_SUCCESS, "{what} failed");
}

fn main() -> i32 {
    let task = mach_task_self();
    println!("init: task {task} running in ring 3");

    let mut buffer = 0;
    check("vm_allocate", vm_allocate(task, &mut buffer, 16 * PAGE, VM_FLAGS_ANYWHERE));
    println!("vm_allocate: 16 pages at {buffer:#x}");
    let bytes = buffer as *mut u8;
    for page in 0..16 {
        // SAFETY: the 16 pages at `buffer` were just allocated read-write for this task.
        unsafe { bytes.add((page * PAGE) as usize).write(page as u8 + 1) };
    }
    println!("wrote the first byte of every page (zero-fill faults)");

    check("vm_protect", vm_protect(task, buffer, 4 * PAGE, FALSE, VM_PROT_READ));
    println!("vm_protect: first 4 pages read-only");
    check("vm_inherit", vm_inherit(task, buffer + 4 * PAGE, 4 * PAGE, VM_INHERIT_SHARE));
    check("vm_wire", vm_wire(mach_host_priv(), task, buffer + 8 * PAGE, 4 * PAGE, VM_PROT_READ | VM_PROT_WRITE));
    println!("vm_wire: 4 pages wired");

    inheritance_demo(task);
    framebuffer_demo(task);
    println!("\nregions of init:");
    print_regions(task);
    print_statistics();
    check("vm_deallocate", vm_deallocate(task, buffer, 16 * PAGE));
    println!("init: done");
    0
}

/// Maps the boot frame buffer write-combining (a user-space driver's first step), draws a
/// gradient into it, and reads pixels back through a second, uncached mapping of the same
/// physical memory.
fn framebuffer_demo(task: mach_port_t) {
    let mut fb = FramebufferInfo::default();
    if host_framebuffer(mach_host_priv(), &mut fb) != KERN_SUCCESS {
        println!("\nframebuffer: none (the boot loader made none)");
        return;
    }
    println!("\nframebuffer: {}x{}, {} bytes per pixel, at physical {:#x}", fb.width, fb.height, fb.bytes_per_pixel, fb.phys);
    let (mut wc, mut uc) = (0, 0);
    check("vm_map_device", vm_map_device(mach_host_priv(), task, &mut wc, fb.size, fb.phys, VM_FLAGS_ANYWHERE | VM_DEVICE_WRITE_COMBINING));
    check("vm_map_device", vm_map_device(mach_host_priv(), task, &mut uc, fb.size, fb.phys, VM_FLAGS_ANYWHERE | VM_DEVICE_UNCACHED));
    let (bpp, stride) = (u64::from(fb.bytes_per_pixel), u64::from(fb.stride));
    let pixel = |base: u64, x: u64, y: u64| (base + (y * stride + x) * bpp) as *mut u8;
    for y in 0..u64::from(fb.height) {
        for x in 0..u64::from(fb.width) {
            let shade = [(x * 255 / u64::from(fb.width)) as u8, (y * 255 / u64::from(fb.height)) as u8, 0x80];
            for (i, &byte) in shade.iter().take(bpp as usize).enumerate() {
                // SAFETY: the pixel lies inside the frame buffer, mapped read-write at `wc`.
                unsafe { pixel(wc, x, y).add(i).write_volatile(byte) };
            }
        }
    }
    let (x, y) = (u64::from(fb.width) / 2, u64::from(fb.height) / 3);
    // Drains the write-combining buffers (`mfence`) before reading through the other mapping.
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    // SAFETY: as above, through the uncached mapping at `uc`.
    let back = unsafe { pixel(uc, x, y).read_volatile() };
    let drawn = (x * 255 / u64::from(fb.width)) as u8;
    println!("framebuffer: drew {}x{} pixels through {wc:#x} (write-combining); pixel ({x}, {y}) reads back {back:#04x} through {uc:#x} (uncached), drawn as {drawn:#04x}", fb.width, fb.height);
    check("framebuffer read-back", if back == drawn { KERN_SUCCESS } else { KERN_FAILURE });
    check("vm_deallocate", vm_deallocate(task, wc, fb.size));
    check("vm_deallocate", vm_deallocate(task, uc, fb.size));
}

/// The three regions the child inherits, one per inheritance.
#[repr(C)]
struct Regions {
    share: u64,
    copy: u64,
    none: u64,
}

fn region_with(task: mach_port_t, inheritance: vm_inherit_t, byte: u8) -> u64 {
    let mut address = 0;
    check("vm_allocate", vm_allocate(task, &mut address, PAGE, VM_FLAGS_ANYWHERE));
    check("vm_inherit", vm_inherit(task, address, PAGE, inheritance));
    // SAFETY: the page was just allocated read-write.
    unsafe { (address as *mut u8).write(byte) };
    address
}

fn read(address: u64) -> u8 {
    // SAFETY: the callers pass mapped, readable addresses.
    unsafe { (address as *const u8).read_volatile() }
}

fn inheritance_demo(task: mach_port_t) {
    let regions = Regions {
        share: region_with(task, VM_INHERIT_SHARE, b'S'),
        copy: region_with(task, VM_INHERIT_COPY, b'C'),
        none: region_with(task, VM_INHERIT_NONE, b'N'),
    };
    println!("\ntask_create: a child inheriting share {:#x}, copy {:#x}, none {:#x}", regions.share, regions.copy, regions.none);
    let child = mach::child::spawn(child_main, &regions as *const Regions as u64).expect("the child starts");
    let status = mach::child::wait(child).expect("the child ends");
    println!("child exited with status {status}");
    assert_eq!(status, 0, "the child's checks passed");
    assert_eq!(read(regions.share), b's', "the child's write to SHARE memory shows in the parent");
    assert_eq!(read(regions.copy), b'C', "the child's write to COPY memory stays in the child");
    assert_eq!(read(regions.none), b'N');
    println!("parent sees: share {:?} (the child's write), copy {:?} (its own), none {:?}", read(regions.share) as char, read(regions.copy) as char, read(regions.none) as char);
    for address in [regions.share, regions.copy, regions.none] {
        check("vm_deallocate", vm_deallocate(task, address, PAGE));
    }
}

extern "C" fn child_main(regions: u64) -> ! {
    // SAFETY: `regions` points at the parent's `Regions`, inherited (COPY) on the stack.
    let regions = unsafe { &*(regions as *const Regions) };
    let me = mach_task_self();
    println!("child: sees share {:?}, copy {:?}", read(regions.share) as char, read(regions.copy) as char);
    let (mut address, mut size, mut info) = (regions.none, 0, VmRegionInfo::default());
    let none_absent = vm_region(me, &mut address, &mut size, &mut info) != KERN_SUCCESS || address > regions.none;
    // SAFETY: both pages are mapped read-write in the child (inherited).
    unsafe {
        (regions.share as *mut u8).write(b's');
        (regions.copy as *mut u8).write(b'c');
    }
    println!("child: wrote 's' to share and 'c' to copy; none region absent: {none_absent}");
    println!("regions of the child:");
    print_regions(me);
    task_exit(if none_absent && read(regions.copy) == b'c' { 0 } else { 1 })
}

fn prot(p: vm_prot_t) -> [u8; 3] {
    let bit = |b, c| if p & b != 0 { c } else { b'-' };
    [bit(VM_PROT_READ, b'r'), bit(VM_PROT_WRITE, b'w'), bit(VM_PROT_EXECUTE, b'x')]
}

fn text(bytes: &[u8; 3]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("???")
}

fn print_regions(task: mach_port_t) {
    println!("{:<33} {:>8}  cur/max  inherit  shared  wired", "range", "size");
    let mut address = 0;
    loop {
        let (mut size, mut info) = (0, VmRegionInfo::default());
        if vm_region(task, &mut address, &mut size, &mut info) != KERN_SUCCESS {
            break;
        }
        let inherit = ["share", "copy", "none"].get(info.inheritance as usize).copied().unwrap_or("?");
        let (cur, max) = (prot(info.protection), prot(info.max_protection));
        println!(
            "{:#016x}-{:#016x} {:>7}K  {}/{}  {:<7}  {:<6}  {}",
            address, address + size, size / 1024, text(&cur), text(&max), inherit,
            if info.shared != 0 { "yes" } else { "no" }, info.user_wired_count
        );
        address += size;
    }
}

fn print_statistics() {
    let mut s = VmStatistics::default();
    check("vm_statistics", vm_statistics(&mut s));
    println!(
        "vm_stat: free {} resident {} wired {} page-tables {} | faults {} zero-fill {} copy-on-write {}",
        s.free_count, s.resident_count, s.wire_count, s.page_table_count, s.faults, s.zero_fill_count, s.cow_faults
    );
}
