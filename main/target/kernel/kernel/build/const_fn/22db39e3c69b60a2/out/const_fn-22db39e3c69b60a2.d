/work/main/kernel/../main/target/kernel/kernel/build/const_fn/22db39e3c69b60a2/out/const_fn-22db39e3c69b60a2.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/error.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/ast.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/iter.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/to_tokens.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/utils.rs /work/main/kernel/../main/target/kernel/kernel/build/const_fn/be18acad5668e63c/out/version

/work/main/kernel/../main/target/kernel/kernel/build/const_fn/22db39e3c69b60a2/out/libconst_fn-22db39e3c69b60a2.so: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/error.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/ast.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/iter.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/to_tokens.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/utils.rs /work/main/kernel/../main/target/kernel/kernel/build/const_fn/be18acad5668e63c/out/version

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/error.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/ast.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/iter.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/to_tokens.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/const_fn-0.4.12/src/utils.rs:
/work/main/kernel/../main/target/kernel/kernel/build/const_fn/be18acad5668e63c/out/version:

# env-dep:OUT_DIR=/work/main/kernel/../main/target/kernel/kernel/build/const_fn/be18acad5668e63c/out
