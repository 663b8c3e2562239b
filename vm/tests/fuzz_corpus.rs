//! Replays the saved fuzz corpus (`vm/fuzz/corpus/ops/`) through the fuzz harness, without
//! libFuzzer: every input is decoded into an operation sequence and run against the reference
//! model with the invariant, translation and frame checks after every step (see
//! `vm/fuzz/README.md`).

mod common;
mod fuzzing;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ops");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn the_saved_corpus_replays_without_divergence() {
    let files = corpus();
    assert!(!files.is_empty(), "the corpus is empty");
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("readable");
        if catch_unwind(AssertUnwindSafe(|| fuzzing::run(&data))).is_err() {
            fuzzing::reset();
            failed.push(path.file_name().expect("a file name").to_string_lossy().into_owned());
        }
    }
    assert!(failed.is_empty(), "{} of {} inputs diverged: {failed:?}", failed.len(), files.len());
}

/// Prints the operations of the input named by `VM_FUZZ_INPUT` and runs it (for reading a
/// crash found by `cargo fuzz`): `VM_FUZZ_INPUT=path cargo test -p vm --test fuzz_corpus --
/// --ignored --nocapture`.
#[test]
#[ignore = "reads the input named by VM_FUZZ_INPUT"]
fn show_one_input() {
    let path = std::env::var("VM_FUZZ_INPUT").expect("VM_FUZZ_INPUT names an input file");
    let data = std::fs::read(&path).expect("readable");
    let sequence = fuzzing::input::decode(&data);
    println!("faulted comparisons: {}", sequence.faulted);
    for (i, op) in sequence.ops.iter().enumerate() {
        println!("{i:3}: {op:?}");
    }
    fuzzing::run(&data);
}
