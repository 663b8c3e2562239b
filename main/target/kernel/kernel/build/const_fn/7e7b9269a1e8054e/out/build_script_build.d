/work/main/kernel/../main/target/kernel/kernel/build/const_fn/7e7b9269a1e8054e/out/build_script_build.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/build.rs

/work/main/kernel/../main/target/kernel/kernel/build/const_fn/7e7b9269a1e8054e/out/build_script_build: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/build.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/build.rs:

# env-dep:CARGO_PKG_NAME=const_fn
