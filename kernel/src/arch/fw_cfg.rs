//! QEMU's firmware configuration device (`fw_cfg`), read through its I/O ports: the runner
//! hands the kernel boot-time settings as named files (`-fw_cfg name=...,string=...`).
//!
//! Protocol: writing a 16-bit key to the selector port picks an item, whose bytes then come
//! one at a time from the data port. Key 0 is the signature `QEMU`; key 0x19 is the file
//! directory: a big-endian count, then per file its size, key and a 56-byte name.

use x86_64::instructions::port::Port;

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const SIGNATURE: u16 = 0x0000;
const FILE_DIR: u16 = 0x0019;
const NAME_LEN: usize = 56;

/// Picks the item `key` and returns a reader of its bytes.
fn select(key: u16) -> impl FnMut() -> u8 {
    // SAFETY: ports 0x510-0x511 belong to the fw_cfg device alone; nothing else in the kernel
    // touches them, and this runs at boot on one processor (`file` is called before the
    // others start).
    unsafe { Port::<u16>::new(SELECTOR).write(key) };
    let mut data = Port::<u8>::new(DATA);
    // SAFETY: as above; reading the data port only advances the device's offset.
    move || unsafe { data.read() }
}

fn read_u32(next: &mut impl FnMut() -> u8) -> u32 {
    u32::from_be_bytes([next(), next(), next(), next()])
}

/// Copies the fw_cfg file `name` into `out` and returns its size (at most `out.len()` bytes
/// are copied), or `None` if there is no such file or no fw_cfg device.
pub fn file(name: &str, out: &mut [u8]) -> Option<usize> {
    let mut signature = select(SIGNATURE);
    if [signature(), signature(), signature(), signature()] != *b"QEMU" {
        return None;
    }
    let mut dir = select(FILE_DIR);
    let count = read_u32(&mut dir);
    let mut found = None;
    for _ in 0..count {
        let size = read_u32(&mut dir);
        let key = u16::from_be_bytes([dir(), dir()]);
        let _reserved = [dir(), dir()];
        let mut entry = [0u8; NAME_LEN];
        entry.iter_mut().for_each(|b| *b = dir());
        let len = entry.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        if found.is_none() && &entry[..len] == name.as_bytes() {
            found = Some((key, size as usize));
        }
    }
    let (key, size) = found?;
    let mut data = select(key);
    out.iter_mut().take(size).for_each(|b| *b = data());
    Some(size)
}
