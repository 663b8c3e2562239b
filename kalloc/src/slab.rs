//! Slab caches of small blocks: per size class ([`crate::classes`]), slabs of one page each,
//! with the free objects of a slab in a list threaded through them.
//!
//! ```text
//!  class c:  partial ─▶ slab ⇄ slab ⇄ slab      (some objects free, some in use)
//!            empty cache: at most MAX_CACHED slabs with no object in use
//!            full slabs: in no list (found again from an object's address on free)
//! ```
//!
//! Allocation takes an object from the first partial slab (a cached empty slab, or a new
//! page, when there is none); an object is the slab's free-list head, or else the next object
//! never handed out (`fresh`), so a new slab costs no initialisation pass. Freeing finds the
//! slab by rounding the object's address down to its page, pushes the object on the slab's
//! list, and moves the slab between lists: a full slab becomes partial, a slab left empty
//! goes to the class's empty cache or, if that holds [`MAX_CACHED`] already, back to the
//! page source. Both are O(1).
//!
//! Invariants (checked by [`Slabs::check`]):
//! - a slab is on its class's partial list iff it has objects both free and in use;
//! - a cached slab has no object in use; a full slab is on no list;
//! - `pages` counts every slab held, cached ones included.

use crate::classes::{per_slab, size_of, CLASSES, SLAB_HEADER};
use crate::PAGE_SIZE;
use core::ptr::{null_mut, NonNull};

/// Empty slabs each class keeps rather than give back at once (so that a block allocated and
/// freed in turn at a slab's boundary does not take and return a page every time).
pub const MAX_CACHED: usize = 2;

/// Where slabs come from.
pub trait PageSource {
    /// A page: [`PAGE_SIZE`] bytes, aligned to [`PAGE_SIZE`], writable, and owned by the
    /// caller until given back; `None` when there is none.
    fn take(&self) -> Option<NonNull<u8>>;

    /// Takes back a page.
    ///
    /// # Safety
    ///
    /// `page` came from [`take`](Self::take) of this source and nothing uses it any more.
    unsafe fn give(&self, page: NonNull<u8>);
}

/// The start of every slab's page.
#[repr(C)]
struct SlabHeader {
    prev: *mut SlabHeader,
    next: *mut SlabHeader,
    /// Objects given back, linked through their first word.
    free: *mut FreeObject,
    /// Objects from this index on have never been handed out.
    fresh: u16,
    in_use: u16,
    class: u8,
}

const _: () = assert!(core::mem::size_of::<SlabHeader>() <= SLAB_HEADER);

/// A free object's first word.
struct FreeObject {
    next: *mut FreeObject,
}

#[derive(Clone, Copy)]
struct Class {
    partial: *mut SlabHeader,
    empty: [*mut SlabHeader; MAX_CACHED],
    cached: usize,
}

/// Every class's slabs.
pub struct Slabs {
    classes: [Class; CLASSES],
    pages: usize,
    /// Cached empty slabs of every class together (kept so that asking is O(1)).
    cached: usize,
}

// SAFETY: the raw pointers all refer to pages this value owns (taken from a page source and
// not given back); nothing else refers to those pages' headers, so the value may move to
// another thread with them.
unsafe impl Send for Slabs {}

impl Default for Slabs {
    fn default() -> Self {
        Self::new()
    }
}

impl Slabs {
    /// No slab yet.
    pub const fn new() -> Self {
        let class = Class { partial: null_mut(), empty: [null_mut(); MAX_CACHED], cached: 0 };
        Self { classes: [class; CLASSES], pages: 0, cached: 0 }
    }

    /// Pages held (slabs, cached ones included).
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Pages held as cached empty slabs.
    pub fn cached_pages(&self) -> usize {
        self.cached
    }

    /// An object of `class` ([`size_of`]`(class)` bytes, 16-byte aligned); `None` if a new
    /// slab was needed and `source` had no page.
    pub fn allocate(&mut self, source: &impl PageSource, class: usize) -> Option<NonNull<u8>> {
        let slab = match self.classes[class].partial {
            slab if !slab.is_null() => slab,
            _ => self.new_partial(source, class)?,
        };
        // SAFETY: `slab` is a partial slab of this class: a page this value owns, with a
        // valid header and at least one object free.
        unsafe {
            let object = take_object(slab, class);
            if usize::from((*slab).in_use) == per_slab(class) {
                self.unlink(class, slab);
            }
            Some(object)
        }
    }

    /// A cached empty slab or a new one, made the head of the class's partial list.
    fn new_partial(&mut self, source: &impl PageSource, class: usize) -> Option<*mut SlabHeader> {
        let c = &mut self.classes[class];
        let slab = if c.cached > 0 {
            c.cached -= 1;
            self.cached -= 1;
            c.empty[c.cached]
        } else {
            let page = source.take()?;
            self.pages += 1;
            page.as_ptr().cast::<SlabHeader>()
        };
        let header = SlabHeader { prev: null_mut(), next: null_mut(), free: null_mut(), fresh: 0, in_use: 0, class: class as u8 };
        // SAFETY: `slab` is a page this value owns with no object in use (cached or new), so
        // its header may be rewritten; pages are aligned, so the header is.
        unsafe {
            slab.write(header);
            self.push(class, slab);
        }
        Some(slab)
    }

    /// Takes back `object`.
    ///
    /// # Safety
    ///
    /// `object` came from [`allocate`](Self::allocate) of this value with this `class`, with
    /// this `source`, and is not used any more.
    pub unsafe fn deallocate(&mut self, source: &impl PageSource, object: NonNull<u8>, class: usize) {
        let slab = (object.as_ptr() as usize & !(PAGE_SIZE - 1)) as *mut SlabHeader;
        // SAFETY: per the contract, `object` lies in a slab of this class that this value
        // owns, whose header starts the page; the object is no longer used, so its first word
        // can link it.
        unsafe {
            debug_assert_eq!(usize::from((*slab).class), class, "freed with another class");
            let was_full = usize::from((*slab).in_use) == per_slab(class);
            let free = object.as_ptr().cast::<FreeObject>();
            free.write(FreeObject { next: (*slab).free });
            (*slab).free = free;
            (*slab).in_use -= 1;
            match ((*slab).in_use, was_full) {
                (0, true) => self.retire(source, class, slab),
                (0, false) => {
                    self.unlink(class, slab);
                    self.retire(source, class, slab);
                }
                (_, true) => self.push(class, slab),
                _ => {}
            }
        }
    }

    /// Caches the empty `slab` (on no list), or gives its page back if the cache is full.
    ///
    /// # Safety
    ///
    /// `slab` is an empty slab of `class` that this value owns, on no list.
    unsafe fn retire(&mut self, source: &impl PageSource, class: usize, slab: *mut SlabHeader) {
        let c = &mut self.classes[class];
        if c.cached < MAX_CACHED {
            c.empty[c.cached] = slab;
            c.cached += 1;
            self.cached += 1;
        } else {
            self.pages -= 1;
            // SAFETY: the slab's page came from `source` and no object in it is in use.
            unsafe { source.give(NonNull::new_unchecked(slab.cast())) };
        }
    }

    /// Gives every cached empty slab back.
    pub fn drain(&mut self, source: &impl PageSource) {
        for c in &mut self.classes {
            while c.cached > 0 {
                c.cached -= 1;
                self.cached -= 1;
                self.pages -= 1;
                // SAFETY: a cached slab is a page from `source` with no object in use, and
                // leaves the cache here.
                unsafe { source.give(NonNull::new_unchecked(c.empty[c.cached].cast())) };
            }
        }
    }

    /// # Safety
    ///
    /// `slab` is a slab of `class` that this value owns, on no list.
    unsafe fn push(&mut self, class: usize, slab: *mut SlabHeader) {
        let head = self.classes[class].partial;
        // SAFETY: `slab` and `head` (if any) are slabs this value owns with valid headers.
        unsafe {
            (*slab).prev = null_mut();
            (*slab).next = head;
            if !head.is_null() {
                (*head).prev = slab;
            }
        }
        self.classes[class].partial = slab;
    }

    /// # Safety
    ///
    /// `slab` is on `class`'s partial list.
    unsafe fn unlink(&mut self, class: usize, slab: *mut SlabHeader) {
        // SAFETY: `slab` and its neighbours are slabs of the list, owned by this value.
        unsafe {
            let (prev, next) = ((*slab).prev, (*slab).next);
            if prev.is_null() {
                self.classes[class].partial = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*slab).prev = null_mut();
            (*slab).next = null_mut();
        }
    }

    /// Verifies the invariants in the module documentation (partial lists and caches; full
    /// slabs are not reachable). Returns the number of slabs on partial lists.
    ///
    /// # Panics
    ///
    /// If one does not hold.
    pub fn check(&self) -> usize {
        let mut partial = 0;
        for (class, c) in self.classes.iter().enumerate() {
            let (mut slab, mut prev) = (c.partial, null_mut());
            while !slab.is_null() {
                // SAFETY: slabs on the list are pages this value owns.
                let h = unsafe { &*slab };
                assert_eq!(usize::from(h.class), class, "slab on another class's list");
                assert!(h.in_use > 0 && usize::from(h.in_use) < per_slab(class), "partial slab neither empty nor full");
                assert_eq!(h.prev, prev, "broken back link");
                (prev, slab, partial) = (slab, h.next, partial + 1);
            }
            assert!(c.cached <= MAX_CACHED);
        }
        assert_eq!(self.cached, self.classes.iter().map(|c| c.cached).sum::<usize>(), "cached count");
        assert!(self.cached_pages() + partial <= self.pages, "more slabs listed than held");
        partial
    }
}

