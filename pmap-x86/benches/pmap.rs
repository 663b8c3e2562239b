//! Host benchmarks of the x86_64 pmap on simulated memory: enter, remove and protect (cost per
//! page) and extract, at 1, 512 and 262 144 pages.
//!
//! Run with `cargo bench -p pmap-x86`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pmap_x86::sim::{Arena, SimFrames, SimMmu};
use pmap_x86::X86Pmap;
use std::hint::black_box;
use vm::pmap::{Pmap, SpaceId, Wiring};
use vm::{Frame, Page, PageRange, Prot};

const SIZES: [u64; 3] = [1, 512, 262_144];
const BASE: u64 = 0x10_0000_0000;

type SimPmap = X86Pmap<SimFrames, SimMmu>;

fn setup() -> (SimPmap, SpaceId) {
    // Tables for 262 144 pages take about 520 frames; data frames are not touched by the pmap,
    // so they are named, not allocated.
    let arena = Arena::new(4096);
    let frames = SimFrames(arena.clone());
    let kernel_root = vm::pmap::FrameAllocator::allocate_frame(&frames).unwrap();
    let mut pmap = X86Pmap::new(arena.window(), frames, SimMmu::default(), kernel_root, 1 << 20);
    let space = pmap.create().unwrap();
    (pmap, space)
}

fn range(pages: u64) -> PageRange {
    PageRange::from_start(Page::containing(BASE), pages).unwrap()
}

fn fill(pmap: &mut SimPmap, space: SpaceId, pages: u64) {
    for (i, page) in range(pages).pages().enumerate() {
        let frame = Frame::containing((4096 + i as u64) << 12);
        let flush = pmap.enter(space, page, frame, Prot::DEFAULT, Wiring::Pageable).unwrap();
        pmap.flush(flush);
    }
}

fn enter_remove(c: &mut Criterion) {
    let mut group = c.benchmark_group("enter+remove");
    for pages in SIZES {
        group.throughput(Throughput::Elements(pages));
        group.bench_with_input(BenchmarkId::from_parameter(pages), &pages, |b, &pages| {
            let (mut pmap, space) = setup();
            b.iter(|| {
                fill(&mut pmap, space, pages);
                let flush = pmap.remove(space, range(pages));
                pmap.flush(flush);
            });
        });
    }
    group.finish();
}

fn protect(c: &mut Criterion) {
    let mut group = c.benchmark_group("protect");
    for pages in SIZES {
        group.throughput(Throughput::Elements(pages));
        group.bench_with_input(BenchmarkId::from_parameter(pages), &pages, |b, &pages| {
            let (mut pmap, space) = setup();
            fill(&mut pmap, space, pages);
            b.iter(|| {
                // Lower to read-only, then re-enter writable is what a fault does; here the
                // protect alone is measured by alternating with a no-op lowering.
                let flush = pmap.protect(space, range(pages), Prot::READ);
                pmap.flush(flush);
                let flush = pmap.protect(space, range(pages), Prot::ALL);
                pmap.flush(flush);
            });
        });
    }
    group.finish();
}

fn extract(c: &mut Criterion) {
    let mut group = c.benchmark_group("extract");
    for pages in SIZES {
        group.throughput(Throughput::Elements(pages));
        group.bench_with_input(BenchmarkId::from_parameter(pages), &pages, |b, &pages| {
            let (mut pmap, space) = setup();
            fill(&mut pmap, space, pages);
            b.iter(|| {
                for page in range(pages).pages() {
                    black_box(pmap.extract(space, page.addr()));
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, enter_remove, protect, extract);
criterion_main!(benches);
