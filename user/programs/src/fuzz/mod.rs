//! A seeded fuzzer of every system call from ring 3, shared by `test_fuzz` (a short run in
//! `cargo test`) and `fuzz_long` (the long campaign, `cargo run --release -- fuzz`).
//!
//! Each call gets hostile arguments (`values`, `layout::Ptr`): sizes near 0 and 2^64,
//! unaligned and edge addresses, pointers into read-only, unmapped, guard, kernel and
//! non-canonical memory, stale and forged handles, wild flags and values; numbers that are
//! no call; garbage in unused registers. What each call must leave true is in `fuzzer`; what
//! a task checks of itself after each batch, and how it cleans up, in `check`; how tasks
//! are arranged in `campaign`. See `user/programs/FUZZ.md`.

#![allow(dead_code)]

pub mod campaign;
pub mod check;
mod fuzzer;
mod gen;
mod gen_objects;
mod gen_tasks;
pub mod layout;
pub mod rng;
pub mod stats;
mod track;
mod values;
mod victims;

pub use stats::Plan;
