/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/kernel/e3814226428ee01c/out/kernel-e3814226428ee01c.d: kernel/src/lib.rs kernel/src/arch/mod.rs kernel/src/arch/cpu.rs kernel/src/arch/exceptions.rs kernel/src/arch/gdt.rs kernel/src/arch/idt.rs kernel/src/arch/probe.rs kernel/src/boot.rs kernel/src/console.rs kernel/src/memory/mod.rs kernel/src/memory/frames.rs kernel/src/memory/heap.rs kernel/src/panic.rs kernel/src/pmap.rs kernel/src/qemu.rs kernel/src/sync.rs kernel/src/testing.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/kernel/e3814226428ee01c/out/libkernel-e3814226428ee01c.rlib: kernel/src/lib.rs kernel/src/arch/mod.rs kernel/src/arch/cpu.rs kernel/src/arch/exceptions.rs kernel/src/arch/gdt.rs kernel/src/arch/idt.rs kernel/src/arch/probe.rs kernel/src/boot.rs kernel/src/console.rs kernel/src/memory/mod.rs kernel/src/memory/frames.rs kernel/src/memory/heap.rs kernel/src/panic.rs kernel/src/pmap.rs kernel/src/qemu.rs kernel/src/sync.rs kernel/src/testing.rs

/work/main/kernel/../main/target/kernel/x86_64-unknown-none/kernel/build/kernel/e3814226428ee01c/out/libkernel-e3814226428ee01c.rmeta: kernel/src/lib.rs kernel/src/arch/mod.rs kernel/src/arch/cpu.rs kernel/src/arch/exceptions.rs kernel/src/arch/gdt.rs kernel/src/arch/idt.rs kernel/src/arch/probe.rs kernel/src/boot.rs kernel/src/console.rs kernel/src/memory/mod.rs kernel/src/memory/frames.rs kernel/src/memory/heap.rs kernel/src/panic.rs kernel/src/pmap.rs kernel/src/qemu.rs kernel/src/sync.rs kernel/src/testing.rs

kernel/src/lib.rs:
kernel/src/arch/mod.rs:
kernel/src/arch/cpu.rs:
kernel/src/arch/exceptions.rs:
kernel/src/arch/gdt.rs:
kernel/src/arch/idt.rs:
kernel/src/arch/probe.rs:
kernel/src/boot.rs:
kernel/src/console.rs:
kernel/src/memory/mod.rs:
kernel/src/memory/frames.rs:
kernel/src/memory/heap.rs:
kernel/src/panic.rs:
kernel/src/pmap.rs:
kernel/src/qemu.rs:
kernel/src/sync.rs:
kernel/src/testing.rs:
