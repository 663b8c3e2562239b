//! The frame budget: how the free frames are split between the kernel heap and everything
//! else (tasks' memory, page tables, kernel stacks: the *VM side*).
//!
//! The heap may take any free frame. The VM side may take a frame only while more than the
//! *floor* are free:
//!
//! ```text
//!  floor = max(ratchet, keep − heap frames)
//! ```
//!
//! - `keep`: frames the kernel keeps for itself, heap and free together, whatever tasks do.
//!   While the heap holds fewer than `keep − reserve` frames (the calm regime), the floor is
//!   `keep − heap` and what the VM side may take (`free − floor = free + heap − keep`) does
//!   not change when the heap grows or shrinks: tasks see a steady count.
//! - `reserve`: once the heap has grown past that, the VM side still leaves `reserve` frames
//!   free for the heap (and `keep` no longer binds).
//! - `ratchet`: the reserve as it stands within one VM operation. An operation counts the
//!   frames it needs first and relies on them afterwards (`vm::Vm::check_frames`), while its
//!   own heap allocations may take frames in between. The ratchet is set to `reserve` when an
//!   operation starts ([`FrameBudget::operation_starts`]) and every frame the heap takes lowers
//!   it by one, so the heap's growth comes out of the reserve, not out of the frames the VM
//!   counted: up to `reserve` frames of heap growth, what the VM side may take never drops
//!   during an operation (checked by the tests below). A page fault, which allocates little
//!   from the heap, may go deeper: it starts with half the reserve
//!   ([`FrameBudget::fault_starts`]), so that tasks' faults still find frames once calls
//!   have filled the heap up to the reserve.

/// The budget's counters (the free count itself is the frame allocator's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameBudget {
    reserve: u64,
    keep: u64,
    ratchet: u64,
    heap: u64,
}

impl FrameBudget {
    /// A budget leaving `reserve` frames to the heap at least, and `keep` frames (heap and
    /// free) while the heap is small; `keep` is raised to `reserve` if lower.
    pub const fn new(reserve: u64, keep: u64) -> Self {
        let keep = if keep < reserve { reserve } else { keep };
        Self { reserve, keep, ratchet: reserve, heap: 0 }
    }

    /// Frames the VM side must leave free.
    pub fn floor(&self) -> u64 {
        self.ratchet.max(self.keep.saturating_sub(self.heap))
    }

    /// Frames the VM side may take when `free` frames are free.
    pub fn available(&self, free: u64) -> u64 {
        free.saturating_sub(self.floor())
    }

    /// Frames the heap holds.
    pub fn heap_frames(&self) -> u64 {
        self.heap
    }

    /// The reserve.
    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// The heap took a frame.
    pub fn heap_took(&mut self) {
        self.heap += 1;
        self.ratchet = self.ratchet.saturating_sub(1);
    }

    /// The heap gave a frame back.
    ///
    /// # Panics
    ///
    /// If the heap holds none.
    pub fn heap_gave(&mut self) {
        self.heap = self.heap.checked_sub(1).expect("the heap gave back a frame it did not hold");
    }

    /// A VM operation starts: the whole reserve stands again.
    pub fn operation_starts(&mut self) {
        self.ratchet = self.reserve;
    }

    /// A page fault starts: half the reserve stands.
    pub fn fault_starts(&mut self) {
        self.ratchet = self.reserve / 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn calm_regime_hides_the_heap() {
        let mut b = FrameBudget::new(100, 300);
        let free = 1000;
        assert_eq!(b.available(free), 700);
        for taken in 1..=150 {
            b.heap_took();
            b.operation_starts();
            assert_eq!(b.available(free - taken), 700, "the heap grows inside what the kernel keeps");
        }
    }

    #[test]
    fn faults_may_use_half_the_reserve() {
        let mut b = FrameBudget::new(100, 300);
        for _ in 0..400 {
            b.heap_took();
        }
        b.fault_starts();
        assert_eq!(b.available(80), 30);
        b.operation_starts();
        assert_eq!(b.available(80), 0);
    }

    #[test]
    fn past_keep_the_reserve_still_stands() {
        let mut b = FrameBudget::new(100, 300);
        for _ in 0..250 {
            b.heap_took();
        }
        b.operation_starts();
        assert_eq!(b.floor(), 100);
        assert_eq!(b.available(750), 650);
    }

    proptest! {
        /// Frames counted at the start of an operation stay available while the heap takes
        /// up to `reserve` frames (and gives any back) during the operation.
        #[test]
        fn counted_frames_stay_available(heap0 in 0u64..600, free0 in 0u64..2000, steps in proptest::collection::vec(0u8..3, 0..200)) {
            let reserve = 100;
            let mut b = FrameBudget::new(reserve, 300);
            for _ in 0..heap0 { b.heap_took(); }
            b.operation_starts();
            let mut free = free0;
            let counted = b.available(free);
            let mut vm_took = 0;
            let mut heap_took = 0;
            for step in steps {
                match step {
                    0 if heap_took < reserve && free > 0 => { b.heap_took(); free -= 1; heap_took += 1; }
                    1 if b.heap_frames() > 0 => { b.heap_gave(); free += 1; }
                    2 if vm_took < counted => {
                        prop_assert!(b.available(free) > 0, "a counted frame was refused");
                        free -= 1;
                        vm_took += 1;
                    }
                    _ => {}
                }
                prop_assert!(b.available(free) + vm_took >= counted);
            }
        }
    }
}
