//! A campaign: init prepares the fixtures and the shared reports, fuzzes itself (it alone
//! holds the host handle, so only it wires), then starts worker tasks that fuzz at once with
//! their own seeds and kamikaze children, waits for them and gathers their statistics.
//!
//! With `plan.threads` above 1, each fuzzing task (init, every worker) runs that many
//! *lanes*: fuzzers on threads of the task, each with its own seed, handles and parameter
//! slots, issuing calls at once on the one map they share (the arena, and each other's
//! victims). Every lane keeps the others' stacks critical; each resets only what is its own,
//! and once all have finished the first lane checks the whole task as a single fuzzer's
//! reset does.

use super::check::rebuild_canary;
use super::fuzzer::{Fuzzer, Mode, Violation};
use super::layout::*;
use super::stats::{self, Plan, Stats, LANE_SEED_STEP, MAX_LANES};
use core::sync::atomic::{AtomicU64, Ordering};
use mach::thread::Thread;
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
    pretouch_stack();
    for page in (SCRATCH..SCRATCH + PAGE).chain((REPORTS..REPORTS + REPORT_PAGES * PAGE).step_by(PAGE as usize)) {
        // SAFETY: scratch and report pages are mapped read-write; their own byte goes back.
        unsafe { (page as *mut u8).write_volatile((page as *const u8).read_volatile()) };
    }
}

/// Makes up to 60 pages of the caller's stack below the stack pointer resident.
fn pretouch_stack() {
    let (stack, _) = region_at(stack_pointer()).expect("the stack is mapped");
    let below = stack_pointer().saturating_sub(PAGE) & !(PAGE - 1);
    for page in (stack.start.max(below.saturating_sub(60 * PAGE))..below).step_by(PAGE as usize) {
        // SAFETY: a page of this thread's stack well below the stack pointer: unused.
        unsafe { (page as *mut u8).write_volatile(0) };
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
    stats::clear_task(0);
    rebuild_canary(plan.base_seed);
    let ok = run_task(0, plan.base_seed, Some(mach_host_priv()), *plan);
    let stats = stats::task_total(0);
    stats.print("init");
    (stats, ok)
}

/// Fuzzes this task as slot `slot` with seed `seed` (its canary filled for that seed): one
/// fuzzer, or `plan.threads` lanes. Returns whether every check held.
fn run_task(slot: u64, seed: u64, host: Option<u32>, plan: Plan) -> bool {
    let lanes = plan.threads.clamp(1, MAX_LANES);
    if lanes == 1 {
        set_lane_stacks(Range::default(), Range::default());
        let mut fuzzer = Fuzzer::new(seed, 0, Mode::Contained, host, stats::slot(slot, false), plan);
        fuzzer.stats.seed = seed;
        return fuzzer.run(slot).is_ok();
    }
    run_lanes(slot, seed, host, plan, lanes)
}

/// Stack of a lane's thread.
const LANE_STACK: u64 = 256 * 1024;

/// What the lanes of the running task share: it fuzzes as slot `SLOT` with seed `SEED`
/// (`HOST`: the host handle's name, 0 for none); the lanes wait for `GATE` (every stack is
/// known then); `FAILURES` counts lanes whose checks did not hold, `MAX_NAME` is the
/// highest name any lane saw.
static SLOT: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);
static HOST: AtomicU64 = AtomicU64::new(0);
static GATE: AtomicU64 = AtomicU64::new(0);
static FAILURES: AtomicU64 = AtomicU64::new(0);
static MAX_NAME: AtomicU64 = AtomicU64::new(0);

/// Runs `lanes` lanes: this thread as lane 0 and a thread for each other; then, once all
/// have finished, lane 0's final reset.
fn run_lanes(slot: u64, seed: u64, host: Option<u32>, plan: Plan, lanes: u64) -> bool {
    for (shared, value) in [(&SLOT, slot), (&SEED, seed), (&HOST, host.map_or(0, u64::from)), (&GATE, 0), (&FAILURES, 0), (&MAX_NAME, 0)] {
        shared.store(value, Ordering::SeqCst);
    }
    let threads: [Option<Thread>; MAX_LANES as usize - 1] = core::array::from_fn(|i| {
        let lane = i as u64 + 1;
        (lane < lanes).then(|| mach::thread::spawn_with_stack(lane_entry, lane, LANE_STACK).expect("a lane's thread starts"))
    });
    let covering = threads.iter().flatten().map(|t| t.region()).fold(Range::new(u64::MAX, 0), |r, (start, size)| {
        Range::new(r.start.min(start), r.end.max(start + size))
    });
    let main_stack = region_at(stack_pointer()).expect("the stack is mapped").0;
    set_lane_stacks(main_stack, covering);
    GATE.store(1, Ordering::SeqCst);
    let mut fuzzer = lane_fuzzer(0, plan);
    let mut ok = fuzzer.run(slot).is_ok();
    // No stack goes while a lane may still allocate where it was (nor stay critical after).
    while threads.iter().flatten().any(|t| !t.is_finished()) {
        thread_switch();
    }
    for thread in threads.into_iter().flatten() {
        thread.join().expect("a lane's stack is released");
    }
    set_lane_stacks(main_stack, Range::default());
    fuzzer.layout = Layout::contained(0);
    ok &= FAILURES.load(Ordering::SeqCst) == 0;
    ok && fuzzer.final_reset(MAX_NAME.load(Ordering::SeqCst) as u32).is_ok()
}

/// Lane `lane`'s fuzzer in the running task.
fn lane_fuzzer(lane: u64, plan: Plan) -> Fuzzer {
    let (slot, seed) = (SLOT.load(Ordering::SeqCst), SEED.load(Ordering::SeqCst));
    let host = match HOST.load(Ordering::SeqCst) {
        0 => None,
        name => Some(name as u32),
    };
    let lane_seed = seed + lane * LANE_SEED_STEP;
    let mut fuzzer = Fuzzer::new(lane_seed, lane, Mode::Contained, host, stats::slot(stats::lane_slot(slot, lane), false), plan);
    fuzzer.stats.seed = lane_seed;
    fuzzer.canary_seed = seed;
    fuzzer
}

/// A lane's thread: waits for the gate, fuzzes, records its result and highest name.
fn lane_entry(lane: u64) {
    while GATE.load(Ordering::SeqCst) == 0 {
        thread_switch();
    }
    pretouch_stack();
    let mut fuzzer = lane_fuzzer(lane, *stats::plan());
    let ok = fuzzer.run(stats::lane_slot(SLOT.load(Ordering::SeqCst), lane)).is_ok();
    MAX_NAME.fetch_max(u64::from(fuzzer.handles.max_name), Ordering::SeqCst);
    if !ok {
        FAILURES.fetch_add(1, Ordering::SeqCst);
    }
}

/// Starts `plan.workers` worker tasks (slots 1 and up), waits for them and returns their
/// statistics (one line printed per worker) and the workers that did not exit 0.
pub fn run_workers(plan: &Plan) -> (Stats, u64) {
    prepare();
    *stats::plan() = *plan;
    let mut names = [0u32; MAX_SLOTS as usize];
    for slot in 1..=plan.workers {
        stats::clear_task(slot);
        names[slot as usize] = mach::child::spawn(worker_entry, slot).expect("a worker starts");
    }
    let mut failed = 0;
    let mut total = Stats::ZERO;
    for slot in 1..=plan.workers {
        let status = mach::child::wait(names[slot as usize]);
        let stats = stats::task_total(slot);
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
    let ok = run_task(slot, seed, None, plan);
    task_exit(if ok { 0 } else { 1 })
}
