/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/volatile/70542fefc6d1d7b6/out/volatile-70542fefc6d1d7b6.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/access.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/volatile/70542fefc6d1d7b6/out/libvolatile-70542fefc6d1d7b6.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/access.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/volatile/70542fefc6d1d7b6/out/libvolatile-70542fefc6d1d7b6.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/access.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/volatile-0.4.6/src/access.rs:
