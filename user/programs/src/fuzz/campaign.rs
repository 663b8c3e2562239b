//! A campaign: init prepares the fixtures and the shared reports, fuzzes itself (it alone
//! holds the host handle, so only it wires), then starts worker tasks that fuzz at once with
//! their own seeds and kamikaze children, waits for them and gathers their statistics.

use super::check::rebuild_canary;
use super::fuzzer::{Fuzzer, Mode, Violation};
use super::layout::*;
use super::stats::{self, Plan, Stats};
use mach::*;

/// Makes the fixtures and the report area in init (once; later calls find them).
pub fn prepare() {
    let me = mach_task_self();
    if region_at(SCRATCH).is_none() {
        let mut at = FIXTURES;
        assert_eq!(vm_allocate(me, &mut at, FIXTURE_PAGES * PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "fixtures");
        for guard in [GUARD_LOW, GUARD_HIGH, FIXTURES + (FIXTURE_PAGES - 1) * PAGE] {
            assert_eq!(vm_protect(me, guard, PAGE, TRUE, VM_PROT_NONE), KERN_SUCCESS);
        }
        for i in 0..PAGE / 8 {
            // SAFETY: the read-only page is still writable here, and nothing else uses it.
            unsafe { ((READ_ONLY + 8 * i) as *mut u64).write_volatile(0x5a5a_0000_0000_1000 + i) };
        }
        assert_eq!(vm_protect(me, READ_ONLY, PAGE, TRUE, VM_PROT_READ), KERN_SUCCESS);
        assert_eq!(vm_deallocate(me, HOLE, PAGE), KERN_SUCCESS);
        let mut reports = REPORTS;
        assert_eq!(vm_allocate(me, &mut reports, REPORT_PAGES * PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "reports");
        assert_eq!(vm_inherit(me, REPORTS, REPORT_PAGES * PAGE, VM_INHERIT_SHARE), KERN_SUCCESS);
    }
    pretouch();
}

/// Makes every page this task will touch resident now (its image, stack, scratch and
/// reports), so that it takes no fault later, when memory may have run out.
pub fn pretouch() {
    let image = image();
    for page in (image.start..image.end).step_by(PAGE as usize) {
        if let Some((_, info)) = region_at(page) {
            // SAFETY: the page is mapped; writable pages get their own byte back (taking a
            // private copy now), others are only read.
            unsafe {
                let byte = (page as *const u8).read_volatile();
                if info.protection & VM_PROT_WRITE != 0 {
                    (page as *mut u8).write_volatile(byte);
                }
            }
        }
    }
    let (stack, _) = region_at(stack_pointer()).expect("the stack is mapped");
    let below = stack_pointer().saturating_sub(PAGE) & !(PAGE - 1);
    for page in (stack.start.max(below.saturating_sub(60 * PAGE))..below).step_by(PAGE as usize) {
        // SAFETY: a page of this task's stack well below the stack pointer: unused.
        unsafe { (page as *mut u8).write_volatile(0) };
    }
    for page in (SCRATCH..SCRATCH + PAGE).chain((REPORTS..REPORTS + REPORT_PAGES * PAGE).step_by(PAGE as usize)) {
        // SAFETY: scratch and report pages are mapped read-write; their own byte goes back.
        unsafe { (page as *mut u8).write_volatile((page as *const u8).read_volatile()) };
    }
}

impl Fuzzer {
    /// A contained task's run: `plan.calls` calls in batches, each followed by the checks; a
    /// kamikaze child every `kamikaze_every` batches; a reset every `reset_every` batches and
    /// at the end.
    pub fn run(&mut self, slot: u64) -> Result<(), Violation> {
        let start = rdtsc();
        self.reset()?;
        let plan = self.plan;
        let mut batch = 0;
        while self.calls < plan.calls {
            self.batch(plan.batch.min(plan.calls - self.calls))?;
            self.check()?;
            batch += 1;
            self.stats.batches += 1;
            if plan.kamikaze_every > 0 && batch % plan.kamikaze_every == 0 {
                self.collect_kamikazes(false)?;
                self.launch_kamikaze(slot);
            }
            if batch % plan.reset_every == 0 {
                self.reset()?;
            }
            self.stats.ticks = rdtsc() - start;
        }
        self.reset()?;
        self.stats.ticks = rdtsc() - start;
        Ok(())
    }
}

/// Init fuzzes itself (slot 0, seed `plan.base_seed`, with the host handle). Returns its
/// statistics (its kamikaze children's included) and whether every check held.
pub fn run_init(plan: &Plan) -> (Stats, bool) {
    prepare();
    *stats::plan() = *plan;
    *stats::slot(0, false) = Stats::ZERO;
    *stats::slot(0, true) = Stats::ZERO;
    rebuild_canary(plan.base_seed);
    let mut fuzzer = Fuzzer::new(plan.base_seed, Mode::Contained, Some(mach_host_priv()), stats::slot(0, false), *plan);
    fuzzer.stats.seed = plan.base_seed;
    let ok = fuzzer.run(0).is_ok();
    drop(fuzzer);
    let stats = combined(0);
    stats.print("init");
    (stats, ok)
}

/// The statistics of slot `slot` with its kamikaze children's.
fn combined(slot: u64) -> Stats {
    let mut total = *stats::slot(slot, false);
    total.add(stats::slot(slot, true));
    total
}

/// Starts `plan.workers` worker tasks (slots 1 and up), waits for them and returns their
/// statistics (one line printed per worker) and the workers that did not exit 0.
pub fn run_workers(plan: &Plan) -> (Stats, u64) {
    prepare();
    *stats::plan() = *plan;
    let mut names = [0u32; MAX_SLOTS as usize];
    for slot in 1..=plan.workers {
        *stats::slot(slot, false) = Stats::ZERO;
        *stats::slot(slot, true) = Stats::ZERO;
        names[slot as usize] = mach::child::spawn(worker_entry, slot).expect("a worker starts");
    }
    let mut failed = 0;
    let mut total = Stats::ZERO;
    for slot in 1..=plan.workers {
        let status = mach::child::wait(names[slot as usize]);
        let stats = combined(slot);
        stats.print("worker");
        if status != Ok(0) {
            println!("fuzz worker {slot} (seed {}) ended with {status:?}", stats.seed);
            failed += 1;
        }
        total.add(&stats);
    }
    (total, failed)
}

/// Entry point of a worker task: fuzzes with seed `base_seed + slot`; exits 0 when every
/// check held.
extern "C" fn worker_entry(slot: u64) -> ! {
    let plan = *stats::plan();
    let seed = plan.base_seed + slot;
    pretouch();
    rebuild_canary(seed);
    let mut fuzzer = Fuzzer::new(seed, Mode::Contained, None, stats::slot(slot, false), plan);
    fuzzer.stats.seed = seed;
    let ok = fuzzer.run(slot).is_ok();
    task_exit(if ok { 0 } else { 1 })
}
