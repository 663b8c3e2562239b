//! Where a fuzzing task keeps its own memory, and which ranges its calls must leave alone.
//!
//! ```text
//! 0x4000_0000_0000  arena: most generated ranges fall here (16 MiB)
//! 0x6000_0000_0000  fixtures: guard | scratch | guard | read-only | hole | canary x8 | guard
//! 0x6100_0000_0000  reports: shared by init and the worker tasks (one page each)
//! ```
//!
//! A *contained* task (init, the workers) must survive its own calls: every call that
//! changes, aliases or overwrites a range of its map is kept off its critical ranges (the
//! program image, its stack, the fixtures and the reports). A range that the spec says must
//! fail (size 0 aside: overflow, page 0, past the top of the map) is always allowed: if the
//! kernel acted on it anyway, the checks would see it. A *wild* task (a kamikaze child whose
//! death is expected) only keeps off the shared reports.

use super::rng::Rng;
use core::sync::atomic::{AtomicU64, Ordering};
use mach::*;

pub const PAGE: u64 = 4096;
pub const USER_MIN: u64 = 0x1000;
pub const USER_MAX: u64 = 0x7fff_ffff_f000;

/// The arena.
pub const ARENA: u64 = 0x4000_0000_0000;
/// Pages in the arena.
pub const ARENA_PAGES: u64 = 4096;

/// The fixture block.
pub const FIXTURES: u64 = 0x6000_0000_0000;
/// The page before the scratch page: no access.
pub const GUARD_LOW: u64 = FIXTURES;
/// Read-write: in and out parameters of the calls.
pub const SCRATCH: u64 = FIXTURES + PAGE;
/// The page after the scratch page: no access (so that a pointer near the end straddles it).
pub const GUARD_HIGH: u64 = FIXTURES + 2 * PAGE;
/// Read-only (current and maximum), filled with a pattern.
pub const READ_ONLY: u64 = FIXTURES + 3 * PAGE;
/// Never mapped.
pub const HOLE: u64 = FIXTURES + 4 * PAGE;
/// The canary: known contents, only ever a read-only source of calls.
pub const CANARY: u64 = FIXTURES + 5 * PAGE;
/// Pages of the canary.
pub const CANARY_PAGES: u64 = 8;
/// Pages of the whole fixture block (the last one a guard).
pub const FIXTURE_PAGES: u64 = 14;
/// Bytes of the scratch page each lane of a task uses for its parameters (lane `l` from
/// `l * LANE_SCRATCH`): the slots of `gen` end below 0x300.
pub const LANE_SCRATCH: u64 = PAGE / super::stats::MAX_LANES;

/// The report area: page 0 is the plan, page `1 + slot` a task's (or a lane's) statistics.
pub const REPORTS: u64 = 0x6100_0000_0000;
/// Most report slots (init's own, then the workers'; then the same for each further lane,
/// `stats::lane_slot`).
pub const MAX_SLOTS: u64 = super::stats::TASK_SLOTS * super::stats::MAX_LANES;
/// Pages of the report area.
pub const REPORT_PAGES: u64 = 1 + MAX_SLOTS;

/// A half-open address range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    pub fn intersects(&self, start: u64, end: u64) -> bool {
        start < self.end && self.start < end
    }

    pub fn contains(&self, address: u64) -> bool {
        self.start <= address && address < self.end
    }
}

/// The page range the kernel's range rules make of `(address, size)`, or `None` when the
/// spec says the call fails or does nothing (size 0, overflow, outside the map).
pub fn pages_of(address: u64, size: u64) -> Option<Range> {
    if size == 0 {
        return None;
    }
    let end = address.checked_add(size)?.checked_next_multiple_of(PAGE)?;
    let start = address & !(PAGE - 1);
    (start >= USER_MIN && end <= USER_MAX).then_some(Range::new(start, end))
}

