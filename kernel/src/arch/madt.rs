//! The processors the firmware lists: the ACPI MADT ("APIC" table), found from the RSDP the
//! bootloader passes, read through the direct map.
//!
//! Only what starting the processors needs is parsed (local APIC entries, xAPIC and x2APIC
//! forms); every table's checksum and length are checked before it is read, and a table that
//! fails is ignored (the kernel then runs on the boot processor alone).

use crate::memory::phys_to_virt;
use alloc::vec::Vec;
use x86_64::PhysAddr;

const HEADER: usize = 36;
const ENABLED: u32 = 1;
const ONLINE_CAPABLE: u32 = 2;

/// Bytes of physical memory at `addr`.
fn bytes(addr: u64, len: usize) -> &'static [u8] {
    // SAFETY: ACPI tables lie in memory the direct map covers (the firmware's reclaimable or
    // NVS ranges below 4 GiB), which nothing writes while the kernel runs.
    unsafe { core::slice::from_raw_parts(phys_to_virt(PhysAddr::new(addr)).as_ptr(), len) }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn sums_to_zero(b: &[u8]) -> bool {
    b.iter().fold(0u8, |sum, &x| sum.wrapping_add(x)) == 0
}

/// The system description table at `addr`, whole, if its header and checksum are sound.
fn table(addr: u64) -> Option<&'static [u8]> {
    let length = u32_at(bytes(addr, HEADER), 4) as usize;
    (HEADER..1 << 20).contains(&length).then(|| bytes(addr, length)).filter(|t| sums_to_zero(t))
}

/// The tables the root table (RSDT or XSDT) lists.
fn tables(rsdp: u64) -> Option<Vec<&'static [u8]>> {
    let head = bytes(rsdp, 20);
    if &head[..8] != b"RSD PTR " || !sums_to_zero(head) {
        return None;
    }
    let (root, width) = if head[15] >= 2 { (u64_at(bytes(rsdp, 36), 24), 8) } else { (u64::from(u32_at(head, 16)), 4) };
    let root = table(root)?;
    let entries = root[HEADER..].chunks_exact(width);
    Some(entries.filter_map(|e| table(if width == 8 { u64_at(e, 0) } else { u64::from(u32_at(e, 0)) })).collect())
}

/// The APIC ids of the usable processors the MADT lists, in its order (the boot processor's
/// among them), or `None` without a sound MADT.
pub fn processors(rsdp: u64) -> Option<Vec<u32>> {
    let madt = tables(rsdp)?.into_iter().find(|t| &t[..4] == b"APIC")?;
    let mut ids = Vec::new();
    let mut at = HEADER + 8;
    while at + 2 <= madt.len() {
        let (kind, len) = (madt[at], usize::from(madt[at + 1]));
        if len < 2 || at + len > madt.len() {
            break;
        }
        let entry = &madt[at..at + len];
        match (kind, len) {
            (0, 8) if u32_at(entry, 4) & (ENABLED | ONLINE_CAPABLE) != 0 => ids.push(u32::from(entry[3])),
            (9, 16) if u32_at(entry, 8) & (ENABLED | ONLINE_CAPABLE) != 0 => ids.push(u32_at(entry, 4)),
            _ => {}
        }
        at += len;
    }
    Some(ids)
}
