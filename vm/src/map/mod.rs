//! Address maps: entries ordered by address and the index of free gaps.

mod entry;
pub mod gaps;
mod vmmap;

pub use entry::{MapEntry, MAX_WIRE_COUNT};
pub use vmmap::VmMap;
