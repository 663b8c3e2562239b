//! The fuzzer: generates calls (see `gen_*`), runs them, counts their results and checks
//! what every call must leave true.
//!
//! Per call: the result is a known `KERN_*` (or errno) value; an out-of-range call number
//! gives `KERN_INVALID_ARGUMENT`; in a contained task, a call that always writes an
//! out-parameter never succeeds when that parameter points at memory it cannot write, and a
//! failed call on the task or an idle victim leaves that task's map as it was (region count,
//! size, wired pages; not checked when several lanes share the map, since the others change
//! it meanwhile).
//! Per batch (contained tasks): see `check`.

use super::layout::{Layout, Ptr};
use super::rng::Rng;
use super::stats::{Plan, Stats, KERN_BUCKETS, RAW_CALL};
use super::track::{Handles, Role, VictimState};
use mach::raw::Sysno;
use mach::*;

/// Whether the task must survive its own calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Init or a worker: keeps off its critical memory, checks itself, cleans up.
    Contained,
    /// A kamikaze child: anything goes but the shared reports; its death is expected.
    Wild,
}

/// What a successful call gives that the fuzzer must record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// A new address, at this pointer.
    Address(u64),
    /// A new task handle, at this pointer.
    NewVictim(u64),
    /// A new memory-entry handle, at this pointer.
    NewEntry(u64),
    /// A new copy handle (this many bytes), at this pointer.
    NewCopy(u64, u64),
    /// The copy handle was consumed or discarded.
    CopyGone(u64),
    /// The copy handle was consumed by `vm_copyout`, which wrote the address at this pointer
    /// (if usable).
    CopiedOut(u64, Option<u64>),
    /// This task dropped the handle.
    Dropped(u64),
    /// The victim ended (terminated, or waited for).
    Ended(u64),
    /// The victim was given a thread that cannot run.
    Doomed(u64),
}

/// What a successful call must have written (checked when the pointers were usable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    None,
    /// A page-aligned address for `size` bytes inside the map, with no bit of `mask` set (0
    /// for an `ANYWHERE` allocation of size 0), at `ptr`.
    Placed { ptr: u64, size: u64, mask: u64 },
    /// `vm_region`'s address and size: a region that contains `query` or lies above it.
    Region { address_ptr: u64, size_ptr: u64, query: u64 },
    /// Exactly `value` at `ptr`.
    Equals { ptr: u64, value: u64 },
}

/// One generated call.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub no: u64,
    pub args: [u64; 6],
    /// The first hostile out-parameter, if any.
    pub bad_out: Option<Ptr>,
    /// The call writes its out-parameters whenever it succeeds.
    pub must_write: bool,
    /// The task whose map a failure must leave unchanged.
    pub target: Option<u64>,
    pub effect: Effect,
    pub expect: Expect,
}

impl Call {
    pub fn new(no: Sysno, args: [u64; 6]) -> Self {
        Self { no: no as u64, args, bad_out: None, must_write: false, target: None, effect: Effect::None, expect: Expect::None }
    }
}

/// A broken promise; already printed with the calls that led to it.
#[derive(Debug)]
pub struct Violation;

const HISTORY: usize = 12;

/// One fuzzing task.
pub struct Fuzzer {
    pub seed: u64,
    /// Calls this fuzzer made.
    pub calls: u64,
    pub rng: Rng,
    pub mode: Mode,
    pub layout: Layout,
    pub handles: Handles,
    pub stats: &'static mut Stats,
    pub plan: Plan,
    /// Addresses calls returned lately (a source of interesting arguments).
    pub recent: [u64; 16],
    /// Free frames after the first reset (checked after every later one when alone).
    pub frames_at_reset: Option<u64>,
    /// One of several lanes (threads) fuzzing the same map at once: the checks that need the
    /// map to change only through this fuzzer's own calls are left out, and no call drops or
    /// consumes a handle this lane does not know as its own (it could be another lane's).
    pub threaded: bool,
    /// The seed the canary was filled for (the task's: its lanes share one canary).
    pub canary_seed: u64,
    history: [(u64, Call, u64); HISTORY],
}

const KERN_CODES: [u64; 15] = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 16, 18, 22, 29, 46];
const ERRNOS: [u64; 5] = [0, 12, 17, 22, 28];