/// The ranges one fuzzing task must not change.
pub struct Layout {
    critical: [Range; 6],
    count: usize,
    /// Critical ranges the task writes (stacks, data and bss, scratch, reports): no call may
    /// take a copy of them either. A copy of part of an entry marks that part copy-on-write;
    /// the task's next write there leaves the pages it replaced in the entry's object for as
    /// long as the rest of the entry uses it: frames that stay taken, which would blur the
    /// frame checks (and are no leak).
    written: [Range; 6],
    /// The read-only, executable part of the program image (a read-only pointer target).
    pub text: Range,
    /// Where this lane's parameters start in the scratch page.
    pub scratch_offset: u64,
}

/// The stacks of a task's other lanes: the main thread's stack and the range covering every
/// lane thread's stack region (start and end of each; empty when the task has one lane).
/// Set before the lanes start, so that every lane's layout keeps them critical.
static LANE_STACKS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Records the stacks of a task's lanes (`main`: the main thread's stack region; `threads`:
/// the range covering the other lanes' stack regions) for the layouts made afterwards.
pub fn set_lane_stacks(main: Range, threads: Range) {
    for (slot, value) in LANE_STACKS.iter().zip([main.start, main.end, threads.start, threads.end]) {
        slot.store(value, Ordering::SeqCst);
    }
}

/// The lanes' stacks recorded by [`set_lane_stacks`].
fn lane_stacks() -> [Range; 2] {
    let v: [u64; 4] = core::array::from_fn(|i| LANE_STACKS[i].load(Ordering::SeqCst));
    [Range::new(v[0], v[1]), Range::new(v[2], v[3])]
}

unsafe extern "C" {
    static __ehdr_start: u8;
    static _end: u8;
}

/// The program image: from its ELF header to the end of its bss.
pub fn image() -> Range {
    // Only the addresses of the linker's symbols are taken.
    let (start, end) = (core::ptr::addr_of!(__ehdr_start) as u64, core::ptr::addr_of!(_end) as u64);
    Range::new(start & !(PAGE - 1), end.next_multiple_of(PAGE))
}

/// The region that contains `address` (`None` if it is unmapped).
pub fn region_at(address: u64) -> Option<(Range, VmRegionInfo)> {
    let (mut at, mut size, mut info) = (address, 0, VmRegionInfo::default());
    let kr = vm_region(mach_task_self(), &mut at, &mut size, &mut info);
    (kr == KERN_SUCCESS && at <= address).then_some((Range::new(at, at + size), info))
}

/// The current stack pointer.
pub fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack)) };
    sp
}

impl Layout {
    /// The layout of a contained task (or of lane `lane` of it): image, stack, fixtures and
    /// reports are critical, and so are the other lanes' stacks.
    pub fn contained(lane: u64) -> Self {
        let stack = region_at(stack_pointer()).expect("the stack is mapped").0;
        let text = region_at(text_address()).expect("the text is mapped").0;
        let fixtures = Range::new(FIXTURES, FIXTURES + FIXTURE_PAGES * PAGE);
        let reports = Range::new(REPORTS, REPORTS + REPORT_PAGES * PAGE);
        let [main, lanes] = lane_stacks();
        let critical = [image(), stack, fixtures, reports, main, lanes];
        let scratch = Range::new(SCRATCH, SCRATCH + PAGE);
        let data = Range::new(first_writable(image()), image().end);
        let written = [stack, data, scratch, reports, main, lanes];
        Self { critical, count: 6, written, text, scratch_offset: lane * LANE_SCRATCH }
    }

    /// The layout of a wild task: only the shared reports are critical. (Its parent may
    /// have removed its text or stack already: it then finds the image as its text.)
    pub fn wild() -> Self {
        let reports = Range::new(REPORTS, REPORTS + REPORT_PAGES * PAGE);
        let text = region_at(text_address()).map_or(image(), |(r, _)| r);
        let none = Range::default();
        Self { critical: [reports, none, none, none, none, none], count: 1, written: [none; 6], text, scratch_offset: 0 }
    }

    /// The critical ranges, in no particular order.
    pub fn critical(&self) -> &[Range] {
        &self.critical[..self.count]
    }

    /// Whether a call may change, alias or overwrite `(address, size)` of this task's map.
    pub fn allows(&self, address: u64, size: u64) -> bool {
        pages_of(address, size).is_none_or(|r| !self.critical().iter().any(|c| c.intersects(r.start, r.end)))
    }

