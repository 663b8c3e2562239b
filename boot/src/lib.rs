//! Host side of the project: builds kernel images, turns them into bootable disk images and
//! runs them in QEMU, for `cargo run` (the `boot` binary) and for `cargo test` (the `kernels`
//! test, which boots every test kernel); for `cargo run -- bench --with-linux`, also boots
//! Linux with the project's C benchmark program (`linux`).

#![warn(missing_docs)]

pub mod bench;
pub mod build;
pub mod cli;
pub mod image;
pub mod ktest;
pub mod linux;
pub mod qemu;
pub mod ramdisk;
pub mod runner;

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("boot/ lies inside the workspace")
        .to_path_buf()
}
