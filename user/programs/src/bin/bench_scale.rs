//! The scaling series: how the cost of one operation grows with the size of what it works on
//! (regions in the map, entries a fork copies, bytes faulted in or removed). Measured from
//! ring 3 with the time-stamp counter; booted by `cargo run --release -- bench` in a 2 GiB
//! guest after the suite (`bench.rs`). Each figure is the median of 5 and printed as
//! `SERIES/SIZE ns_per_op=X`, then `done`. Sizes and work match the Linux program the runner
//! boots in the same sitting (`boot/linux/scale.c`), so every line has a Linux twin.
//!
//! - `create/N`, `teardown/N`, `protect/N`, `protect_fixed/N` (N = 100 … 1 000 000): N
//!   untouched one-page regions, every other page from `BASE`. `create` is per region (the N
//!   `VM_FLAGS_FIXED` allocations), `teardown` per region (one `vm_deallocate` of the whole
//!   range), `protect` per call of 10 000 `vm_protect`s of a random region, each toggling it
//!   between READ and READ|WRITE (a change every time), `protect_fixed` the same on the
//!   middle region. Create and teardown are timed in 5 rounds up to 10 000 regions and in
//!   one round above (a million regions take seconds to make); the protect calls run on the
//!   last round's regions.
//! - `fork_exit_1m/E` (E = 1 … 100 000), `fork_exit_64m/E` (E = 1 … 10 000): one
//!   `mach::child::spawn` of a child that exits at once, with its `mach::child::wait`, from a
//!   map holding a touched 1 MiB (64 MiB) region and E − 1 one-page regions; `fork_split/E`
//!   and `exit_wait/E` (1 MiB) time the spawn and the wait apart.
//! - `fault_zero/SIZE`: first writes to a fresh region, per page.
//! - `dealloc_touched/SIZE` (per page) and `dealloc_untouched/SIZE` (per call).
//! - `protect_write/64m`: the whole cycle over a touched 64 MiB region (protect to READ, back
//!   to READ|WRITE, then a write to every page), the same work on both sides whether a raise
//!   does its work at once or leaves it to the writes; `protect_write_down`, `_up` and
//!   `_writes` are its parts.
//!
//! When the map refuses a region, the program prints `# SERIES: map took K of N entries`
//! (with the code when it is not `KERN_RESOURCE_SHORTAGE`) and skips that size's lines: no
//! figure stands for work that was not done.

#![no_std]
#![no_main]

use mach::*;

#[path = "../bench_support.rs"]
mod bench_support;

use bench_support::*;

mach::entry!(main);

/// Where the one-page regions start, far above everything `VM_FLAGS_ANYWHERE` places.
const BASE: u64 = 0x100_0000_0000;
/// `vm_protect` calls per protect measurement.
const CALLS: u64 = 10_000;
/// The largest region count whose create and teardown are timed in `REPS` rounds.
const ROUNDS_UP_TO: u64 = 10_000;

fn main() -> i32 {
    let c = Clock::new();
    for n in [100, 1_000, 10_000, 100_000, 1_000_000] {
        protect_series(&c, n);
    }
    for entries in [1, 100, 10_000, 100_000] {
        fork_series(&c, 1, entries);
    }
    for entries in [1, 100, 10_000] {
        fork_series(&c, 64, entries);
    }
    for mib in [4, 64, 512] {
        fault_zero(&c, mib);
    }
    for mib in [4, 64, 256] {
        dealloc_touched(&c, mib);
    }
    for mib in [64, 1024] {
        dealloc_untouched(&c, mib);
    }
    protect_write(&c);
    println!("done");
    0
}

fn median(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}


/// The address of one-page region `i`.
fn region(i: u64) -> u64 {
    BASE + 2 * i * PAGE
}

/// Makes regions `0..n`. When the map refuses one, removes those made and returns how many
/// it took and its code.
fn make_regions(n: u64) -> Result<(), (u64, kern_return_t)> {
    for i in 0..n {
        let mut a = region(i);
        let kr = vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED);
        if kr != KERN_SUCCESS {
            remove_regions(i);
            return Err((i, kr));
        }
    }
    Ok(())
}

/// Removes regions `0..n` with one call.
fn remove_regions(n: u64) {
    if n > 0 {
        ok(vm_deallocate(me(), BASE, 2 * n * PAGE));
    }
}

fn refused(series: &str, took: u64, wanted: u64, kr: kern_return_t) {
    if kr == KERN_RESOURCE_SHORTAGE {
        println!("# {series}: map took {took} of {wanted} entries");
    } else {
        println!("# {series}: map took {took} of {wanted} entries (kern_return {kr})");
    }
}

/// One byte per region (1: READ, 0: READ|WRITE), in memory of its own, touched beforehand so
/// that no fault falls in a timed loop.
struct States {
    addr: u64,
    size: u64,
}

impl States {
    fn new(regions: u64) -> Self {
        let size = regions.div_ceil(PAGE) * PAGE;
        let addr = alloc(size);
        write_pages(addr, size, 0);
        Self { addr, size }
    }

    /// Flips region `i`'s state and returns the protection it now wants.
    fn flip(&self, i: u64) -> vm_prot_t {
        debug_assert!(i < self.size);
        let byte = (self.addr + i) as *mut u8;
        // SAFETY: `i` is below the region count, so `byte` lies in the buffer, mapped
        // read-write by `new` and owned by this value alone.
        let now = unsafe {
            let now = byte.read() ^ 1;
            byte.write(now);
            now
        };
        if now == 1 { VM_PROT_READ } else { VM_PROT_DEFAULT }
    }

    /// Sets region `i`'s state to READ|WRITE; returns whether it was READ.
    fn reset(&self, i: u64) -> bool {
        debug_assert!(i < self.size);
        let byte = (self.addr + i) as *mut u8;
        // SAFETY: as in `flip`.
        unsafe { byte.replace(0) == 1 }
    }

    fn free(self) {
        ok(vm_deallocate(me(), self.addr, self.size));
    }
}

/// `create/N`, `protect/N`, `protect_fixed/N` and `teardown/N`.
fn protect_series(c: &Clock, n: u64) {
    let rounds = if n <= ROUNDS_UP_TO { REPS } else { 1 };
    let (mut create, mut teardown) = ([0; REPS], [0; REPS]);
    let states = States::new(n);
    for round in 0..rounds {
        let mut made = Ok(());
        create[round] = c.time(|| made = make_regions(n)) / n;
        if let Err((took, kr)) = made {
            states.free();
            return refused("protect", took, n, kr);
        }
        if round + 1 == rounds {
            protect_calls(c, n, &states);
        }
        teardown[round] = c.time(|| remove_regions(n)) / n;
    }
    states.free();
    println!("create/{n} ns_per_op={}", median(&mut create[..rounds]));
    println!("teardown/{n} ns_per_op={}", median(&mut teardown[..rounds]));
}

/// Xorshift64, the generator the Linux program uses too (same seed, same regions).
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn protect_calls(c: &Clock, n: u64, states: &States) {
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut random = [0; REPS];
    for sample in random.iter_mut() {
        *sample = c.time(|| {
            for _ in 0..CALLS {
                let i = rng.next() % n;
                ok(vm_protect(me(), region(i), PAGE, FALSE, states.flip(i)));
            }
        }) / CALLS;
    }
    let middle = region(n / 2);
    if states.reset(n / 2) {
        ok(vm_protect(me(), middle, PAGE, FALSE, VM_PROT_DEFAULT));
    }
    let mut fixed = [0; REPS];
    for sample in fixed.iter_mut() {
        *sample = c.time(|| {
            for _ in 0..CALLS / 2 {
                ok(vm_protect(me(), middle, PAGE, FALSE, VM_PROT_READ));
                ok(vm_protect(me(), middle, PAGE, FALSE, VM_PROT_DEFAULT));
            }
        }) / CALLS;
    }
    println!("protect/{n} ns_per_op={}", median(&mut random));
    println!("protect_fixed/{n} ns_per_op={}", median(&mut fixed));
}

extern "C" fn child_exits(_: u64) -> ! {
    task_exit(0)
}

fn spawn(series: &str, entries: u64) -> Option<mach_port_t> {
    match mach::child::spawn(child_exits, 0) {
        Ok(child) => Some(child),
        Err(kr) => {
            println!("# {series}: spawn refused with {entries} entries (kern_return {kr})");
            None
        }
    }
}

fn wait(child: mach_port_t) {
    assert_eq!(mach::child::wait(child), Ok(0));
}

/// `fork_exit_{mib}m/E`, and for 1 MiB `fork_split/E` and `exit_wait/E`.
fn fork_series(c: &Clock, mib: u64, entries: u64) {
    let series = if mib == 1 { "fork_exit_1m" } else { "fork_exit_64m" };
    let a = alloc(mib * MIB);
    touch(a, mib * MIB);
    match make_regions(entries - 1) {
        Err((took, kr)) => refused(series, took + 1, entries, kr),
        Ok(()) => {
            if fork_exit(c, series, entries) && mib == 1 {
                fork_split(c, entries);
            }
            remove_regions(entries - 1);
        }
    }
    ok(vm_deallocate(me(), a, mib * MIB));
}

fn fork_exit(c: &Clock, series: &str, entries: u64) -> bool {
    let mut samples = [0; REPS];
    for sample in samples.iter_mut() {
        let start = rdtsc();
        let Some(child) = spawn(series, entries) else { return false };
        wait(child);
        *sample = c.ns(rdtsc() - start);
    }
    println!("{series}/{entries} ns_per_op={}", median(&mut samples));
    true
}

fn fork_split(c: &Clock, entries: u64) {
    let (mut forks, mut waits) = ([0; REPS], [0; REPS]);
    for (fork, wait_ns) in forks.iter_mut().zip(waits.iter_mut()) {
        let start = rdtsc();
        let Some(child) = spawn("fork_split", entries) else { return };
        let spawned = rdtsc();
        wait(child);
        (*fork, *wait_ns) = (c.ns(spawned - start), c.ns(rdtsc() - spawned));
    }
    println!("fork_split/{entries} ns_per_op={}", median(&mut forks));
    println!("exit_wait/{entries} ns_per_op={}", median(&mut waits));
}

fn fault_zero(c: &Clock, mib: u64) {
    let size = mib * MIB;
    let mut samples = [0; REPS];
    for sample in samples.iter_mut() {
        let a = alloc(size);
        *sample = c.time(|| touch(a, size)) / (size / PAGE);
        ok(vm_deallocate(me(), a, size));
    }
    println!("fault_zero/{mib}m ns_per_op={}", median(&mut samples));
}

fn dealloc_touched(c: &Clock, mib: u64) {
    let size = mib * MIB;
    let mut samples = [0; REPS];
    for sample in samples.iter_mut() {
        let a = alloc(size);
        touch(a, size);
        *sample = c.time(|| ok(vm_deallocate(me(), a, size))) / (size / PAGE);
    }
    println!("dealloc_touched/{mib}m ns_per_op={}", median(&mut samples));
}

fn dealloc_untouched(c: &Clock, mib: u64) {
    let size = mib * MIB;
    let mut samples = [0; REPS];
    for sample in samples.iter_mut() {
        let a = alloc(size);
        *sample = c.time(|| ok(vm_deallocate(me(), a, size)));
    }
    println!("dealloc_untouched/{mib}m ns_per_op={}", median(&mut samples));
}

/// `protect_write/64m` and its parts.
fn protect_write(c: &Clock) {
    let size = 64 * MIB;
    let a = alloc(size);
    touch(a, size);
    let (mut cycle, mut down, mut up, mut writes) = ([0; REPS], [0; REPS], [0; REPS], [0; REPS]);
    for r in 0..REPS {
        down[r] = c.time(|| ok(vm_protect(me(), a, size, FALSE, VM_PROT_READ)));
        up[r] = c.time(|| ok(vm_protect(me(), a, size, FALSE, VM_PROT_DEFAULT)));
        writes[r] = c.time(|| touch(a, size));
        cycle[r] = down[r] + up[r] + writes[r];
    }
    ok(vm_deallocate(me(), a, size));
    println!("protect_write/64m ns_per_op={}", median(&mut cycle));
    println!("protect_write_down/64m ns_per_op={}", median(&mut down));
    println!("protect_write_up/64m ns_per_op={}", median(&mut up));
    println!("protect_write_writes/64m ns_per_op={}", median(&mut writes));
}
