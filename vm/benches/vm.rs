//! Host benchmarks of the VM layer on pmap-x86's simulated machine, one operation per
//! iteration (so criterion's time is the time per operation):
//!
//! - `allocate_deallocate/{0,1000}`: allocate 1 page anywhere and deallocate it again, in a
//!   map that already holds 0 or 1 000 entries;
//! - `lookup/{10,1000,100000}`: `VmMap::lookup` of pseudo-random addresses over a map of that
//!   many 1-page entries separated by 1-page gaps (about half the lookups miss);
//! - `protect/toggle`: `vm.protect` of one touched 1-page entry, alternately to read-only and
//!   back to read-write, in a map of 1 000 entries;
//! - `fault/zero_fill`: the first write fault on a fresh page of anonymous memory;
//! - `fault/copy_on_write`: a write fault in a forked child on a page the parent wrote;
//! - `fork_1000_entries/{fork,fork_destroy}`: fork of a map of 1 000 touched entries (the
//!   parent is rewritten before every fork, so each fork write-protects its pages again),
//!   alone and followed by `destroy_map` of the child.
//!
//! - `copy_1m/{virtual,bytes}`: a 1 MiB page-aligned copy from one touched region to
//!   another, as `copyin` + `copy_overwrite` (copy-on-write: no page moves) and as a byte copy
//!   (`read_bytes` into a buffer + `write_bytes`), for comparison.
//!
//! The faults and forks run under `iter_custom`: set-up and clean-up (allocating, touching,
//! forking, destroying) happen outside the timing. No address space is active, so the
//! simulated MMU records no invalidations (its event log would otherwise grow without end).
//!
//! Run with `cargo bench -p vm`.

use criterion::{criterion_group, criterion_main, Bencher, BenchmarkId, Criterion};
use pmap_x86::sim::{Arena, SimFrames, SimMmu};
use pmap_x86::{DirectMap, X86Pmap};
use std::hint::black_box;
use std::time::{Duration, Instant};
use machvm::pmap::FrameAllocator;
use machvm::{Access, FaultOutcome, Machine, MapId, NewMemory, Page, Placement, Prot, ProtectTarget, Vm, PAGE_SIZE};

struct Sim;

impl Machine for Sim {
    type Pmap = X86Pmap<SimFrames, SimMmu>;
    type Frames = SimFrames;
    type Phys = DirectMap;
}

type SimVm = Vm<Sim>;

/// Simulated memory: 64 MiB. The largest user is the copy-on-write benchmark, with twice
/// `BATCH` data frames plus their tables; 1 000 touched entries take about 1 010 frames.
const FRAMES: usize = 1 << 14;
/// The user map bounds of the spec.
const MIN: u64 = 0x1000;
const MAX: u64 = 0x0000_7fff_ffff_f000;
/// Where the entries of the prepared maps start (well above `MIN`, so that allocations
/// "anywhere" land below them).
const BASE: u64 = 0x10_0000_0000;
/// Fresh pages per batch of the fault benchmarks.
const BATCH: u64 = 512;
/// Entries of the forked map.
const FORK_ENTRIES: u64 = 1_000;

/// A VM system over a fresh arena, with one empty map.
fn setup() -> (SimVm, MapId) {
    let arena = Arena::new(FRAMES);
    let frames = SimFrames(arena.clone());
    let kernel_root = frames.allocate_frame().expect("a frame");
    let pmap = X86Pmap::new(arena.window(), frames.clone(), SimMmu::default(), kernel_root, FRAMES as u64);
    let mut vm = Vm::new(pmap, frames, arena.window());
    vm.set_entry_limit(usize::MAX);
    let map = vm.create_map(MIN, MAX).expect("a map");
    (vm, map)
}

/// The `i`th entry's page: entries are 1 page long with a 1-page gap after each.
fn entry_page(i: u64) -> Page {
    Page::from_aligned(BASE + 2 * i * PAGE_SIZE).expect("aligned")
}

fn page_after(page: Page, pages: u64) -> Page {
    page.checked_add(pages).expect("in range")
}

/// Allocates `entries` separate 1-page entries (fixed placement).
fn fill(vm: &mut SimVm, map: MapId, entries: u64) {
    for i in 0..entries {
        let placed = vm.allocate(map, Placement::Fixed(entry_page(i)), 1, NewMemory::DEFAULT);
        assert_eq!(placed, Ok(entry_page(i)));
    }
}

/// Write-faults the page of every entry, giving each an object and a writable translation.
fn touch(vm: &mut SimVm, map: MapId, entries: u64) {
    for i in 0..entries {
        assert_eq!(vm.fault(map, entry_page(i).addr(), Access::Write), FaultOutcome::Resolved);
    }
}

/// A map of `entries` entries, touched or not.
fn prepared(entries: u64, touched: bool) -> (SimVm, MapId) {
    let (mut vm, map) = setup();
    fill(&mut vm, map, entries);
    if touched {
        touch(&mut vm, map, entries);
    }
    (vm, map)
}

/// Write-faults `pages` pages from `start`; returns the time taken.
fn write_faults(vm: &mut SimVm, map: MapId, start: Page, pages: u64) -> Duration {
    let started = Instant::now();
    for i in 0..pages {
        let outcome = vm.fault(map, black_box(start.addr() + i * PAGE_SIZE), Access::Write);
        assert_eq!(outcome, FaultOutcome::Resolved);
    }
    started.elapsed()
}

/// Runs `batch` on chunks of at most `BATCH` of `iters` operations and adds up its times.
fn in_batches(iters: u64, mut batch: impl FnMut(u64) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        total += batch(n);
        left -= n;
    }
    total
}

/// `count` pseudo-random addresses in `[BASE, BASE + span)` (a 64-bit LCG, Knuth's MMIX).
fn random_addrs(count: usize, span: u64) -> Vec<u64> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            BASE + (state >> 16) % span
        })
        .collect()
}

fn allocate_deallocate(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocate_deallocate");
    for entries in [0, 1_000] {
        let (mut vm, map) = prepared(entries, false);
        group.bench_function(BenchmarkId::from_parameter(entries), |b| {
            b.iter(|| {
                let anywhere = Placement::Anywhere { mask: 0 };
                let start = vm.allocate(map, anywhere, 1, NewMemory::DEFAULT).expect("space");
                vm.deallocate(map, start, page_after(start, 1)).expect("mapped");
            });
        });
    }
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for entries in [10, 1_000, 100_000] {
        let (vm, map) = prepared(entries, false);
        let addrs = random_addrs(4096, 2 * entries * PAGE_SIZE);
        let m = vm.map(map);
        let mut next = 0;
        group.bench_function(BenchmarkId::from_parameter(entries), |b| {
            b.iter(|| {
                next = (next + 1) % addrs.len();
                m.lookup(black_box(addrs[next])).map(|e| e.start)
            });
        });
    }
    group.finish();
}

fn protect(c: &mut Criterion) {
    let mut group = c.benchmark_group("protect");
    let (mut vm, map) = prepared(1_000, true);
    let (start, end) = (entry_page(500), page_after(entry_page(500), 1));
    let mut read_only = false;
    group.bench_function("toggle", |b| {
        b.iter(|| {
            read_only = !read_only;
            let prot = if read_only { Prot::READ } else { Prot::DEFAULT };
            vm.protect(map, start, end, ProtectTarget::Current, black_box(prot)).expect("mapped");
        });
    });
    group.finish();
}

fn fault(c: &mut Criterion) {
    let mut group = c.benchmark_group("fault");
    let (mut vm, map) = setup();
    group.bench_function("zero_fill", |b| {
        b.iter_custom(|iters| {
            in_batches(iters, |n| {
                let anywhere = Placement::Anywhere { mask: 0 };
                let start = vm.allocate(map, anywhere, BATCH, NewMemory::DEFAULT).expect("space");
                let time = write_faults(&mut vm, map, start, n);
                vm.deallocate(map, start, page_after(start, BATCH)).expect("mapped");
                time
            })
        });
    });
    let parent = map;
    group.bench_function("copy_on_write", |b| {
        b.iter_custom(|iters| {
            in_batches(iters, |n| {
                let anywhere = Placement::Anywhere { mask: 0 };
                let start = vm.allocate(parent, anywhere, BATCH, NewMemory::DEFAULT).expect("space");
                write_faults(&mut vm, parent, start, BATCH);
                let child = vm.fork(parent).expect("memory");
                let time = write_faults(&mut vm, child, start, n);
                vm.destroy_map(child).expect("a live map");
                vm.deallocate(parent, start, page_after(start, BATCH)).expect("mapped");
                time
            })
        });
    });
    group.finish();
}

/// Times forks of a touched 1 000-entry map, with or without the child's destruction.
fn fork_bench(b: &mut Bencher<'_>, vm: &mut SimVm, parent: MapId, with_destroy: bool) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            // Make the parent's pages writable again, as a running parent would.
            touch(vm, parent, FORK_ENTRIES);
            let started = Instant::now();
            let child = vm.fork(parent).expect("memory");
            if with_destroy {
                vm.destroy_map(child).expect("a live map");
                total += started.elapsed();
            } else {
                total += started.elapsed();
                vm.destroy_map(child).expect("a live map");
            }
        }
        total
    });
}

fn fork(c: &mut Criterion) {
    let mut group = c.benchmark_group("fork_1000_entries");
    let (mut vm, parent) = prepared(FORK_ENTRIES, true);
    group.bench_function("fork", |b| fork_bench(b, &mut vm, parent, false));
    group.bench_function("fork_destroy", |b| fork_bench(b, &mut vm, parent, true));
    group.finish();
}

/// Two touched 1 MiB regions of one map.
fn two_regions() -> (SimVm, MapId, u64, u64) {
    let (mut vm, map) = setup();
    let pages = (1 << 20) / PAGE_SIZE;
    let mut region = || {
        let at = vm.allocate(map, Placement::Anywhere { mask: 0 }, pages, NewMemory::DEFAULT).expect("room").addr();
        for i in 0..pages {
            assert_eq!(vm.fault(map, at + i * PAGE_SIZE, Access::Write), FaultOutcome::Resolved);
        }
        at
    };
    let (src, dst) = (region(), region());
    (vm, map, src, dst)
}

fn copy_1m(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy_1m");
    let (mut vm, map, src, dst) = two_regions();
    group.bench_function("virtual", |b| {
        b.iter(|| {
            let copy = vm.copyin(map, black_box(src), 1 << 20, machvm::SourceDisposal::Keep).expect("readable");
            vm.copy_overwrite(map, black_box(dst), copy).expect("writable");
        })
    });
    let mut buffer = vec![0u8; 1 << 20];
    group.bench_function("bytes", |b| {
        b.iter(|| {
            vm.read_bytes(map, black_box(src), &mut buffer).expect("readable");
            vm.write_bytes(map, black_box(dst), &buffer).expect("writable");
        })
    });
    group.finish();
}

criterion_group!(benches, allocate_deallocate, lookup, protect, fault, fork, copy_1m);
criterion_main!(benches);
