//! One operation on the VM and on the model, and the comparison of their answers.

use super::input::{behavior, inherit, pattern, prot, Op, Place, Range};
use super::{Run, MAX_COPIES, MAX_MAPS, MAX_NAMED};
use crate::common::model::{self, Model, Where};
use crate::common::{MAX, MIN};
use machvm::api::Sanitized;
use machvm::{Access, MapMode, Page, Placement, Prot, ProtectTarget, RemapMode, SourceDisposal, VmError, PAGE_SIZE};

const PAGE: u64 = PAGE_SIZE;
/// Longest byte copy through a kernel buffer (`read_bytes`, `write_bytes`).
const BYTES: u64 = 3 * PAGE;

/// Where new memory goes, for the VM and for the model.
enum Placed {
    /// The model knows the exact answer.
    Exact(Placement, Where),
    /// A mask of no particular shape: the model checks that the VM's answer is allowed.
    Loose(Placement, u64),
}

impl Placed {
    fn new(place: Place) -> Self {
        match place {
            Place::Aligned { bits } => {
                let mask = Place::mask(bits);
                Self::Exact(Placement::Anywhere { mask }, Where::Lowest { mask })
            }
            Place::RawMask(mask) => Self::Loose(Placement::Anywhere { mask }, mask),
            Place::Fixed(addr) => {
                let page = Page::containing(addr.resolve());
                Self::Exact(Placement::Fixed(page), Where::Fixed(page.addr()))
            }
        }
    }

    fn vm(&self) -> Placement {
        match *self {
            Self::Exact(placement, _) | Self::Loose(placement, _) => placement,
        }
    }
}

impl Run {
    /// Whether an operation placing `pages` pages in map `m` must be skipped (too big for the
    /// model's budgets, and it would succeed).
    fn skip_placement(&self, m: usize, placed: &Placed, pages: u64) -> bool {
        let succeeds = match placed {
            Placed::Exact(_, at) => self.model.place(m, *at, pages).is_ok(),
            Placed::Loose(..) => pages > 0 && pages.checked_mul(PAGE).is_some(),
        };
        self.too_big(pages, succeeds)
    }

    /// The model's placement given the VM's answer (`Ok(first page's address)` or an error).
    fn model_where(&self, m: usize, placed: &Placed, pages: u64, got: Result<u64, VmError>) -> Where {
        match (placed, got) {
            (Placed::Exact(_, at), _) => *at,
            (Placed::Loose(_, mask), Ok(addr)) => {
                assert!(self.model.placement_allowed(m, addr, *mask, pages), "step {}: {pages} pages placed at {addr:#x} with mask {mask:#x}", self.step);
                Where::At(addr)
            }
            (Placed::Loose(..), Err(VmError::NoSpace)) => Where::Unplaceable,
            // Another error may come after the placement (remap's read check): the place does
            // not change it.
            (Placed::Loose(..), Err(_)) => Where::Lowest { mask: 0 },
        }
    }

    /// A range operation's pages, or `None` if there are none (an empty range, or one refused
    /// at the boundary by `sanitize`, which must agree with the model's range rule).
    fn pages(&self, range: Range) -> Option<(Page, Page)> {
        match range {
            Range::Pages { start, count } => {
                let start = Page::containing(start.resolve());
                let end = start.checked_add(count.resolve()).unwrap_or(Page::containing(u64::MAX));
                (end > start).then_some((start, end))
            }
            Range::Bytes { addr, size } => {
                let (addr, size) = (addr.resolve(), size.resolve());
                match (machvm::api::sanitize(addr, size, MIN, MAX), model::sanitize(addr, size, MIN, MAX)) {
                    (Ok(Sanitized::Empty), Ok(None)) | (Err(_), Err(())) => None,
                    (Ok(Sanitized::Range(r)), Ok(Some(expected))) => {
                        assert_eq!((r.start().addr() / PAGE, r.end().addr() / PAGE), expected, "sanitize({addr:#x}, {size:#x})");
                        Some((r.start(), r.end()))
                    }
                    (got, expected) => panic!("sanitize({addr:#x}, {size:#x}): {got:?}, model {expected:?}"),
                }
            }
        }
    }
}

fn vpn(page: Page) -> u64 {
    page.addr() / PAGE
}

