/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/vm/ecc6ffd897c43032/out/vm-ecc6ffd897c43032.d: vm/src/lib.rs vm/src/addr.rs vm/src/pmap/mod.rs vm/src/pmap/flush.rs vm/src/prot.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/vm/ecc6ffd897c43032/out/libvm-ecc6ffd897c43032.rlib: vm/src/lib.rs vm/src/addr.rs vm/src/pmap/mod.rs vm/src/pmap/flush.rs vm/src/prot.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/vm/ecc6ffd897c43032/out/libvm-ecc6ffd897c43032.rmeta: vm/src/lib.rs vm/src/addr.rs vm/src/pmap/mod.rs vm/src/pmap/flush.rs vm/src/prot.rs

vm/src/lib.rs:
vm/src/addr.rs:
vm/src/pmap/mod.rs:
vm/src/pmap/flush.rs:
vm/src/prot.rs:
