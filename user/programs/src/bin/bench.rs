//! The benchmark suite, measured from ring 3 with the time-stamp counter: each operation is
//! run 5 times and the median printed as `NAME ns_per_op=X`, then `done`. Names and sizes are
//! fixed so that runs compare across versions and with other kernels; `boot/linux/suite.c`
//! does the same work with Linux calls (`cargo run --release -- bench --with-linux`).
//! `many_regions` flips the protection of a random region among 10 000 between READ and
//! READ|WRITE, so that every call changes one.
//!
//! The `worst_*` series are the worst-case check: each measures one operation on the shape a
//! hostile task would choose and on a benign shape of the same size (`SERIES/benign/SIZE`
//! and `SERIES/hostile/SIZE`), so that a cost that grows with the product of two sizes shows
//! as a ratio far above 1 between the two lines.

#![no_std]
#![no_main]

use mach::*;

#[path = "../bench_support.rs"]
mod bench_support;

use bench_support::*;

mach::entry!(main);

fn main() -> i32 {
    let clock = Clock::new();
    let benches: [(&str, fn(&Clock) -> Sample); 19] = [
        ("alloc_free_1p", alloc_free_1p),
        ("alloc_touch_free_1p", alloc_touch_free_1p),
        ("fault_zero", fault_zero),
        ("fault_read_zero", fault_read_zero),
        ("protect_toggle", protect_toggle),
        ("protect_large", protect_large),
        ("wire_unwire", wire_unwire),
        ("fork_cow", fork_cow),
        ("fork_exit", fork_exit),
        ("many_regions", many_regions),
        ("copy_64k", copy_64k),
        ("copy_1m", copy_1m),
        ("read_1m", read_1m),
        ("worst_copy_unaligned/benign/4096", worst_copy_benign),
        ("worst_copy_unaligned/hostile/4096", worst_copy_hostile),
        ("worst_fixed_order/benign/4096", worst_fixed_benign),
        ("worst_fixed_order/hostile/4096", worst_fixed_hostile),
        ("worst_copy_chain/benign/64", worst_chain_benign),
        ("worst_copy_chain/hostile/64", worst_chain_hostile),
    ];
    for (name, bench) in benches {
        let mut samples = [Sample::default(); REPS];
        for s in samples.iter_mut() {
            *s = bench(&clock);
        }
        samples.sort_unstable_by_key(|s| s.ns_per_op);
        let median = samples[REPS / 2];
        match median.total_ns {
            Some(total) => println!("{name} ns_per_op={} total_ns={total}", median.ns_per_op),
            None => println!("{name} ns_per_op={}", median.ns_per_op),
        }
    }
    println!("done");
    0
}

/// One measurement.
#[derive(Clone, Copy, Default)]
struct Sample {
    ns_per_op: u64,
    total_ns: Option<u64>,
}

/// The time per op of `ops` operations that took `cycles`.
fn per_op(c: &Clock, cycles: u64, ops: u64) -> Sample {
    Sample { ns_per_op: c.ns(cycles) / ops.max(1), total_ns: None }
}

fn alloc_free_1p(c: &Clock) -> Sample {
    const N: u64 = 100_000;
    let cycles = c.cycles(|| {
        for _ in 0..N {
            let a = alloc(PAGE);
            ok(vm_deallocate(me(), a, PAGE));
        }
    });
    per_op(c, cycles, N)
}

fn alloc_touch_free_1p(c: &Clock) -> Sample {
    const N: u64 = 100_000;
    let cycles = c.cycles(|| {
        for _ in 0..N {
            let a = alloc(PAGE);
            touch(a, PAGE);
            ok(vm_deallocate(me(), a, PAGE));
        }
    });
    per_op(c, cycles, N)
}

fn fault_zero(c: &Clock) -> Sample {
    let a = alloc(64 * MIB);
    let cycles = c.cycles(|| touch(a, 64 * MIB));
    ok(vm_deallocate(me(), a, 64 * MIB));
    per_op(c, cycles, 64 * MIB / PAGE)
}

fn fault_read_zero(c: &Clock) -> Sample {
    let a = alloc(64 * MIB);
    let cycles = c.cycles(|| {
        for off in (0..64 * MIB).step_by(PAGE as usize) {
            // SAFETY: the region is mapped readable.
            unsafe { ((a + off) as *const u8).read_volatile() };
        }
    });
    ok(vm_deallocate(me(), a, 64 * MIB));
    per_op(c, cycles, 64 * MIB / PAGE)
}

fn protect_toggle(c: &Clock) -> Sample {
    const N: u64 = 20_000;
    let a = alloc(PAGE);
    touch(a, PAGE);
    let cycles = c.cycles(|| {
        for _ in 0..N {
            ok(vm_protect(me(), a, PAGE, FALSE, VM_PROT_READ));
            ok(vm_protect(me(), a, PAGE, FALSE, VM_PROT_DEFAULT));
        }
    });
    ok(vm_deallocate(me(), a, PAGE));
    per_op(c, cycles, 2 * N)
}

fn protect_large(c: &Clock) -> Sample {
    const N: u64 = 10;
    let a = alloc(64 * MIB);
    touch(a, 64 * MIB);
    let cycles = c.cycles(|| {
        for _ in 0..N {
            ok(vm_protect(me(), a, 64 * MIB, FALSE, VM_PROT_READ));
            ok(vm_protect(me(), a, 64 * MIB, FALSE, VM_PROT_DEFAULT));
        }
    });
    ok(vm_deallocate(me(), a, 64 * MIB));
    per_op(c, cycles, 2 * N)
}

fn wire_unwire(c: &Clock) -> Sample {
    const N: u64 = 200;
    let a = alloc(MIB);
    touch(a, MIB);
    let host = mach_host_priv();
    let cycles = c.cycles(|| {
        for _ in 0..N {
            ok(vm_wire(host, me(), a, MIB, VM_PROT_DEFAULT));
            ok(vm_wire(host, me(), a, MIB, VM_PROT_NONE));
        }
    });
    ok(vm_deallocate(me(), a, MIB));
    per_op(c, cycles, N)
}

extern "C" fn child_writes_region(a: u64) -> ! {
    touch(a, 64 * MIB);
    task_exit(0)
}

extern "C" fn child_exits(_: u64) -> ! {
    task_exit(0)
}

fn fork_cow(c: &Clock) -> Sample {
    let a = alloc(64 * MIB);
    touch(a, 64 * MIB);
    let cycles = c.cycles(|| {
        let child = mach::child::spawn(child_writes_region, a).expect("a child");
        assert_eq!(mach::child::wait(child), Ok(0));
    });
    ok(vm_deallocate(me(), a, 64 * MIB));
    let total = c.ns(cycles);
    Sample { ns_per_op: total / (64 * MIB / PAGE), total_ns: Some(total) }
}

fn fork_exit(c: &Clock) -> Sample {
    const N: u64 = 10;
    let a = alloc(64 * MIB);
    touch(a, 64 * MIB);
    let cycles = c.cycles(|| {
        for _ in 0..N {
            let child = mach::child::spawn(child_exits, 0).expect("a child");
            assert_eq!(mach::child::wait(child), Ok(0));
        }
    });
    ok(vm_deallocate(me(), a, 64 * MIB));
    per_op(c, cycles, N)
}

fn many_regions(c: &Clock) -> Sample {
    const REGIONS: u64 = 10_000;
    const CALLS: u64 = 100_000;
    const BASE: u64 = 0x100_0000_0000;
    for i in 0..REGIONS {
        let mut a = BASE + 2 * i * PAGE;
        ok(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED));
    }
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    // Each region's protection, so that every call changes one (READ <-> READ|WRITE).
    let mut read_only = [false; REGIONS as usize];
    let cycles = c.cycles(|| {
        for _ in 0..CALLS {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let region = (state >> 33) % REGIONS;
            let flag = &mut read_only[region as usize];
            *flag = !*flag;
            let prot = if *flag { VM_PROT_READ } else { VM_PROT_DEFAULT };
            ok(vm_protect(me(), BASE + 2 * region * PAGE, PAGE, FALSE, prot));
        }
    });
    ok(vm_deallocate(me(), BASE, 2 * REGIONS * PAGE));
    per_op(c, cycles, CALLS)
}

fn copy(c: &Clock, size: u64, n: u64) -> Sample {
    let (src, dst) = (alloc(size), alloc(size));
    touch(src, size);
    touch(dst, size);
    let cycles = c.cycles(|| {
        for _ in 0..n {
            ok(vm_copy(me(), src, size, dst));
        }
    });
    ok(vm_deallocate(me(), src, size));
    ok(vm_deallocate(me(), dst, size));
    per_op(c, cycles, n)
}

fn copy_64k(c: &Clock) -> Sample {
    copy(c, 64 * 1024, 2_000)
}

fn copy_1m(c: &Clock) -> Sample {
    copy(c, MIB, 200)
}

