//! Property test: random enter / remove / protect / page_protect / unwire sequences over
//! several spaces, against a model of what each page should translate to. After every step
//! every `extract` agrees with the model and the invariants hold; at the end every table frame
//! is back with the allocator.

mod common;

use common::Fixture;
use proptest::prelude::*;
use std::collections::BTreeMap;
use machvm::pmap::{Pmap, SpaceId, Translation, Wiring};
use machvm::{Frame, Page, PageRange, Prot};

/// Pages chosen to share and to cross P1, P2, P3 and P4 table boundaries.
const PAGES: [u64; 16] = [
    0x1000, 0x2000, 0x1f_f000, 0x20_0000, 0x20_1000, 0x3fff_f000, 0x4000_0000, 0x4000_1000,
    0x7f_ffff_f000, 0x80_0000_0000, 0x80_0000_1000, 0x1234_5678_9000, 0x7fff_ffff_d000,
    0x7fff_ffff_e000, 0x7fff_ffff_f000, 0x5000,
];
const SPACES: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Enter { space: usize, page: usize, frame: usize, prot: u32, wired: bool },
    Remove { space: usize, from: usize, to: usize },
    Protect { space: usize, from: usize, to: usize, prot: u32 },
    PageProtect { frame: usize, prot: u32 },
    Unwire { space: usize, from: usize, to: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let space = 0..SPACES;
    let page = 0..PAGES.len();
    let frame = 0..8usize;
    prop_oneof![
        4 => (space.clone(), page.clone(), frame.clone(), 1..8u32, any::<bool>())
            .prop_map(|(space, page, frame, prot, wired)| Op::Enter { space, page, frame, prot, wired }),
        1 => (space.clone(), page.clone(), page.clone()).prop_map(|(space, a, b)| Op::Remove { space, from: a.min(b), to: a.max(b) }),
        2 => (space.clone(), page.clone(), page.clone(), 0..8u32)
            .prop_map(|(space, a, b, prot)| Op::Protect { space, from: a.min(b), to: a.max(b), prot }),
        1 => (frame, 0..8u32).prop_map(|(frame, prot)| Op::PageProtect { frame, prot }),
        1 => (space, page.clone(), page).prop_map(|(space, a, b)| Op::Unwire { space, from: a.min(b), to: a.max(b) }),
    ]
}

/// What x86 grants for `prot`: read always.
fn hardware(prot: Prot) -> Prot {
    Prot::READ | (prot & (Prot::WRITE | Prot::EXECUTE))
}

type Model = BTreeMap<(usize, u64), Translation>;

/// The pages between two chosen pages (by address, whatever their index order).
fn span(from: usize, to: usize) -> PageRange {
    let (lo, hi) = (PAGES[from].min(PAGES[to]), PAGES[from].max(PAGES[to]));
    PageRange::new(Page::containing(lo), Page::containing(hi + 0x1000)).unwrap()
}

fn lower(model: &mut Model, keys: Vec<(usize, u64)>, prot: Prot) {
    for key in keys {
        let t = model.get_mut(&key).unwrap();
        let left = t.prot & prot;
        if left.is_empty() {
            model.remove(&key);
        } else {
            t.prot = hardware(left);
        }
    }
}

fn in_span(model: &Model, space: usize, range: PageRange) -> Vec<(usize, u64)> {
    model.keys().filter(|(s, a)| *s == space && range.bytes().contains(a)).copied().collect()
}

fn step(f: &mut Fixture, spaces: &[SpaceId], model: &mut Model, op: &Op) {
    let frame = |i: usize, f: &Fixture| -> Frame { f.data[i] };
    let flush = match *op {
        Op::Enter { space, page, frame: fi, prot, wired } => {
            let prot = Prot::from_raw(prot).unwrap();
            let wiring = if wired { Wiring::Wired } else { Wiring::Pageable };
            let t = Translation { frame: frame(fi, f), prot: hardware(prot), wiring, cache: machvm::pmap::Cache::WriteBack };
            model.insert((space, PAGES[page]), t);
            f.pmap.enter(spaces[space], Page::containing(PAGES[page]), frame(fi, f), prot, wiring).unwrap()
        }
        Op::Remove { space, from, to } => {
            for key in in_span(model, space, span(from, to)) {
                model.remove(&key);
            }
            f.pmap.remove(spaces[space], span(from, to))
        }
        Op::Protect { space, from, to, prot } => {
            let prot = Prot::from_raw(prot).unwrap();
            lower(model, in_span(model, space, span(from, to)), prot);
            f.pmap.protect(spaces[space], span(from, to), prot)
        }
        Op::PageProtect { frame: fi, prot } => {
            let prot = Prot::from_raw(prot).unwrap();
            let target = frame(fi, f);
            let keys = model.iter().filter(|(_, t)| t.frame == target).map(|(k, _)| *k).collect();
            lower(model, keys, prot);
            f.pmap.page_protect(target, prot)
        }
        Op::Unwire { space, from, to } => {
            for key in in_span(model, space, span(from, to)) {
                model.get_mut(&key).unwrap().wiring = Wiring::Pageable;
            }
            f.pmap.unwire(spaces[space], span(from, to));
            machvm::pmap::TlbFlush::new()
        }
    };
    f.apply(flush);
}

fn agree(f: &Fixture, spaces: &[SpaceId], model: &Model) -> Result<(), TestCaseError> {
    for (s, &space) in spaces.iter().enumerate() {
        for &addr in &PAGES {
            prop_assert_eq!(f.pmap.extract(space, addr + 0x7ff), model.get(&(s, addr)).copied(), "space {} page {:#x}", s, addr);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pmap_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..60), pcid in any::<bool>()) {
        let mut f = Fixture::new(pcid);
        let start = f.free();
        let spaces: Vec<SpaceId> = (0..SPACES).map(|_| f.space()).collect();
        f.pmap.activate(spaces[0]);
        let mut model = Model::new();
        for op in &ops {
            step(&mut f, &spaces, &mut model, op);
            agree(&f, &spaces, &model)?;
        }
        f.pmap.deactivate();
        for space in spaces {
            let flush = f.pmap.destroy(space);
            f.apply(flush);
        }
        prop_assert_eq!(f.free(), start, "every table frame is back with the allocator");
        prop_assert_eq!(f.pmap.stats().mappings, 0);
    }
}
