//! Runs the model checks of the VM's lock protocol (`vm/tests/loom.rs`): they need the whole
//! `vm` crate built with `--cfg loom` (its locks and atomics are then `loom`'s), so they run
//! in a cargo of their own, with its own target directory (`target/loom`) so that nothing
//! else is rebuilt.

use std::process::Command;

#[test]
fn the_vm_lock_protocol_holds_in_every_interleaving_loom_explores() {
    let root = boot::workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["test", "--package", "machvm", "--test", "loom", "--release", "--target-dir"])
        .arg(root.join("target").join("loom"))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", "--cfg loom")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the loom model checks failed (see above)");
}