fn read_1m(c: &Clock) -> Sample {
    const N: u64 = 200;
    let a = alloc(MIB);
    touch(a, MIB);
    let mut child = 0;
    ok(task_create(me(), TRUE, &mut child));
    let mut cycles = 0;
    for _ in 0..N {
        let (mut data, mut count) = (0, 0);
        cycles += c.cycles(|| ok(vm_read(child, a, MIB, &mut data, &mut count)));
        ok(vm_deallocate(me(), data, count));
    }
    ok(task_terminate(child));
    ok(mach_port_deallocate(me(), child));
    ok(vm_deallocate(me(), a, MIB));
    per_op(c, cycles, N)
}

/// Pages of the `worst_copy_unaligned` regions.
const WORST_PAGES: u64 = 4096;

/// `vm_copy` of `WORST_PAGES` pages into a destination 100 bytes off a page boundary, from
/// one entry (benign) or from one entry per page (hostile: every other page read-only, so
/// the copy has a piece per page); per page copied.
fn worst_copy(c: &Clock, split: bool) -> Sample {
    let size = WORST_PAGES * PAGE;
    let (src, dst) = (alloc(size), alloc(size + PAGE));
    touch(src, size);
    touch(dst, size + PAGE);
    if split {
        for p in (1..WORST_PAGES).step_by(2) {
            ok(vm_protect(me(), src + p * PAGE, PAGE, FALSE, VM_PROT_READ));
        }
    }
    let cycles = c.cycles(|| ok(vm_copy(me(), src, size, dst + 100)));
    ok(vm_deallocate(me(), src, size));
    ok(vm_deallocate(me(), dst, size + PAGE));
    per_op(c, cycles, WORST_PAGES)
}

fn worst_copy_benign(c: &Clock) -> Sample {
    worst_copy(c, false)
}

fn worst_copy_hostile(c: &Clock) -> Sample {
    worst_copy(c, true)
}

/// `WORST_PAGES` one-page FIXED allocations, every other page, in address order (benign) or
/// in the order a task would pick to unbalance a search tree (hostile: alternating from both
/// ends towards the middle, after descending runs); per allocation, with their removal.
fn worst_fixed(c: &Clock, hostile: bool) -> Sample {
    const BASE: u64 = 0x200_0000_0000;
    let slot = |i: u64| -> u64 {
        if !hostile {
            return i;
        }
        let (half, k) = (WORST_PAGES / 2, i / 2);
        if i % 2 == 0 { half - 1 - k } else { half + k }
    };
    let cycles = c.cycles(|| {
        for i in 0..WORST_PAGES {
            let mut a = BASE + 2 * slot(i) * PAGE;
            ok(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED));
        }
        for i in 0..WORST_PAGES {
            ok(vm_deallocate(me(), BASE + 2 * slot(i) * PAGE, PAGE));
        }
    });
    per_op(c, cycles, WORST_PAGES)
}

fn worst_fixed_benign(c: &Clock) -> Sample {
    worst_fixed(c, false)
}

fn worst_fixed_hostile(c: &Clock) -> Sample {
    worst_fixed(c, true)
}

/// 64 rounds of copying a 64 KiB region and writing every page of the copy, from a fresh
/// source each round (benign) or from the previous round's copy (hostile: the deepest shadow
/// chain a task can build this way); per round, with a final read of every page.
fn worst_chain(c: &Clock, chained: bool) -> Sample {
    const ROUNDS: u64 = 64;
    const SIZE: u64 = 16 * PAGE;
    let regions: [u64; 2] = [alloc(SIZE), alloc(SIZE)];
    touch(regions[0], SIZE);
    let cycles = c.cycles(|| {
        for round in 0..ROUNDS as usize {
            let (src, dst) = if chained { (regions[round % 2], regions[(round + 1) % 2]) } else { (regions[0], regions[1]) };
            ok(vm_copy(me(), src, SIZE, dst));
            touch(dst, SIZE);
        }
        for off in (0..SIZE).step_by(PAGE as usize) {
            // SAFETY: the regions are mapped readable.
            unsafe { ((regions[1] + off) as *const u8).read_volatile() };
        }
    });
    ok(vm_deallocate(me(), regions[0], SIZE));
    ok(vm_deallocate(me(), regions[1], SIZE));
    per_op(c, cycles, ROUNDS)
}

fn worst_chain_benign(c: &Clock) -> Sample {
    worst_chain(c, false)
}

fn worst_chain_hostile(c: &Clock) -> Sample {
    worst_chain(c, true)
}
