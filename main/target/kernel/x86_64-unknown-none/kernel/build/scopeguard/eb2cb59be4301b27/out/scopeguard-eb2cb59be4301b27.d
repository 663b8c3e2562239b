/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/scopeguard/eb2cb59be4301b27/out/scopeguard-eb2cb59be4301b27.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/scopeguard/eb2cb59be4301b27/out/libscopeguard-eb2cb59be4301b27.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/scopeguard/eb2cb59be4301b27/out/libscopeguard-eb2cb59be4301b27.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/scopeguard-1.2.0/src/lib.rs:
