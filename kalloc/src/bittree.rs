//! Hierarchical bitmaps: a set of bits with a summary level per 64 words, so that the lowest
//! set bit is found in O(levels) (levels = ⌈log₆₄ bits⌉, at most [`MAX_LEVELS`]).
//!
//! ```text
//!  level 2   [1 word ]                       bit w set ⇔ word w of level 1 is non-zero
//!  level 1   [word 0 ][word 1 ] …            bit w set ⇔ word w of level 0 is non-zero
//!  level 0   [word 0 ][word 1 ][word 2 ] …   the bits themselves
//! ```
//!
//! A tree is a [`TreeShape`] (where each level lies) over a slice of words that the caller
//! owns; several trees can share one slice at different offsets ([`crate::buddy`]).

/// Most levels of a tree: up to 64⁶ bits.
pub const MAX_LEVELS: usize = 6;

/// Where the levels of a tree of `bits` bits lie in its words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeShape {
    bits: u64,
    depth: usize,
    /// First word of each level, level 0 first; the top level is one word.
    offsets: [usize; MAX_LEVELS],
    words: usize,
}

impl TreeShape {
    /// The shape of a tree of `bits` bits (at least 1).
    ///
    /// # Panics
    ///
    /// If `bits` needs more than [`MAX_LEVELS`] levels.
    pub const fn new(bits: u64) -> Self {
        let mut shape = Self { bits, depth: 0, offsets: [0; MAX_LEVELS], words: 0 };
        let mut level_words = bits.div_ceil(64);
        loop {
            assert!(shape.depth < MAX_LEVELS, "too many bits for a tree");
            let level_words_clamped = if level_words == 0 { 1 } else { level_words };
            shape.offsets[shape.depth] = shape.words;
            shape.words += level_words_clamped as usize;
            shape.depth += 1;
            if level_words_clamped == 1 {
                return shape;
            }
            level_words = level_words_clamped.div_ceil(64);
        }
    }

    /// Words the tree needs.
    pub const fn words(&self) -> usize {
        self.words
    }

    /// Bits in the tree.
    pub const fn bits(&self) -> u64 {
        self.bits
    }
}

/// A tree over its words (all clear when the words are zero).
pub struct BitTree<'a> {
    shape: TreeShape,
    words: &'a mut [u64],
}

impl<'a> BitTree<'a> {
    /// The tree of `shape` kept in `words`.
    ///
    /// # Panics
    ///
    /// If `words` is shorter than the shape needs.
    pub fn new(shape: TreeShape, words: &'a mut [u64]) -> Self {
        assert!(words.len() >= shape.words, "storage too small for the tree");
        Self { shape, words }
    }

    fn word(&mut self, level: usize, index: u64) -> &mut u64 {
        &mut self.words[self.shape.offsets[level] + index as usize]
    }

    /// Sets bit `i` (below `bits`).
    pub fn set(&mut self, mut i: u64) {
        debug_assert!(i < self.shape.bits);
        for level in 0..self.shape.depth {
            let word = self.word(level, i / 64);
            let was_empty = *word == 0;
            *word |= 1 << (i % 64);
            if !was_empty {
                return;
            }
            i /= 64;
        }
    }

    /// Clears bit `i` (below `bits`).
    pub fn clear(&mut self, mut i: u64) {
        debug_assert!(i < self.shape.bits);
        for level in 0..self.shape.depth {
            let word = self.word(level, i / 64);
            *word &= !(1 << (i % 64));
            if *word != 0 {
                return;
            }
            i /= 64;
        }
    }

    /// Whether bit `i` is set.
    pub fn get(&self, i: u64) -> bool {
        i < self.shape.bits && self.words[self.shape.offsets[0] + (i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// The lowest set bit, if any.
    pub fn first(&self) -> Option<u64> {
        let mut index = 0u64;
        for level in (0..self.shape.depth).rev() {
            let word = self.words[self.shape.offsets[level] + index as usize];
            if word == 0 {
                return None;
            }
            index = index * 64 + u64::from(word.trailing_zeros());
        }
        Some(index)
    }

    /// Checks that every summary bit is set exactly when its word below is non-zero.
    ///
    /// # Panics
    ///
    /// If one is not.
    pub fn check(&self) {
        for level in 1..self.shape.depth {
            let below = self.shape.offsets[level - 1];
            let below_words = self.shape.offsets[level] - below;
            for w in 0..below_words {
                let summary = self.words[self.shape.offsets[level] + w / 64] & (1 << (w % 64)) != 0;
                assert_eq!(summary, self.words[below + w] != 0, "summary of level {level} word {w}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn shapes() {
        assert_eq!(TreeShape::new(1).words(), 1);
        assert_eq!(TreeShape::new(64).words(), 1);
        assert_eq!(TreeShape::new(65).words(), 3);
        assert_eq!(TreeShape::new(64 * 64).words(), 64 + 1);
        assert_eq!(TreeShape::new(1 << 26).words(), (1 << 20) + (1 << 14) + (1 << 8) + 4 + 1);
    }

    proptest! {
        #[test]
        fn behaves_as_a_set(bits in 1u64..20_000, ops in proptest::collection::vec((any::<bool>(), any::<u64>()), 0..400)) {
            let shape = TreeShape::new(bits);
            let mut words = vec![0u64; shape.words()];
            let mut tree = BitTree::new(shape, &mut words);
            let mut model = BTreeSet::new();
            for (set, i) in ops {
                let i = i % bits;
                if set { tree.set(i); model.insert(i); } else { tree.clear(i); model.remove(&i); }
                prop_assert_eq!(tree.first(), model.first().copied());
                prop_assert_eq!(tree.get(i), model.contains(&i));
            }
            tree.check();
        }
    }
}
