//! The test binary's allocator: the system's, counting live heap bytes and their peak, per thread,
//! for `memory` to measure with (bytes, not time).
//!
//! Every test in the binary allocates through it, in parallel; counting per thread keeps one
//! test's measure free of the others' allocations. The counters are `const`-initialised
//! thread-local `Cell`s without a destructor: reading them never allocates nor registers anything
//! (an allocator must not allocate), and they stay readable while a thread exits. A test that
//! measures does all its work on a current-thread runtime, so every allocation of that work (the
//! client, its connections, the server task feeding it) is counted on its thread, as the old
//! process-wide counters counted them.
//!
//! Only `alloc` and `dealloc` are written, as before: the default `realloc` goes through them
//! (allocate, copy, free), so a growing buffer counts old and new at once, and the figures match
//! the process-wide allocator this replaced.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Bytes allocated on this thread minus bytes freed on it (negative if it frees more than it
    /// allocated, e.g. memory another thread allocated).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The most `LIVE` has been since [`start_peak`].
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add_unsigned(n);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().wrapping_sub_unsigned(n)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts a measure on this thread: the peak is reset to what is live now, which is returned.
pub fn start_peak() -> isize {
    let now = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(now));
    now
}

/// How far this thread's live bytes rose above `baseline` (from [`start_peak`]) since then.
pub fn peak_growth(baseline: isize) -> usize {
    let peak = PEAK.with(Cell::get);
    usize::try_from(peak.saturating_sub(baseline)).unwrap_or(0)
}