/// Hands out one free object of `slab`.
///
/// # Safety
///
/// `slab` is a slab of `class` with at least one object free.
unsafe fn take_object(slab: *mut SlabHeader, class: usize) -> NonNull<u8> {
    // SAFETY: per the contract; free-list entries are objects of this slab, and a fresh
    // object lies inside the page because fewer than `per_slab(class)` are in use or listed.
    unsafe {
        let h = &mut *slab;
        let object = if h.free.is_null() {
            debug_assert!(usize::from(h.fresh) < per_slab(class));
            let object = slab.cast::<u8>().add(SLAB_HEADER + usize::from(h.fresh) * size_of(class));
            h.fresh += 1;
            object
        } else {
            let object = h.free;
            h.free = (*object).next;
            object.cast()
        };
        h.in_use += 1;
        NonNull::new_unchecked(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::{class_of, CLASS_SIZES};
    use proptest::prelude::*;
    use std::alloc::{alloc, dealloc, Layout};
    use std::cell::Cell;

    /// Pages from the host allocator, counted.
    struct HostPages {
        out: Cell<usize>,
        limit: usize,
    }

    const PAGE: Layout = match Layout::from_size_align(PAGE_SIZE, PAGE_SIZE) {
        Ok(l) => l,
        Err(_) => panic!(),
    };

    impl PageSource for HostPages {
        fn take(&self) -> Option<NonNull<u8>> {
            if self.out.get() == self.limit {
                return None;
            }
            self.out.set(self.out.get() + 1);
            // SAFETY: a non-zero-sized layout.
            NonNull::new(unsafe { alloc(PAGE) })
        }

        unsafe fn give(&self, page: NonNull<u8>) {
            self.out.set(self.out.get() - 1);
            // SAFETY: allocated by `take` with this layout.
            unsafe { dealloc(page.as_ptr(), PAGE) };
        }
    }

    fn fill(object: NonNull<u8>, class: usize, byte: u8) {
        // SAFETY: the object is `size_of(class)` bytes owned by the test.
        unsafe { core::ptr::write_bytes(object.as_ptr(), byte, size_of(class)) };
    }

    fn holds(object: NonNull<u8>, class: usize, byte: u8) -> bool {
        // SAFETY: as in `fill`.
        unsafe { core::slice::from_raw_parts(object.as_ptr(), size_of(class)) }.iter().all(|&b| b == byte)
    }

    #[test]
    fn a_page_source_running_dry_fails_cleanly() {
        let source = HostPages { out: Cell::new(0), limit: 1 };
        let mut slabs = Slabs::new();
        let class = class_of(2032).unwrap();
        let a = slabs.allocate(&source, class).unwrap();
        let b = slabs.allocate(&source, class).unwrap();
        assert!(slabs.allocate(&source, class).is_none());
        // SAFETY: allocated above with this class, no longer used.
        unsafe {
            slabs.deallocate(&source, a, class);
            slabs.deallocate(&source, b, class);
        }
        assert_eq!((slabs.pages(), slabs.cached_pages()), (1, 1));
        slabs.drain(&source);
        assert_eq!(source.out.get(), 0);
    }

    #[test]
    fn empty_slabs_beyond_the_cache_go_back() {
        let source = HostPages { out: Cell::new(0), limit: usize::MAX };
        let mut slabs = Slabs::new();
        let objects: Vec<_> = (0..10 * per_slab(0)).map(|_| slabs.allocate(&source, 0).unwrap()).collect();
        assert_eq!(source.out.get(), 10);
        for o in objects {
            // SAFETY: allocated above with class 0, no longer used.
            unsafe { slabs.deallocate(&source, o, 0) };
        }
        assert_eq!(source.out.get(), MAX_CACHED);
        slabs.drain(&source);
        assert_eq!(source.out.get(), 0);
    }

    proptest! {
        #[test]
        fn objects_are_disjoint_keep_their_contents_and_every_page_comes_back(
            ops in proptest::collection::vec((0usize..CLASS_SIZES.len(), any::<bool>(), any::<usize>()), 1..600)
        ) {
            let source = HostPages { out: Cell::new(0), limit: usize::MAX };
            let mut slabs = Slabs::new();
            let mut live: Vec<(NonNull<u8>, usize, u8)> = Vec::new();
            for (n, (class, free_one, pick)) in ops.into_iter().enumerate() {
                if free_one && !live.is_empty() {
                    let (o, class, byte) = live.swap_remove(pick % live.len());
                    prop_assert!(holds(o, class, byte), "object overwritten");
                    // SAFETY: allocated with this class, no longer used.
                    unsafe { slabs.deallocate(&source, o, class) };
                } else {
                    let o = slabs.allocate(&source, class).unwrap();
                    prop_assert_eq!(o.as_ptr() as usize % 16, 0);
                    fill(o, class, n as u8);
                    live.push((o, class, n as u8));
                }
                slabs.check();
                prop_assert_eq!(source.out.get(), slabs.pages());
            }
            for (o, class, byte) in live.drain(..) {
                prop_assert!(holds(o, class, byte), "object overwritten");
                // SAFETY: as above.
                unsafe { slabs.deallocate(&source, o, class) };
            }
            prop_assert_eq!(slabs.check(), 0);
            prop_assert_eq!(slabs.pages(), slabs.cached_pages());
            prop_assert!(slabs.pages() <= MAX_CACHED * CLASS_SIZES.len());
            slabs.drain(&source);
            prop_assert_eq!(source.out.get(), 0);
        }
    }
}
