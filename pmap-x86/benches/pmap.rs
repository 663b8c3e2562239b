//! Host benchmarks of the x86_64 pmap on simulated memory: enter, remove, protect and extract
//! (translation), per page, at 1, 512 and 262 144 pages. The space is active, so removals and
//! protections pay for their (simulated) invalidations.
//!
//! Run with `cargo bench -p pmap-x86`.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use machvm_pmap_x86::sim::{Arena, SimFrames, SimMmu};
use machvm_pmap_x86::X86Pmap;
use std::hint::black_box;
use machvm::pmap::{Pmap, SpaceId, Wiring};
use machvm::{Frame, Page, PageRange, Prot};

const SIZES: [u64; 3] = [1, 512, 262_144];
const BASE: u64 = 0x10_0000_0000;

type SimPmap = X86Pmap<SimFrames, SimMmu>;

fn setup() -> (SimPmap, SpaceId) {
    // Tables for 262 144 pages take about 520 frames; data frames are not touched by the pmap,
    // so they are named, not allocated.
    let arena = Arena::new(4096);
    let frames = SimFrames(arena.clone());
    let kernel_root = machvm::pmap::FrameAllocator::allocate_frame(&frames).unwrap();
    let mut pmap = X86Pmap::new(arena.window(), frames, SimMmu::default(), kernel_root, 1 << 20);
    let space = pmap.create().unwrap();
    pmap.activate(space);
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

/// Benchmarks `routine` on a fresh pmap prepared by `prepare`, per page, at every size.
fn per_page(
    c: &mut Criterion,
    name: &str,
    prepare: fn(&mut SimPmap, SpaceId, u64),
    routine: fn(&mut SimPmap, SpaceId, u64),
) {
    let mut group = c.benchmark_group(name);
    for pages in SIZES {
        group.throughput(Throughput::Elements(pages));
        group.bench_with_input(BenchmarkId::from_parameter(pages), &pages, |b, &pages| {
            b.iter_batched_ref(
                || {
                    let (mut pmap, space) = setup();
                    prepare(&mut pmap, space, pages);
                    (pmap, space)
                },
                |(pmap, space)| routine(pmap, *space, pages),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn enter(c: &mut Criterion) {
    per_page(c, "enter", |_, _, _| {}, fill);
}

fn remove(c: &mut Criterion) {
    per_page(c, "remove", fill, |pmap, space, pages| {
        let flush = pmap.remove(space, range(pages));
        pmap.flush(flush);
    });
}

fn protect(c: &mut Criterion) {
    // Every page starts writable, so every page is really lowered.
    per_page(c, "protect", fill, |pmap, space, pages| {
        let flush = pmap.protect(space, range(pages), Prot::READ);
        pmap.flush(flush);
    });
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

criterion_group!(benches, enter, remove, protect, extract);
criterion_main!(benches);
