//! Walking the pieces of an entry-list copy in page order.
//!
//! A copy may hold thousands of pieces and cover hundreds of thousands of pages; a search of
//! the pieces for every page (or every destination entry) costs their product. The cursor
//! moves forward only, so a walk that asks for pages in increasing order passes each piece
//! once: it costs the pieces plus the lookups.

use super::CopyPiece;

/// A forward-only cursor over the pieces of a copy (in order, covering it without gaps, as
/// the `VmMapCopy` invariant says).
pub(crate) struct PieceCursor<'a> {
    pieces: &'a [CopyPiece],
    /// The piece the last lookup ended on.
    at: usize,
    /// Pieces examined so far, for the work counters.
    visits: u64,
}

impl<'a> PieceCursor<'a> {
    /// A cursor on the first piece.
    pub fn new(pieces: &'a [CopyPiece]) -> Self {
        Self { pieces, at: 0, visits: 0 }
    }

    /// Pieces examined so far: at most twice the number of pieces plus two per lookup.
    pub fn visits(&self) -> u64 {
        self.visits
    }

    /// The piece holding page `index` of the copy.
    ///
    /// # Panics
    ///
    /// If `index` lies before the piece of an earlier lookup, or past the last piece (callers
    /// ask in increasing order, for pages of the copy: a broken invariant).
    pub fn piece_at(&mut self, index: u64) -> &'a CopyPiece {
        loop {
            let piece = &self.pieces[self.at];
            self.visits += 1;
            if index < piece.offset + piece.pages {
                assert!(piece.offset <= index, "pages asked for in increasing order");
                return piece;
            }
            self.at += 1;
        }
    }

    /// The pieces overlapping pages `[first, end)` of the copy (not empty, inside the copy),
    /// in order. The cursor stays on the last of them, which may reach past `end` into the
    /// next range asked for.
    pub fn overlapping(&mut self, first: u64, end: u64) -> &'a [CopyPiece] {
        self.piece_at(first);
        let from = self.at;
        while let Some(next) = self.pieces.get(self.at + 1) {
            self.visits += 1;
            if next.offset >= end {
                break;
            }
            self.at += 1;
        }
        &self.pieces[from..=self.at]
    }
}
