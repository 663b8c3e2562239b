//! Tests in user programs, reported as libtest does and as the test runner expects:
//! `running N tests`, then `test NAME ... ok` for each, printed whole when the test has
//! passed (so that kernel reports printed meanwhile never split the line). A failing test
//! panics: the panic handler prints `test NAME ... FAILED` and the message, and the task ends
//! with a failure status.

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// One test: its name and its function.
pub type Test = (&'static str, fn());

static CURRENT_PTR: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static CURRENT_LEN: AtomicUsize = AtomicUsize::new(0);

fn set_current(name: Option<&'static str>) {
    let (ptr, len) = name.map_or((core::ptr::null_mut(), 0), |n| (n.as_ptr().cast_mut(), n.len()));
    CURRENT_LEN.store(len, Ordering::SeqCst);
    CURRENT_PTR.store(ptr, Ordering::SeqCst);
}

/// The test running now, if any.
pub(crate) fn current() -> Option<&'static str> {
    let ptr = CURRENT_PTR.load(Ordering::SeqCst);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `set_current` stores the pointer and length of a `&'static str` (length first,
    // pointer last, read in the other order), so together they describe that string.
    let bytes = unsafe { core::slice::from_raw_parts(ptr, CURRENT_LEN.load(Ordering::SeqCst)) };
    core::str::from_utf8(bytes).ok()
}

/// Runs `tests` in order; returns the exit status (0: all passed).
pub fn run(tests: &[Test]) -> i32 {
    crate::println!("running {} tests", tests.len());
    for (name, test) in tests {
        set_current(Some(name));
        test();
        set_current(None);
        crate::println!("test {name} ... ok");
    }
    0
}

/// Lists test functions by name: `tests![a, b]` is `[("a", a), ("b", b)]`.
#[macro_export]
macro_rules! tests {
    ($($test:path),* $(,)?) => { [$((stringify!($test), $test as fn())),*] };
}

/// Marks the calling task as running no test: a child task whose failure its test judges by
/// itself (a panic there then prints no `test NAME ... FAILED` line).
pub fn detach() {
    set_current(None);
}
