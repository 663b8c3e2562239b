/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/kernel/e4194f032b2271db/out/kernel.d: kernel/src/main.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/kernel/e4194f032b2271db/out/kernel: kernel/src/main.rs

kernel/src/main.rs:

# env-dep:CARGO_PKG_VERSION=0.1.0
