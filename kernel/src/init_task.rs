//! Starting the init task from the ramdisk and running the system until every task ended.

use crate::task::{self, loader, sched};
use bootloader_api::BootInfo;
use core::fmt;
use machvm_abi::ramdisk::{self, RamdiskError};

/// Why the system could not run init.
#[derive(Debug)]
pub enum InitError {
    /// The bootloader loaded no ramdisk.
    NoRamdisk,
    /// The ramdisk is malformed.
    Ramdisk(RamdiskError),
    /// The ramdisk holds no program.
    Empty,
    /// The init program could not be loaded.
    Load(loader::LoadError),
    /// Fewer frames were free (or held by the kernel heap, which grows and shrinks with the
    /// tasks' kernel objects) after every task had ended than before init started: the
    /// tasks' memory was not all given back.
    FramesLost {
        /// Frames free or in the heap before init.
        before: u64,
        /// Frames free or in the heap after every task ended.
        after: u64,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRamdisk => f.write_str("no ramdisk: nothing to run as init"),
            Self::Ramdisk(e) => write!(f, "the ramdisk is malformed: {e:?}"),
            Self::Empty => f.write_str("the ramdisk holds no program"),
            Self::Load(e) => write!(f, "cannot start init: {e}"),
            Self::FramesLost { before, after } => {
                write!(f, "frame accounting: {before} frames free or in the heap before init, {after} after every task ended")
            }
        }
    }
}

/// The ramdisk the bootloader loaded, if any.
pub fn ramdisk(boot_info: &BootInfo) -> Option<&'static [u8]> {
    let addr = boot_info.ramdisk_addr.into_option()?;
    let len = usize::try_from(boot_info.ramdisk_len).ok()?;
    // SAFETY: the bootloader mapped the ramdisk at `addr`, `len` bytes long, in memory it
    // reserved (not usable memory) for the kernel's whole life, and nothing writes it.
    Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
}

/// Starts the first program of `ramdisk` as the privileged init task, runs every task to its
/// end, and returns init's exit status. Frame accounting is exact across the run: as many
/// frames are free or in the heap after every task has ended as before init started (the
/// heap's own frames vary with what the kernel keeps, such as a grown table).
///
/// # Errors
///
/// [`InitError`] if there is no valid init program, or if frames were lost.
pub fn run(ramdisk: Option<&'static [u8]>) -> Result<i32, InitError> {
    let bytes = ramdisk.ok_or(InitError::NoRamdisk)?;
    let mut first = None;
    ramdisk::for_each(bytes, |program| {
        first.get_or_insert(program);
    })
    .map_err(InitError::Ramdisk)?;
    let program = first.ok_or(InitError::Empty)?;
    let before = crate::memory::stats().free_or_heap();
    let init = loader::spawn(program.name, program.image, true).map_err(InitError::Load)?;
    task::retain(init);
    log::info!("init: task {} ({}) started", init.0, program.name);
    sched::run();
    let status = task::exit_status(init).expect("every task has ended");
    task::forget(init);
    log::info!("init: exited with status {status}");
    let after = crate::memory::stats().free_or_heap();
    if after != before {
        return Err(InitError::FramesLost { before, after });
    }
    Ok(status)
}