    /// Whether a call may take a copy of `(address, size)` of this task's map.
    pub fn allows_source(&self, address: u64, size: u64) -> bool {
        pages_of(address, size).is_none_or(|r| !self.written.iter().any(|c| c.intersects(r.start, r.end)))
    }

    /// Whether a call may change `(address, size)` of another task's map: only the reports
    /// (which the other task may share) are off limits.
    pub fn allows_other(&self, address: u64, size: u64) -> bool {
        let reports = Range::new(REPORTS, REPORTS + REPORT_PAGES * PAGE);
        pages_of(address, size).is_none_or(|r| !reports.intersects(r.start, r.end))
    }
}

/// The start of the first writable region of `image` (its end if none).
fn first_writable(image: Range) -> u64 {
    let mut at = image.start;
    while at < image.end {
        match region_at(at) {
            Some((r, info)) if info.protection & VM_PROT_WRITE != 0 => return r.start.max(image.start),
            Some((r, _)) => at = r.end,
            None => at += PAGE,
        }
    }
    image.end
}

/// An address in the program's text.
fn text_address() -> u64 {
    text_address as *const () as u64
}

/// Where a pointer argument points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ptr {
    /// A slot of the scratch page, aligned: the call may use it.
    Slot,
    /// A slot of the scratch page, misaligned by 1 to 7 bytes: the call may use it.
    Unaligned,
    /// Runs off the end of the scratch page into the guard page.
    Straddle,
    /// Starts in the guard page below the scratch page.
    Below,
    /// The read-only fixture page.
    ReadOnly,
    /// The program's text (read-only).
    Text,
    /// A no-access guard page.
    Guard,
    /// The unmapped hole.
    Hole,
    /// Page 0.
    Null,
    /// The kernel half.
    Kernel,
    /// A non-canonical address.
    NonCanonical,
    /// Runs past the top of the map.
    MapTop,
}

impl Ptr {
    /// The hostile kinds, for picking.
    pub const HOSTILE: [Ptr; 10] =
        [Ptr::Straddle, Ptr::Below, Ptr::ReadOnly, Ptr::Text, Ptr::Guard, Ptr::Hole, Ptr::Null, Ptr::Kernel, Ptr::NonCanonical, Ptr::MapTop];

    /// Whether the kernel can read and write `len` bytes there.
    pub fn usable(self) -> bool {
        matches!(self, Ptr::Slot | Ptr::Unaligned)
    }

    /// Whether the kernel can read there (but perhaps not write).
    pub fn readable(self) -> bool {
        self.usable() || matches!(self, Ptr::ReadOnly | Ptr::Text)
    }

    /// An address of this kind for `len` bytes (2 to 256) at scratch offset `slot`.
    pub fn address(self, slot: u64, len: u64, rng: &mut Rng, text: Range) -> u64 {
        let len = len.max(2);
        match self {
            Ptr::Slot => SCRATCH + slot,
            Ptr::Unaligned => SCRATCH + slot + 1 + rng.below(7),
            Ptr::Straddle => GUARD_HIGH - 1 - rng.below(len - 1),
            Ptr::Below => SCRATCH - 1 - rng.below(len - 1),
            Ptr::ReadOnly => READ_ONLY + rng.below(PAGE - len),
            Ptr::Text => text.start + rng.below((text.end - text.start).saturating_sub(len).max(1)),
            Ptr::Guard => [GUARD_LOW, GUARD_HIGH][rng.below(2) as usize] + rng.below(PAGE - len),
            Ptr::Hole => HOLE + rng.below(PAGE - len),
            Ptr::Null => rng.below(PAGE),
            Ptr::Kernel => {
                let any = 0xffff_8000_0000_0000 | rng.next();
                rng.pick(&[0xffff_8000_0000_0000, 0xffff_ffff_8000_0000, u64::MAX - 7, any])
            }
            Ptr::NonCanonical => 0x0000_8000_0000_0000 + rng.below(0xffff_0000_0000_0000),
            Ptr::MapTop => USER_MAX - 1 - rng.below(len - 1),
        }
    }
}
