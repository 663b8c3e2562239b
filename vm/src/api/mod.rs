//! The boundary with Mach callers: result codes and range sanitizing.
//!
//! System calls follow one pattern: **sanitize** the raw arguments into types that cannot
//! hold a bad value (this module), **operate** on the [`Vm`](crate::Vm), and turn the outcome
//! into a [`KernReturn`].

mod kern;
mod sanitize;

pub use kern::KernReturn;
pub use sanitize::{sanitize, MapRange, RangeError, Sanitized, USER_MAX, USER_MIN};
