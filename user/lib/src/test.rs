//! Tests in user programs, reported as libtest does and as the test runner expects:
//! `running N tests`, then `test NAME ... ok` for each. A failing test panics, which prints
//! its message and ends the task with a failure status.

/// One test: its name and its function.
pub type Test = (&'static str, fn());

/// Runs `tests` in order; returns the exit status (0: all passed).
pub fn run(tests: &[Test]) -> i32 {
    crate::println!("running {} tests", tests.len());
    for (name, test) in tests {
        crate::print!("test {name} ... ");
        test();
        crate::println!("ok");
    }
    0
}

/// Lists test functions by name: `tests![a, b]` is `[("a", a), ("b", b)]`.
#[macro_export]
macro_rules! tests {
    ($($test:path),* $(,)?) => { [$((stringify!($test), $test as fn())),*] };
}
