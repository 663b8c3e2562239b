//! The x87/SSE state of user threads.
//!
//! The kernel itself never touches the floating-point unit (it is built without SSE), so a
//! thread's FPU and SSE registers stay live from its return to ring 3 until the scheduler
//! loop switches away from it; the loop saves them then (`fxsave64`) and loads the next
//! thread's (`fxrstor64`) before switching to it. A new thread starts from the state of a
//! freshly initialised FPU (all registers clear, exceptions masked).

use spin::Once;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

/// The 512-byte `fxsave` area, 16-byte aligned as the instruction requires.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState([u8; 512]);

static INITIAL: Once<FpuState> = Once::new();

/// Turns on SSE for ring 3 (CR4.OSFXSR and OSXMMEXCPT, CR0.MP, not CR0.EM) and records the
/// state a new thread starts from.
pub fn init() {
    // SAFETY: the bits enable the FPU and SSE the CPU has (x86_64 always has both) and tell
    // it that the OS saves their state with fxsave, which the scheduler does.
    unsafe {
        Cr0::update(|f| {
            f.insert(Cr0Flags::MONITOR_COPROCESSOR);
            f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|f| f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
    }
    INITIAL.call_once(|| {
        let mut state = FpuState([0; 512]);
        // SAFETY: FNINIT resets the x87 unit; `state` is a live, aligned 512-byte area.
        unsafe { core::arch::asm!("fninit", options(nomem, nostack)) };
        state.save();
        // MXCSR (bytes 24..28): all SSE exceptions masked, round to nearest.
        state.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        state
    });
}

impl FpuState {
    /// The state of a freshly initialised FPU.
    ///
    /// # Panics
    ///
    /// If called before [`init`].
    pub fn initial() -> Self {
        INITIAL.get().expect("fpu::init has run").clone()
    }

    /// Saves the live FPU and SSE registers here.
    pub fn save(&mut self) {
        // SAFETY: `self.0` is a live, 16-byte aligned 512-byte area, which FXSAVE64 writes.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// Loads the FPU and SSE registers from here.
    pub fn restore(&self) {
        // SAFETY: `self.0` holds a state written by FXSAVE64 (or the initial one with a valid
        // MXCSR), 16-byte aligned, which FXRSTOR64 reads.
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly)) };
    }
}
