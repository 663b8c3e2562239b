/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/spinning_top/1ff7542c6387ced3/out/spinning_top-1ff7542c6387ced3.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/spinlock.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/spinning_top/1ff7542c6387ced3/out/libspinning_top-1ff7542c6387ced3.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/spinlock.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/spinning_top/1ff7542c6387ced3/out/libspinning_top-1ff7542c6387ced3.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/spinlock.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spinning_top-0.2.5/src/spinlock.rs:
