//! A contained task's checks of itself after each batch (canary, fixtures, a region walk),
//! and its reset: every handle released and every non-critical range deallocated.
//!
//! When several lanes (threads) fuzz one map at once, each checks what the others cannot
//! change (the canary, the fixtures, that every region it walks is well-formed) and resets
//! only what is its own; a region found while walking may then start below the address
//! asked about (another lane grew it meanwhile). The checks that need the whole task to be
//! still (no handle but the tracked ones, no region but the critical ones, nothing wired)
//! run once every lane has finished ([`Fuzzer::final_reset`]).

use super::fuzzer::{Fuzzer, Violation};
use super::layout::*;
use super::rng::mix;
use mach::*;

/// Most regions a walk may find before it counts as endless.
const MAX_REGIONS: u64 = 1 << 17;
/// Behaviour values a region may report.
const BEHAVIORS: [i32; 5] = [0, 1, 2, 5, 6];

/// Makes the canary fresh memory (one new object) and fills it for `seed`.
pub fn rebuild_canary(seed: u64) {
    let me = mach_task_self();
    let mut at = CANARY;
    assert_eq!(vm_deallocate(me, CANARY, CANARY_PAGES * PAGE), KERN_SUCCESS, "canary");
    assert_eq!(vm_allocate(me, &mut at, CANARY_PAGES * PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "canary");
    fill_canary(seed);
}

/// Fills the canary for `seed`.
pub fn fill_canary(seed: u64) {
    for i in 0..CANARY_PAGES * PAGE / 8 {
        // SAFETY: the canary pages are mapped read-write in every contained task.
        unsafe { ((CANARY + 8 * i) as *mut u64).write_volatile(mix(seed ^ i)) };
    }
}

/// The first canary word that does not hold its value for `seed`.
fn canary_damage(seed: u64) -> Option<u64> {
    // SAFETY: as in `fill_canary`; only read.
    (0..CANARY_PAGES * PAGE / 8).find(|&i| unsafe { ((CANARY + 8 * i) as *const u64).read_volatile() } != mix(seed ^ i))
}

impl Fuzzer {
    /// The per-batch checks: canary, fixtures, a walk of every region.
    pub fn check(&mut self) -> Result<(), Violation> {
        if let Some(word) = canary_damage(self.canary_seed) {
            return Err(self.violation(format_args!("canary word {word} at {:#x} changed", CANARY + 8 * word)));
        }
        self.check_fixtures()?;
        self.walk_regions(false).map(|_| ())
    }

    /// Each fixture page is mapped with its protections (the canary may be split into
    /// several regions: copies taken of it mark it copy-on-write, and writing it again then
    /// gives part of it objects of their own), and the hole is unmapped.
    fn check_fixtures(&mut self) -> Result<(), Violation> {
        let mut expected = [(0, 0, 0); 12];
        expected[..4].copy_from_slice(&[
            (GUARD_LOW, VM_PROT_NONE, VM_PROT_NONE),
            (SCRATCH, VM_PROT_DEFAULT, VM_PROT_ALL),
            (GUARD_HIGH, VM_PROT_NONE, VM_PROT_NONE),
            (READ_ONLY, VM_PROT_READ, VM_PROT_READ),
        ]);
        for (i, slot) in expected[4..].iter_mut().enumerate() {
            *slot = (CANARY + i as u64 * PAGE, VM_PROT_DEFAULT, VM_PROT_ALL);
        }
        for (at, protection, max) in expected {
            let found = region_at(at).map(|(_, info)| (info.protection, info.max_protection));
            if found != Some((protection, max)) {
                return Err(self.violation(format_args!("fixture page {at:#x} is {found:x?}")));
            }
        }
        if let Some((r, _)) = region_at(HOLE) {
            return Err(self.violation(format_args!("the hole is mapped: {r:x?}")));
        }
        Ok(())
    }

    /// Walks every region from address 0: in order, inside the map, with valid attributes,
    /// finite; with `only_critical`, each one must touch a critical range. Returns the count.
    pub fn walk_regions(&mut self, only_critical: bool) -> Result<u64, Violation> {
        let me = self.handles.me;
        let (mut address, mut count) = (0u64, 0u64);
        loop {
            let (mut at, mut size, mut info) = (address, 0, VmRegionInfo::default());
            match vm_region(me, &mut at, &mut size, &mut info) {
                KERN_NO_SPACE => break,
                KERN_SUCCESS => {}
                kr => return Err(self.violation(format_args!("vm_region at {address:#x}: {kr}"))),
            }
            let end = at.checked_add(size).unwrap_or(0);
            let ordered = at >= address || (self.threaded && end > address);
            let placed = ordered && at >= USER_MIN && size > 0 && (at | size) % PAGE == 0 && end <= USER_MAX && end > at;
            let valid = info.protection & !VM_PROT_ALL == 0
                && info.protection & !info.max_protection == 0
                && info.inheritance <= VM_INHERIT_NONE
                && info.shared <= 1
                && BEHAVIORS.contains(&info.behavior);
            let kept = !only_critical || self.layout.critical().iter().any(|c| c.intersects(at, end));
            count += 1;
            if !placed || !valid || !kept || count > MAX_REGIONS {
                let why = if !placed { "misplaced" } else if !valid { "invalid" } else if !kept { "left after a reset" } else { "one too many" };
                return Err(self.violation(format_args!("region {count} {why}: {at:#x}+{size:#x} after {address:#x}, {info:?}")));
            }
            address = end;
        }
        let mut task = TaskBasicInfo::default();
        if task_info(me, &mut task) != KERN_SUCCESS || (task.region_count < count && !self.threaded) {
            return Err(self.violation(format_args!("{count} regions walked, task_info says {}", task.region_count)));
        }
        Ok(count)
    }

    /// Releases everything this task holds and deallocates every non-critical range; checks
    /// that nothing is left (no untracked handle, no region, no wired page).
    pub fn reset(&mut self) -> Result<(), Violation> {
        self.collect_kamikazes(true)?;
        self.release_handles()?;
        self.clear_map()?;
        if self.threaded {
            self.stats.resets += 1;
            return Ok(());
        }
        self.walk_regions(true)?;
        let mut task = TaskBasicInfo::default();
        if task_info(self.handles.me, &mut task) != KERN_SUCCESS || task.wired_count != 0 {
            return Err(self.violation(format_args!("{} pages still wired after the reset", task.wired_count)));
        }
        self.stats.resets += 1;
        if self.plan.alone != 0 {
            self.check_frames()?;
        }
        Ok(())
    }

    /// The last reset of a task whose lanes have all finished (each after its own reset):
    /// the whole task is checked as a single-lane task's reset checks it, every name up to
    /// `max_name` (the highest any lane saw) included.
    pub fn final_reset(&mut self, max_name: u32) -> Result<(), Violation> {
        self.threaded = false;
        self.handles.max_name = self.handles.max_name.max(max_name);
        self.reset()
    }

    /// When this task fuzzes alone: after a reset the free frames are what they were after
    /// the first one. The canary is made afresh first, so that a reference some call left on
    /// it shows (its old pages then stay taken).
    fn check_frames(&mut self) -> Result<(), Violation> {
        rebuild_canary(self.canary_seed);
        let Some(expected) = self.frames_at_reset else {
            self.frames_at_reset = Some(free_frames());
            return Ok(());
        };
        let free = settled_free_frames(expected);
        if free != expected {
            return Err(self.violation(format_args!("{expected} frames free at the first reset, {free} now")));
        }
        Ok(())
    }

    fn release_handles(&mut self) -> Result<(), Violation> {
        let me = self.handles.me;
        for i in 0..6 {
            self.release_victim(i);
            if let Some(entry) = self.handles.entries.take(i) {
                mach_port_deallocate(me, entry);
            }
            if let Some((copy, _)) = self.handles.copies.take(i) {
                vm_copy_discard(copy);
            }
        }
        // Every other name up to the highest seen must be free: a live one is a handle some
        // call made without saying so. (Not while other lanes hold names of their own.)
        if self.threaded {
            return Ok(());
        }
        for name in 1..=self.handles.max_name + 8 {
            if name == me || Some(name) == self.handles.host {
                continue;
            }
            let was_task = task_terminate(name) == KERN_SUCCESS;
            if mach_port_deallocate(me, name) == KERN_SUCCESS {
                return Err(self.violation(format_args!("name {name} was live but untracked (a task: {was_task})")));
            }
        }
        Ok(())
    }

    /// Deallocates every range between the critical ones.
    fn clear_map(&mut self) -> Result<(), Violation> {
        let mut critical = [Range::default(); 6];
        let n = self.layout.critical().len();
        critical[..n].copy_from_slice(self.layout.critical());
        critical[..n].sort_unstable_by_key(|r| r.start);
        let mut at = USER_MIN;
        for r in critical[..n].iter().chain([Range::new(USER_MAX, USER_MAX)].iter()) {
            let start = r.start & !(PAGE - 1);
            if start > at {
                let kr = vm_deallocate(self.handles.me, at, start - at);
                if kr != KERN_SUCCESS {
                    return Err(self.violation(format_args!("vm_deallocate {at:#x}..{start:#x} in the reset: {kr}")));
                }
            }
            at = at.max(r.end.next_multiple_of(PAGE));
        }
        Ok(())
    }
}

/// The VM's counters now.
pub fn vm_stats() -> VmStatistics {
    let mut stats = VmStatistics::default();
    assert_eq!(vm_statistics(&mut stats), KERN_SUCCESS);
    stats
}

/// Free frames now.
pub fn free_frames() -> u64 {
    vm_stats().free_count
}

/// The end of a fuzz run: the free frames (once settled) and the wired pages are back to
/// what they were before it, and the calling task holds no handle but its own two.
pub fn assert_everything_back(free_before: u64, wired_before: u64) {
    assert_eq!(settled_free_frames(free_before), free_before, "free frames before and after");
    assert_eq!(vm_stats().wire_count, wired_before, "wired pages before and after");
    let me = mach_task_self();
    for name in 3..256 {
        assert_eq!(mach_port_deallocate(me, name), KERN_INVALID_ARGUMENT, "no handle left at name {name}");
    }
}

/// Free frames once they are `expected`, or after about two seconds of waiting for them. A
/// thread that was ended before it ran keeps its kernel stack's frames until the scheduler
/// next comes across it; spinning lets it.
pub fn settled_free_frames(expected: u64) -> u64 {
    let mut hz = 0;
    clock_tsc_hz(&mut hz);
    let deadline = rdtsc() + 2 * hz;
    loop {
        let free = free_frames();
        if free == expected || rdtsc() > deadline {
            return free;
        }
        let pause = rdtsc() + hz / 100;
        while rdtsc() < pause {
            core::hint::spin_loop();
        }
    }
}
