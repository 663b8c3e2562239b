//! Leaf and intermediate page-table entry bits for user mappings.

use machvm::pmap::{Cache, Wiring};
use machvm::Prot;
use x86_64::structures::paging::PageTableFlags as F;

/// Software bit marking a wired leaf mapping.
pub const WIRED: F = F::BIT_9;

/// Flags of an intermediate (non-leaf) user table entry: rights are decided at the leaf.
pub const TABLE: F = F::PRESENT.union(F::WRITABLE).union(F::USER_ACCESSIBLE);

/// The leaf flags for a user mapping with `prot`; `prot` is not empty.
pub fn leaf_flags(prot: Prot, wiring: Wiring, no_execute: bool) -> F {
    let mut flags = F::PRESENT | F::USER_ACCESSIBLE;
    if prot.contains(Prot::WRITE) {
        flags |= F::WRITABLE;
    }
    if no_execute && !prot.contains(Prot::EXECUTE) {
        flags |= F::NO_EXECUTE;
    }
    if wiring == Wiring::Wired {
        flags |= WIRED;
    }
    flags
}

/// The bits of a 4 KiB leaf that pick its memory type from the PAT: PWT, PCD and PAT (bit 7).
pub const CACHE_BITS: F = F::WRITE_THROUGH.union(F::NO_CACHE).union(F::HUGE_PAGE);

/// The cache bits for `cache`, with the PAT as [`PAT`](crate::mmu::PAT) programs it: entry 0
/// write-back, entry 1 write-combining, entry 3 uncached.
pub fn cache_flags(cache: Cache) -> F {
    match cache {
        Cache::WriteBack => F::empty(),
        Cache::WriteCombining => F::WRITE_THROUGH,
        Cache::Uncached => F::WRITE_THROUGH.union(F::NO_CACHE),
    }
}

/// The caching a leaf's cache bits select.
pub fn cache_of(flags: F) -> Cache {
    match (flags & CACHE_BITS).bits() {
        0 => Cache::WriteBack,
        bits if bits == F::WRITE_THROUGH.bits() => Cache::WriteCombining,
        _ => Cache::Uncached,
    }
}

/// The rights a present leaf grants: read always (x86 cannot express less), write and execute
/// as its bits say.
pub fn granted(flags: F, no_execute: bool) -> Prot {
    let mut prot = Prot::READ;
    if flags.contains(F::WRITABLE) {
        prot |= Prot::WRITE;
    }
    if !(no_execute && flags.contains(F::NO_EXECUTE)) {
        prot |= Prot::EXECUTE;
    }
    prot
}

/// Whether a leaf's flags mark it wired.
pub fn wiring(flags: F) -> Wiring {
    if flags.contains(WIRED) {
        Wiring::Wired
    } else {
        Wiring::Pageable
    }
}

/// The leaf flags after lowering its rights to `granted ∩ prot` (`None`: nothing left, remove).
pub fn lowered(flags: F, prot: Prot, no_execute: bool) -> Option<F> {
    let rights = granted(flags, no_execute) & prot;
    if rights.is_empty() {
        return None;
    }
    let mut new = flags;
    if !rights.contains(Prot::WRITE) {
        new.remove(F::WRITABLE);
    }
    if no_execute && !rights.contains(Prot::EXECUTE) {
        new.insert(F::NO_EXECUTE);
    }
    Some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_bits_follow_the_protection() {
        let rw = leaf_flags(Prot::DEFAULT, Wiring::Pageable, true);
        assert!(rw.contains(F::PRESENT | F::USER_ACCESSIBLE | F::WRITABLE | F::NO_EXECUTE));
        let rx = leaf_flags(Prot::READ | Prot::EXECUTE, Wiring::Wired, true);
        assert!(!rx.contains(F::WRITABLE) && !rx.contains(F::NO_EXECUTE) && rx.contains(WIRED));
        assert_eq!(granted(rw, true), Prot::DEFAULT);
        assert_eq!(granted(rx, true), Prot::READ | Prot::EXECUTE);
        assert_eq!(granted(leaf_flags(Prot::WRITE, Wiring::Pageable, true), true), Prot::DEFAULT);
    }

    #[test]
    fn cache_bits_round_trip() {
        for cache in [Cache::WriteBack, Cache::WriteCombining, Cache::Uncached] {
            assert_eq!(cache_of(leaf_flags(Prot::DEFAULT, Wiring::Pageable, true) | cache_flags(cache)), cache);
        }
        let device = leaf_flags(Prot::ALL, Wiring::Pageable, true) | cache_flags(Cache::Uncached);
        assert_eq!(lowered(device, Prot::READ, true).map(cache_of), Some(Cache::Uncached), "lowering keeps the type");
    }

    #[test]
    fn lowering_only_removes_rights() {
        let all = leaf_flags(Prot::ALL, Wiring::Pageable, true);
        assert_eq!(lowered(all, Prot::READ, true).map(|f| granted(f, true)), Some(Prot::READ));
        assert_eq!(lowered(all, Prot::NONE, true), None);
        let ro = leaf_flags(Prot::READ, Wiring::Pageable, true);
        assert_eq!(lowered(ro, Prot::ALL, true), Some(ro));
        assert_eq!(lowered(ro, Prot::WRITE, true), None);
    }
}