impl Fuzzer {
    /// A fuzzer for `seed`, lane `lane` of its task, that adds its counts to `stats`.
    pub fn new(seed: u64, lane: u64, mode: Mode, host: Option<u32>, stats: &'static mut Stats, plan: Plan) -> Self {
        let layout = if mode == Mode::Contained { Layout::contained(lane) } else { Layout::wild() };
        let handles = Handles::new(mach_task_self(), host);
        let empty = (u64::MAX, Call::new(Sysno::MachTaskSelf, [0; 6]), 0);
        let threaded = mode == Mode::Contained && plan.threads > 1;
        let recent = [super::layout::ARENA; 16];
        Self { seed, calls: 0, rng: Rng::new(seed), mode, layout, handles, stats, plan, recent, frames_at_reset: None, threaded, canary_seed: seed, history: [empty; HISTORY] }
    }

    /// Generates and runs `count` calls.
    pub fn batch(&mut self, count: u64) -> Result<(), Violation> {
        for _ in 0..count {
            let call = self.generate();
            self.execute(&call)?;
        }
        Ok(())
    }

    fn generate(&mut self) -> Call {
        loop {
            let no = if self.rng.chance(3) { None } else { Some(self.rng.pick(&Sysno::ALL)) };
            match self.generate_call(no).filter(|call| self.keeps_other_lanes_handles(call)) {
                Some(call) => return call,
                None => self.stats.filtered += 1,
            }
        }
    }

    /// Whether `call` leaves alone every handle of this task that another lane may hold:
    /// when lanes share the task, a call that drops or consumes a name of this task
    /// (`mach_port_deallocate`, `vm_copy_discard`, `vm_copyout`, `vm_copy_overwrite`) must name
    /// one of this lane's own handles, or a name no handle can have.
    fn keeps_other_lanes_handles(&self, call: &Call) -> bool {
        if !self.threaded {
            return true;
        }
        let own = |name: u64| name == 0 || name > 0xffff || self.handles.role(name) != Role::Unknown;
        match Sysno::from_raw(call.no) {
            Some(Sysno::MachPortDeallocate) => self.handles.role(call.args[0]) != Role::Me || own(call.args[1]),
            Some(Sysno::VmCopyDiscard) => own(call.args[0]),
            Some(Sysno::VmCopyout) => own(call.args[1]),
            Some(Sysno::VmCopyOverwrite) => own(call.args[2]),
            _ => true,
        }
    }

    /// Runs `call` with every per-call check.
    pub fn execute(&mut self, call: &Call) -> Result<u64, Violation> {
        let before = call.target.and_then(|t| self.snapshot(t));
        let index = self.calls;
        let tracing = self.seed == self.plan.trace_seed && index >= self.plan.trace_from;
        if tracing {
            println!("fuzz trace seed {} #{index}: {:?} {:x?}", self.seed, Sysno::from_raw(call.no), call.args);
        }
        self.calls += 1;
        self.stats.calls += 1;
        self.stats.per_call[if call.no < RAW_CALL as u64 { call.no as usize } else { RAW_CALL }] += 1;
        // SAFETY: the call's pointers either point at the scratch page, which holds nothing
        // else, or are hostile on purpose; the generator kept every call that could change
        // memory off the task's critical ranges.
        let result = unsafe { mach::raw::syscall_number(call.no, call.args) };
        if tracing {
            println!("fuzz trace seed {} #{index}: -> {result:#x}", self.seed);
        }
        self.history[index as usize % HISTORY] = (index, *call, result);
        self.validate(call, result, before)?;
        if self.succeeded(call, result) {
            self.record(call.effect);
        }
        Ok(result)
    }

    fn succeeded(&self, call: &Call, result: u64) -> bool {
        result == 0 && Sysno::from_raw(call.no).is_some_and(|s| s != Sysno::MachTaskSelf)
    }

    fn validate(&mut self, call: &Call, result: u64, before: Option<(u64, u64, u64)>) -> Result<(), Violation> {
        let sysno = Sysno::from_raw(call.no);
        let known = match sysno {
            None => result == KERN_INVALID_ARGUMENT as u64,
            Some(Sysno::MachTaskSelf) => self.mode == Mode::Wild || result == u64::from(self.handles.me),
            Some(Sysno::HurdVmAllocate | Sysno::HurdVmDeallocate) => self.count_errno(result),
            Some(_) => self.count_kern(result),
        };
        if !known {
            self.stats.unknown += 1;
            return Err(self.violation(format_args!("unexpected result {result:#x}")));
        }
        // (A wild task may have remapped its own text, guard pages or hole by now.)
        if result == 0 && call.must_write && call.bad_out.is_some() && self.mode == Mode::Contained {
            return Err(self.violation(format_args!("succeeded with an out-parameter at {:?}", call.bad_out)));
        }
        if result == 0 && sysno.is_some_and(|s| s != Sysno::MachTaskSelf) {
            if let Some(wrong) = wrong_result(call.expect) {
                return Err(self.violation(format_args!("succeeded with {wrong:#x} written, expected {:x?}", call.expect)));
            }
        }
        if result != 0 && sysno.is_some() {
            if let (Some(target), Some(before)) = (call.target, before) {
                let after = self.snapshot(target);
                if after != Some(before) {
                    return Err(self.violation(format_args!("a failed call changed the map: {before:?} -> {after:?}")));
                }
            }
        }
        Ok(())
    }