/// Applies `op` to both sides and compares their answers.
pub fn apply(run: &mut Run, op: &Op) {
    match *op {
        Op::Allocate { map, place, pages, memory } => {
            let (m, placed, pages, memory) = (run.map(map), Placed::new(place), pages.resolve(), memory.resolve());
            if run.skip_placement(m, &placed, pages) {
                return;
            }
            let got = run.f.vm.allocate(run.ids[m], placed.vm(), pages, memory).map(vpn);
            let at = run.model_where(m, &placed, pages, got.map(|v| v * PAGE));
            assert_eq!(got, run.model.allocate(m, at, pages, memory), "step {}: {op:?}", run.step);
        }
        Op::Deallocate { map, range } => {
            let m = run.map(map);
            if let Some((s, e)) = run.pages(range) {
                assert_eq!(run.f.vm.deallocate(run.ids[m], s, e), run.model.deallocate(m, vpn(s), vpn(e)), "step {}: {op:?}", run.step);
            }
        }
        Op::Protect { map, range, maximum, prot: p } => {
            let m = run.map(map);
            if let Some((s, e)) = run.pages(range) {
                let target = if maximum { ProtectTarget::Maximum } else { ProtectTarget::Current };
                let got = run.f.vm.protect(run.ids[m], s, e, target, prot(p));
                assert_eq!(got, run.model.protect(m, vpn(s), vpn(e), maximum, prot(p)), "step {}: {op:?}", run.step);
            }
        }
        Op::Inherit { map, range, inherit: i } => {
            let m = run.map(map);
            if let Some((s, e)) = run.pages(range) {
                let got = run.f.vm.inherit(run.ids[m], s, e, inherit(i));
                assert_eq!(got, run.model.inherit(m, vpn(s), vpn(e), inherit(i)), "step {}: {op:?}", run.step);
            }
        }
        Op::Behavior { map, range, behavior: b } => {
            let m = run.map(map);
            if let Some((s, e)) = run.pages(range) {
                let got = run.f.vm.set_behavior(run.ids[m], s, e, behavior(b));
                assert_eq!(got, run.model.behavior(m, vpn(s), vpn(e), behavior(b)), "step {}: {op:?}", run.step);
            }
        }
        Op::Wire { map, range, access } => wire(run, map, range, prot(access)),
        Op::Unwire { map, range } => wire(run, map, range, Prot::NONE),
        Op::Populate { map, range } => {
            let m = run.map(map);
            if let Some((s, e)) = run.pages(range) {
                assert_eq!(run.f.vm.populate(run.ids[m], s, e), run.model.populate(m, vpn(s), vpn(e)), "step {}: {op:?}", run.step);
            }
        }
        Op::Write { map, at, byte } => run.user_write(run.map(map), at.resolve(), byte),
        Op::Read { map, at } => run.user_read(run.map(map), at.resolve()),
        Op::Execute { map, at } => {
            let (m, addr) = (run.map(map), at.resolve());
            let got = run.f.vm.fault(run.ids[m], addr, Access::Execute);
            assert_eq!(got, run.model.fault(m, addr, Prot::EXECUTE), "step {}: {op:?}", run.step);
        }
        Op::WriteBytes { map, at, len, seed } => {
            let (m, addr, data) = (run.map(map), at.resolve(), pattern(len.resolve_within(BYTES), seed));
            let got = run.f.vm.write_bytes(run.ids[m], addr, &data);
            assert_eq!(got, run.model.write_bytes(m, addr, &data), "step {}: {op:?}", run.step);
        }
        Op::ReadBytes { map, at, len, peek } => {
            let (m, addr) = (run.map(map), at.resolve());
            let mut out = vec![0; len.resolve_within(BYTES) as usize];
            let got = match peek {
                true => run.f.vm.peek_bytes(run.ids[m], addr, &mut out),
                false => run.f.vm.read_bytes(run.ids[m], addr, &mut out),
            };
            assert_eq!(got.map(|()| out), run.model.read_bytes(m, addr, len.resolve_within(BYTES)), "step {}: {op:?}", run.step);
        }
        Op::Region { map, at } => region(run, run.map(map), at.resolve()),
        Op::Fork { map } => {
            if run.ids.len() < MAX_MAPS {
                let m = run.map(map);
                let child = run.f.vm.fork(run.ids[m]).unwrap_or_else(|e| panic!("step {}: fork: {e:?}", run.step));
                run.ids.push(child);
                run.model.fork(m);
            }
        }
        Op::Exit { map } => {
            if run.ids.len() > 1 {
                let m = run.map(map);
                run.f.vm.destroy_map(run.ids.remove(m)).expect("a live map");
                run.model.exit(m);
            }
        }
        Op::Copyin { .. } | Op::Copyout { .. } | Op::CopyOverwrite { .. } | Op::CopyDiscard { .. } => copies(run, op),
        Op::Remap { .. } => remap(run, op),
        _ => named(run, op),
    }
}

