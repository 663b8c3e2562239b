/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/bit_field/ecfb5ae958471013/out/bit_field-ecfb5ae958471013.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bit_field-0.10.3/src/lib.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/bit_field/ecfb5ae958471013/out/libbit_field-ecfb5ae958471013.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bit_field-0.10.3/src/lib.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/bit_field/ecfb5ae958471013/out/libbit_field-ecfb5ae958471013.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bit_field-0.10.3/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bit_field-0.10.3/src/lib.rs:
