//! Property test: random sequences of map operations, faults (byte reads and writes) and
//! forks, against a page-granular reference model. After every step each page of each map is
//! compared (mapped or not, protection, maximum, inheritance, wiring, contents read through
//! faults), then the invariants, the frame accounts and the map↔pmap consistency are checked.

mod common;

use common::model::{Model, Vpn, Where};
use common::{Fixture, MAX, MIN};
use proptest::prelude::*;
use machvm::{FaultOutcome, Inherit, MapId, NewMemory, Page, Placement, Prot, ProtectTarget, VmError, PAGE_SIZE};

/// Pages of the window the test works in.
const WINDOW: u64 = 16;
const MAX_MAPS: usize = 4;
/// Protections a page can have (x86 always grants read with write or execute, so the model
/// keeps read in every non-empty protection).
const PROTS: [Prot; 5] = [Prot::NONE, Prot::READ, Prot::DEFAULT, Prot::READ.union(Prot::EXECUTE), Prot::ALL];

#[derive(Clone, Debug)]
enum Op {
    Allocate { map: usize, page: u64, len: u64, prot: usize, inherit: u32 },
    Deallocate { map: usize, page: u64, len: u64 },
    Protect { map: usize, page: u64, len: u64, maximum: bool, prot: usize },
    Inherit { map: usize, page: u64, len: u64, inherit: u32 },
    Wire { map: usize, page: u64, len: u64, write: bool },
    Unwire { map: usize, page: u64, len: u64 },
    Write { map: usize, page: u64, byte: u8 },
    Read { map: usize, page: u64 },
    Fork { map: usize },
    Exit { map: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let map = 0..MAX_MAPS;
    let page = 0..WINDOW;
    let len = 1..5u64;
    prop_oneof![
        3 => (map.clone(), page.clone(), len.clone(), 0..PROTS.len(), 0..3u32).prop_map(|(map, page, len, prot, inherit)| Op::Allocate { map, page, len, prot, inherit }),
        1 => (map.clone(), page.clone(), len.clone()).prop_map(|(map, page, len)| Op::Deallocate { map, page, len }),
        2 => (map.clone(), page.clone(), len.clone(), any::<bool>(), 0..PROTS.len()).prop_map(|(map, page, len, maximum, prot)| Op::Protect { map, page, len, maximum, prot }),
        1 => (map.clone(), page.clone(), len.clone(), 0..3u32).prop_map(|(map, page, len, inherit)| Op::Inherit { map, page, len, inherit }),
        1 => (map.clone(), page.clone(), len.clone(), any::<bool>()).prop_map(|(map, page, len, write)| Op::Wire { map, page, len, write }),
        1 => (map.clone(), page.clone(), len).prop_map(|(map, page, len)| Op::Unwire { map, page, len }),
        5 => (map.clone(), page.clone(), any::<u8>()).prop_map(|(map, page, byte)| Op::Write { map, page, byte }),
        2 => (map.clone(), page).prop_map(|(map, page)| Op::Read { map, page }),
        1 => map.clone().prop_map(|map| Op::Fork { map }),
        1 => map.prop_map(|map| Op::Exit { map }),
    ]
}

fn addr(page: u64) -> u64 {
    MIN + page * PAGE_SIZE
}

/// The pages `[page, page + len)` clipped to the window, as VM pages and as model page numbers.
fn range(page: u64, len: u64) -> (Page, Page, Vpn, Vpn) {
    let end = (page + len).min(WINDOW);
    let (start, end) = (Page::containing(addr(page)), Page::containing(addr(end)));
    (start, end, start.addr() / PAGE_SIZE, end.addr() / PAGE_SIZE)
}

struct Run {
    f: Fixture,
    ids: Vec<MapId>,
    model: Model,
}

impl Run {
    fn new() -> Self {
        let mut f = Fixture::new(4096);
        let first = f.map();
        Self { f, ids: vec![first], model: Model::new(MIN, MAX) }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let live = self.ids.len();
        let vm = &mut self.f.vm;
        match *op {
            Op::Allocate { map, page, len, prot, inherit } => {
                let m = map % live;
                let memory = NewMemory { protection: PROTS[prot], max_protection: Prot::ALL, inheritance: Inherit::from_raw(inherit).unwrap() };
                let (start, end, vs, ve) = range(page, len);
                let pages = (end.addr() - start.addr()) / PAGE_SIZE;
                let got = vm.allocate(self.ids[m], Placement::Fixed(start), pages, memory).map(|p| p.addr() / PAGE_SIZE);
                prop_assert_eq!(got, self.model.allocate(m, Where::Fixed(vs * PAGE_SIZE), ve - vs, memory));
            }
            Op::Deallocate { map, page, len } => {
                let m = map % live;
                let (start, end, vs, ve) = range(page, len);
                prop_assert_eq!(vm.deallocate(self.ids[m], start, end), self.model.deallocate(m, vs, ve));
            }
            Op::Protect { map, page, len, maximum, prot } => {
                let m = map % live;
                let (start, end, vs, ve) = range(page, len);
                let target = if maximum { ProtectTarget::Maximum } else { ProtectTarget::Current };
                let got = vm.protect(self.ids[m], start, end, target, PROTS[prot]);
                prop_assert_eq!(got, self.model.protect(m, vs, ve, maximum, PROTS[prot]));
            }
            Op::Inherit { map, page, len, inherit } => {
                let m = map % live;
                let (start, end, vs, ve) = range(page, len);
                let inherit = Inherit::from_raw(inherit).unwrap();
                prop_assert_eq!(vm.inherit(self.ids[m], start, end, inherit), self.model.inherit(m, vs, ve, inherit));
            }
            Op::Wire { map, page, len, write } => {
                let m = map % live;
                let (start, end, vs, ve) = range(page, len);
                let access = if write { Prot::DEFAULT } else { Prot::READ };
                prop_assert_eq!(vm.wire(self.ids[m], start, end, access), self.model.wire(m, vs, ve, access));
            }
            Op::Unwire { map, page, len } => {
                let m = map % live;
                let (start, end, vs, ve) = range(page, len);
                prop_assert_eq!(vm.unwire(self.ids[m], start, end), self.model.unwire(m, vs, ve));
            }
            Op::Write { map, page, byte } => {
                let m = map % live;
                let got = self.f.write(self.ids[m], addr(page), byte);
                prop_assert_eq!(got, self.model.write(m, addr(page), byte));
            }
            Op::Read { map, page } => {
                let m = map % live;
                prop_assert_eq!(self.f.read(self.ids[m], addr(page)), self.model.read(m, addr(page)));
            }
            Op::Fork { map } => {
                if live < MAX_MAPS {
                    let m = map % live;
                    self.ids.push(vm.fork(self.ids[m]).unwrap());
                    self.model.fork(m);
                }
            }
            Op::Exit { map } => {
                if live > 1 {
                    let m = map % live;
                    vm.destroy_map(self.ids.remove(m)).expect("a live map");
                    self.model.exit(m);
                }
            }
        }
        Ok(())
    }

    /// Compares every page of every map with the model, reading contents through faults
    /// (`Contents::Faulted`, which makes pages resident) or through the objects without
    /// touching anything (`Contents::Peeked`, which keeps lazy states lazy), then checks the
    /// invariants, the translations and the frame accounts.
    fn compare(&mut self, contents: Contents) -> Result<(), TestCaseError> {
        for m in 0..self.ids.len() {
            let id = self.ids[m];
            for page in 0..WINDOW {
                let expected = self.model.page(m, addr(page) / PAGE_SIZE).cloned();
                let region = self.f.vm.region(id, addr(page)).ok().filter(|r| r.start <= addr(page));
                prop_assert_eq!(region.is_some(), expected.is_some(), "map {} page {}", m, page);
                if let (Some(r), Some(s)) = (region, expected) {
                    prop_assert_eq!((r.protection, r.max_protection, r.inheritance, r.user_wired_count), (s.prot, s.max, s.inherit, s.wired), "map {} page {}", m, page);
                }
                let got = match contents {
                    Contents::Faulted => self.f.read(id, addr(page)),
                    Contents::Peeked => self.peek(id, page),
                };
                prop_assert_eq!(got, self.model.read(m, addr(page)), "contents of map {} page {}", m, page);
            }
        }
        self.f.vm.check_invariants();
        for &id in &self.ids {
            self.f.vm.check_translations(id);
        }
        prop_assert_eq!(self.f.vm.frame_accounts().total(), self.f.baseline, "frame accounts");
        Ok(())
    }

    /// The byte a read would see, without faulting (an unmapped or unreadable page reports
    /// the fault a read would take).
    fn peek(&self, id: MapId, page: u64) -> Result<u8, FaultOutcome> {
        let mut byte = [0u8];
        match self.f.vm.peek_bytes(id, addr(page), &mut byte) {
            Ok(()) => Ok(byte[0]),
            Err(VmError::ProtectionFailure) => Err(FaultOutcome::ProtectionFailure),
            Err(_) => Err(FaultOutcome::InvalidAddress),
        }
    }
}

#[derive(Clone, Copy)]
enum Contents {
    Faulted,
    Peeked,
}

fn run_sequence(ops: &[Op], contents: Contents) -> Result<(), TestCaseError> {
    let mut run = Run::new();
    for op in ops {
        run.step(op)?;
        run.compare(contents)?;
    }
    run.compare(Contents::Faulted)?;
    for id in run.ids.drain(..) {
        run.f.vm.destroy_map(id).expect("a live map");
    }
    prop_assert_eq!(run.f.vm.object_count(), 0);
    prop_assert_eq!(run.f.free_with_zero_page(), run.f.baseline, "every frame came back");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Contents read through faults after every step.
    #[test]
    fn vm_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..50)) {
        run_sequence(&ops, Contents::Faulted)?;
    }

    /// Contents read without faulting after every step, so that pages stay untouched, zero
    /// pages and copy-on-write sharing stay in place between operations.
    #[test]
    fn vm_agrees_with_the_model_lazily(ops in proptest::collection::vec(op(), 1..50)) {
        run_sequence(&ops, Contents::Peeked)?;
    }
}