    fn count_kern(&mut self, result: u64) -> bool {
        if (result as usize) < KERN_BUCKETS {
            self.stats.kern[result as usize] += 1;
        }
        KERN_CODES.contains(&result)
    }

    fn count_errno(&mut self, result: u64) -> bool {
        if result < 32 {
            self.stats.errno[result as usize] += 1;
        }
        ERRNOS.contains(&result)
    }

    /// Region count, virtual size and wired pages of the task named `task`, if it is this
    /// task or an idle victim (whose maps only this task changes).
    fn snapshot(&self, task: u64) -> Option<(u64, u64, u64)> {
        if self.mode == Mode::Wild || self.threaded {
            return None;
        }
        match self.handles.role(task) {
            Role::Me => {}
            Role::Victim(i) if self.handles.victims.get(i).is_some_and(|v| v.state == VictimState::Idle) => {}
            _ => return None,
        }
        let mut info = TaskBasicInfo::default();
        (task_info(task as u32, &mut info) == KERN_SUCCESS).then_some((info.region_count, info.virtual_size, info.wired_count))
    }

    /// Prints a broken promise with the calls before it, counts it and returns it.
    pub fn violation(&mut self, what: core::fmt::Arguments<'_>) -> Violation {
        self.stats.violations += 1;
        let seed = self.seed;
        println!("fuzz VIOLATION seed {seed} after call #{}: {what}", self.calls.saturating_sub(1));
        let last = self.calls;
        for index in last.saturating_sub(HISTORY as u64)..last {
            let (i, call, result) = self.history[index as usize % HISTORY];
            if i == index {
                let name = Sysno::from_raw(call.no);
                println!("fuzz   seed {seed} #{i}: {name:?} ({}) {:x?} -> {result:#x} (out {:?})", call.no, call.args, call.bad_out);
            }
        }
        Violation
    }

    /// Remembers an address a call returned.
    pub fn remember(&mut self, address: u64) {
        let i = self.rng.below(self.recent.len() as u64) as usize;
        self.recent[i] = address;
    }

    /// An address a call returned lately.
    pub fn recent(&mut self) -> u64 {
        self.rng.pick(&self.recent)
    }
}

/// The value a successful call wrote where `expect` says, if it is wrong.
fn wrong_result(expect: Expect) -> Option<u64> {
    use super::layout::{PAGE, USER_MAX, USER_MIN};
    match expect {
        Expect::None => None,
        Expect::Placed { ptr, size, mask } => {
            let at = read_slot(ptr);
            let end = size.checked_next_multiple_of(PAGE).and_then(|s| at.checked_add(s));
            let ok = if size == 0 { at == 0 } else { at % PAGE == 0 && at >= USER_MIN && end.is_some_and(|e| e <= USER_MAX) && at & mask == 0 };
            (!ok).then_some(at)
        }
        Expect::Region { address_ptr, size_ptr, query } => {
            let (at, size) = (read_slot(address_ptr), read_slot(size_ptr));
            let end = at.checked_add(size).unwrap_or(0);
            let ok = (at | size) % PAGE == 0 && size > 0 && at >= USER_MIN && end <= USER_MAX && end > query.max(at);
            (!ok).then_some(at)
        }
        Expect::Equals { ptr, value } => Some(read_slot(ptr)).filter(|&v| v != value),
    }
}

/// Reads the `u64` at `address`, a usable pointer into the scratch page.
pub fn read_slot(address: u64) -> u64 {
    // SAFETY: callers pass usable scratch pointers (the scratch page is mapped read-write
    // and holds nothing but call parameters).
    unsafe { (address as *const u64).read_unaligned() }
}

/// Writes the `u64` at `address`, a usable pointer into the scratch page.
pub fn write_slot(address: u64, value: u64) {
    // SAFETY: as for `read_slot`.
    unsafe { (address as *mut u64).write_unaligned(value) }
}
