/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/linked_list_allocator/90ab200a5f498195/out/linked_list_allocator-90ab200a5f498195.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/hole.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/linked_list_allocator/90ab200a5f498195/out/liblinked_list_allocator-90ab200a5f498195.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/hole.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/linked_list_allocator/90ab200a5f498195/out/liblinked_list_allocator-90ab200a5f498195.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/hole.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/linked_list_allocator-0.10.6/src/hole.rs:
