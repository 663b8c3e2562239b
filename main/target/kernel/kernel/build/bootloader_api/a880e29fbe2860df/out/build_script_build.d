/work/main/kernel/../main/target/kernel/kernel/build/bootloader_api/a880e29fbe2860df/out/build_script_build.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bootloader_api-0.11.17/build.rs

/work/main/kernel/../main/target/kernel/kernel/build/bootloader_api/a880e29fbe2860df/out/build_script_build: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bootloader_api-0.11.17/build.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bootloader_api-0.11.17/build.rs:

# env-dep:CARGO_PKG_VERSION_MAJOR=0
# env-dep:CARGO_PKG_VERSION_MINOR=11
# env-dep:CARGO_PKG_VERSION_PATCH=17
# env-dep:CARGO_PKG_VERSION_PRE=