/// `vm_wire` as the system call does it: an empty access unwires.
fn wire(run: &mut Run, map: u8, range: Range, access: Prot) {
    let m = run.map(map);
    let Some((s, e)) = run.pages(range) else { return };
    let (got, expected) = if access.is_empty() {
        (run.f.vm.unwire(run.ids[m], s, e), run.model.unwire(m, vpn(s), vpn(e)))
    } else {
        (run.f.vm.wire(run.ids[m], s, e, access), run.model.wire(m, vpn(s), vpn(e), access))
    };
    assert_eq!(got, expected, "step {}: wire {access:?} {s:?}..{e:?} of map {m}", run.step);
}

/// `vm_region` at `addr`: the entry holding it, or the first one above.
fn region(run: &Run, m: usize, addr: u64) {
    let got = run.f.vm.region(run.ids[m], addr);
    let at = addr / PAGE;
    match run.model.page(m, at) {
        Some(s) => {
            let r = got.unwrap_or_else(|e| panic!("step {}: region at mapped {addr:#x}: {e:?}", run.step));
            assert!(r.start <= addr && addr < r.end, "step {}: region {r:?} for {addr:#x}", run.step);
            let attributes = (r.protection, r.max_protection, r.inheritance, r.behavior, r.user_wired_count);
            assert_eq!(attributes, (s.prot, s.max, s.inherit, s.behavior, s.wired), "step {}: region at {addr:#x}", run.step);
        }
        None => {
            let next = run.model.maps[m].range(at + 1..).next().map(|(&v, _)| v * PAGE);
            assert_eq!(got.map(|r| r.start), next.ok_or(VmError::NoSpace), "step {}: region above {addr:#x}", run.step);
        }
    }
}

/// Copy objects: copyin, copyout, copy_overwrite, copy_discard.
fn copies(run: &mut Run, op: &Op) {
    match *op {
        Op::Copyin { map, at, len, destroy } => {
            if run.copies.len() >= MAX_COPIES {
                return;
            }
            let (m, addr, len) = (run.map(map), at.resolve(), len.resolve());
            let disposal = if destroy { SourceDisposal::Destroy } else { SourceDisposal::Keep };
            let got = run.f.vm.copyin(run.ids[m], addr, len, disposal);
            let expected = run.model.copyin(m, addr, len, destroy);
            assert_eq!(got.err(), expected.as_ref().err().copied(), "step {}: {op:?}", run.step);
            if let (Ok(id), Ok(copy)) = (got, expected) {
                run.copies.push((id, copy));
            }
        }
        Op::Copyout { map, copy, place } => {
            let (m, placed) = (run.map(map), Placed::new(place));
            let Some(index) = run.copy_index(copy) else {
                assert_eq!(run.f.vm.copyout(run.ids[m], run.dead_copy, placed.vm()), Err(VmError::InvalidArgument), "step {}: {op:?}", run.step);
                return;
            };
            let (id, model_copy) = run.copies[index].clone();
            let pages = Model::copy_pages(&model_copy);
            if model_copy.size > 0 && run.skip_placement(m, &placed, pages) {
                return;
            }
            let got = run.f.vm.copyout(run.ids[m], id, placed.vm());
            let at = if model_copy.size == 0 { Where::Unplaceable } else { run.model_where(m, &placed, pages, got.map(|a| a - a % PAGE)) };
            assert_eq!(got, run.model.copyout(m, &model_copy, at), "step {}: {op:?}", run.step);
            if got.is_ok() {
                run.copies.remove(index);
            }
        }
        Op::CopyOverwrite { map, at, copy } => {
            let (m, addr) = (run.map(map), at.resolve());
            let Some(index) = run.copy_index(copy) else {
                assert_eq!(run.f.vm.copy_overwrite(run.ids[m], addr, run.dead_copy), Err(VmError::InvalidArgument), "step {}: {op:?}", run.step);
                return;
            };
            let (id, model_copy) = run.copies[index].clone();
            let got = run.f.vm.copy_overwrite(run.ids[m], addr, id);
            assert_eq!(got, run.model.copy_overwrite(m, addr, &model_copy), "step {}: {op:?}", run.step);
            if got.is_ok() {
                run.copies.remove(index);
            }
        }
        Op::CopyDiscard { copy } => match run.copy_index(copy) {
            Some(index) => run.f.vm.copy_discard(run.copies.remove(index).0),
            None => run.f.vm.copy_discard(run.dead_copy),
        },
        _ => unreachable!("a copy operation"),
    }
}

/// Named entries: new, frozen, made from a map, sub-windows, release, map_named.
fn named(run: &mut Run, op: &Op) {
    let full = run.named.len() >= MAX_NAMED;
    match *op {
        Op::NewNamed { pages, prot: p } if !full => {
            let pages = u64::from(pages % 49);
            let id = run.f.vm.new_named_entry(pages, prot(p));
            let named = run.model.new_named(pages, prot(p));
            run.named.push((id, named));
        }
        Op::NewFrozen { pages, at, len, seed, prot: p } if !full => {
            let pages = u64::from(pages % 17);
            let (at, data) = (u64::from(at) % ((pages + 2) * PAGE), pattern(u64::from(len) % (2 * PAGE + 1), seed));
            let got = run.f.vm.new_frozen_entry(pages, at, &data, prot(p));
            let expected = run.model.new_frozen(pages, at, &data, prot(p));
            assert_eq!(got.err(), expected.as_ref().err().copied(), "step {}: {op:?}", run.step);
            if let (Ok(id), Ok(named)) = (got, expected) {
                run.named.push((id, named));
            }
        }
        Op::MakeNamed { map, range, prot: p } if !full => {
            let m = run.map(map);
            let Some((s, e)) = run.pages(range) else { return };
            let entry_end = run.f.vm.map(run.ids[m]).lookup(s.addr()).map(|entry| entry.end / PAGE);
            let got = run.f.vm.make_named_entry(run.ids[m], s, e, prot(p));
            let expected = run.model.make_named(m, vpn(s), vpn(e), prot(p), entry_end);
            assert_eq!(got.err(), expected.as_ref().err().copied(), "step {}: {op:?}", run.step);
            if let (Ok(id), Ok(named)) = (got, expected) {
                run.named.push((id, named));
            }
        }
        Op::SubNamed { named, offset, pages, prot: p } if !full => {
            let parent = run.named_index(named);
            let (id, model_parent) = parent.map_or((run.dead_named, None), |i| (run.named[i].0, Some(&run.named[i].1)));
            let got = run.f.vm.sub_named_entry(id, offset.resolve(), pages.resolve(), prot(p));
            let expected = Model::sub_named(model_parent, offset.resolve(), pages.resolve(), prot(p));
            assert_eq!(got.err(), expected.as_ref().err().copied(), "step {}: {op:?}", run.step);
            if let (Ok(id), Ok(named)) = (got, expected) {
                run.named.push((id, named));
            }
        }
        Op::ReleaseNamed { named } => match run.named_index(named) {
            Some(index) => run.f.vm.release_named(run.named.remove(index).0),
            None => run.f.vm.release_named(run.dead_named),
        },
        Op::MapNamed { map, place, pages, named, offset, copy, memory } => {
            let (m, placed, pages, memory) = (run.map(map), Placed::new(place), pages.resolve(), memory.resolve());
            if run.skip_placement(m, &placed, pages) {
                return;
            }
            let index = run.named_index(named);
            let id = index.map_or(run.dead_named, |i| run.named[i].0);
            let mode = if copy { MapMode::Copy } else { MapMode::Shared };
            let got = run.f.vm.map_named(run.ids[m], placed.vm(), pages, id, offset.resolve(), mode, memory).map(vpn);
            let at = run.model_where(m, &placed, pages, got.map(|v| v * PAGE));
            let model_named = index.map(|i| run.named[i].1.clone());
            let expected = run.model.map_named(m, at, pages, model_named.as_ref(), offset.resolve(), copy, memory);
            assert_eq!(got, expected, "step {}: {op:?}", run.step);
        }
        _ => {} // a full table of named entries
    }
}

/// `remap`, shared or as a copy.
fn remap(run: &mut Run, op: &Op) {
    let Op::Remap { target, place, source, range, copy, inherit: i } = *op else { unreachable!("remap") };
    let (t, src, placed) = (run.map(target), run.map(source), Placed::new(place));
    let Some((s, e)) = run.pages(range) else { return };
    let pages = vpn(e) - vpn(s);
    if run.model.covers(src, vpn(s), vpn(e)) && run.skip_placement(t, &placed, pages) {
        return;
    }
    let mode = if copy { RemapMode::Copy } else { RemapMode::Shared };
    let got = run.f.vm.remap(run.ids[t], placed.vm(), run.ids[src], s, e, mode, inherit(i));
    let got = got.map(|r| (vpn(r.start), r.protection, r.max_protection));
    let at = run.model_where(t, &placed, pages, got.map(|r| r.0 * PAGE));
    let expected = run.model.remap(t, at, src, vpn(s), vpn(e), copy, inherit(i));
    assert_eq!(got, expected, "step {}: {op:?}", run.step);
}
