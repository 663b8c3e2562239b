/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/pmap-x86/4d01b38f09c9c059/out/pmap_x86-4d01b38f09c9c059.d: pmap-x86/src/lib.rs pmap-x86/src/check.rs pmap-x86/src/entry.rs pmap-x86/src/meta.rs pmap-x86/src/mmu.rs pmap-x86/src/ops.rs pmap-x86/src/pmap.rs pmap-x86/src/sim.rs pmap-x86/src/walk.rs pmap-x86/src/window.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/pmap-x86/4d01b38f09c9c059/out/libpmap_x86-4d01b38f09c9c059.rlib: pmap-x86/src/lib.rs pmap-x86/src/check.rs pmap-x86/src/entry.rs pmap-x86/src/meta.rs pmap-x86/src/mmu.rs pmap-x86/src/ops.rs pmap-x86/src/pmap.rs pmap-x86/src/sim.rs pmap-x86/src/walk.rs pmap-x86/src/window.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/pmap-x86/4d01b38f09c9c059/out/libpmap_x86-4d01b38f09c9c059.rmeta: pmap-x86/src/lib.rs pmap-x86/src/check.rs pmap-x86/src/entry.rs pmap-x86/src/meta.rs pmap-x86/src/mmu.rs pmap-x86/src/ops.rs pmap-x86/src/pmap.rs pmap-x86/src/sim.rs pmap-x86/src/walk.rs pmap-x86/src/window.rs

pmap-x86/src/lib.rs:
pmap-x86/src/check.rs:
pmap-x86/src/entry.rs:
pmap-x86/src/meta.rs:
pmap-x86/src/mmu.rs:
pmap-x86/src/ops.rs:
pmap-x86/src/pmap.rs:
pmap-x86/src/sim.rs:
pmap-x86/src/walk.rs:
pmap-x86/src/window.rs:
