//! A cache-line padded cell, so that counters written by different shards never share a line.

use std::ops::Deref;

/// `T` alone on its own 128-byte block (two 64-byte lines: adjacent-line prefetchers on x86
/// pull pairs of lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
