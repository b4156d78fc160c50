//! The gateway's allocator: mimalloc, asked through its plain entry points.
//!
//! The `mimalloc` crate (0.1.52) sends every allocation through `mi_malloc_aligned`, whatever
//! the alignment. With mimalloc v3 that path falls to `mi_theap_malloc_zero_aligned_at_generic`
//! (and its over-allocating variant) whenever the page's free list needs refilling, which in a
//! render that builds and drops a few hundred small values is two allocations in three:
//! callgrind counted about 108 instructions per allocation there against about 30 through
//! `mi_malloc`. Every block mimalloc hands out is aligned to at least 8 bytes (its size
//! classes are whole machine words), so an alignment of 8 or less goes to `mi_malloc` and only
//! larger alignments to the aligned calls. (The same rule `std`'s system allocator uses, with
//! its `MIN_ALIGN`.)

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Alignment every mimalloc block has.
const WORD: usize = 8;

/// mimalloc, with plain calls for word-aligned layouts.
pub struct Allocator;

// SAFETY: each method forwards to the mimalloc call with the same contract: `mi_malloc` and
// friends return blocks aligned to at least `WORD`, and the `_aligned` forms to the layout's
// alignment; `mi_free` accepts blocks from any of them.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi::mi_malloc(layout.size()).cast()
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi::mi_zalloc(layout.size()).cast()
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every size and alignment the gateway asks for come back aligned, zeroed
    /// when asked, and keep their bytes through a reallocation.
    #[test]
    fn blocks_are_aligned_zeroed_and_kept() {
        let a = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 12, 24, 40, 100, 1000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; the block is freed with its layout.
                unsafe {
                    let p = a.alloc_zeroed(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                    p.write_bytes(0xab, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                    assert!(std::slice::from_raw_parts(q, size)
                        .iter()
                        .all(|&b| b == 0xab));
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }
}
