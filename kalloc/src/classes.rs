//! Size classes of small blocks.
//!
//! A slab is one page: a [`SLAB_HEADER`]-byte header, then objects of one class, each
//! 16-byte aligned (class sizes are multiples of 16 and the header's size is too):
//!
//! ```text
//!  page ┌ header (32 B) ┬ object 0 ┬ object 1 ┬ … ┬ object n-1 ┬ tail (< one object) ┐
//! ```
//!
//! Classes go by 16 bytes up to 256 (at most 15 bytes lost to rounding per block), then by
//! how many objects a slab holds (the largest size that fits `n` objects, for `n` from 16 down
//! to 2), so that no slab of the larger classes wastes more than one object's rounding. The
//! largest class is [`MAX_SMALL`] (2032 bytes: two per slab); anything larger is a large
//! block.

use crate::PAGE_SIZE;

/// Bytes of a slab's header (see `slab`), 16-byte aligned.
pub const SLAB_HEADER: usize = 32;

/// Bytes of a slab available to objects.
pub const SLAB_SPACE: usize = PAGE_SIZE - SLAB_HEADER;

/// Alignment of every object.
pub const OBJECT_ALIGN: usize = 16;

/// The class sizes, increasing.
pub const CLASS_SIZES: [usize; 29] = [
    16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, // by 16
    288, 304, 336, 368, 400, 448, 496, 576, 672, 800, 1008, 1344, 2032, // 14 … 2 per slab
];

/// Number of classes.
pub const CLASSES: usize = CLASS_SIZES.len();

/// The largest small block.
pub const MAX_SMALL: usize = CLASS_SIZES[CLASSES - 1];

/// Class of each size rounded up to 16, indexed by `size / 16` (size 0 counts as 16).
const BY_SIXTEENTHS: [u8; MAX_SMALL / 16 + 1] = {
    let mut table = [0u8; MAX_SMALL / 16 + 1];
    let (mut i, mut class) = (0, 0);
    while i < table.len() {
        while CLASS_SIZES[class] < i * 16 {
            class += 1;
        }
        table[i] = class as u8;
        i += 1;
    }
    table
};

/// The class of a block of `size` bytes (alignment at most [`OBJECT_ALIGN`]), or `None` if it
/// is larger than [`MAX_SMALL`]. O(1).
pub fn class_of(size: usize) -> Option<usize> {
    (size <= MAX_SMALL).then(|| usize::from(BY_SIXTEENTHS[size.div_ceil(16)]))
}

/// Bytes of an object of `class`.
pub fn size_of(class: usize) -> usize {
    CLASS_SIZES[class]
}

/// Objects in one slab of `class`.
pub fn per_slab(class: usize) -> usize {
    SLAB_SPACE / CLASS_SIZES[class]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_increase_and_are_aligned() {
        assert!(CLASS_SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(CLASS_SIZES.iter().all(|s| s % OBJECT_ALIGN == 0));
        assert_eq!(SLAB_HEADER % OBJECT_ALIGN, 0);
    }

    #[test]
    fn every_size_gets_the_smallest_class_that_holds_it() {
        for size in 0..=MAX_SMALL {
            let class = class_of(size).expect("small");
            assert!(size_of(class) >= size, "size {size}");
            assert!(class == 0 || size_of(class - 1) < size, "size {size} could use a smaller class");
        }
        assert_eq!(class_of(MAX_SMALL + 1), None);
        assert_eq!(class_of(usize::MAX), None);
    }

    #[test]
    fn rounding_and_slab_tails_waste_little() {
        for class in 0..CLASSES {
            let size = size_of(class);
            assert!(per_slab(class) >= 2, "class {size} holds two objects");
            if size > 256 {
                // The largest size that fits this many objects: a slab's tail is less than
                // 16 bytes per object.
                assert!((size + 16) * per_slab(class) > SLAB_SPACE, "class {size} could be larger");
                assert!(per_slab(class - 1) > per_slab(class), "class {size}: one class per count");
            }
        }
    }
}
