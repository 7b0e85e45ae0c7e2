//! The soak run with its memory split: the sandbox world served from a runtime of its own
//! and a counting allocator that charges every allocation to the side whose thread made it
//! (kept in a small header, so a block freed on the other side is still taken off its
//! owner). It prints the soak's table with shipdeck's live heap beside the sandbox's, which
//! RSS alone, one process for both, cannot show.
//!
//! `cargo run --release --example soak_heap -- [HOURS]` (6 by default).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};

use shipdeck::soak::checks::HeapSplit;
use shipdeck::soak::{SoakOptions, run};

/// Which side a thread allocates for.
const SHIPDECK: u8 = 0;
const SANDBOX: u8 = 1;

thread_local! {
    static SIDE: Cell<u8> = const { Cell::new(SHIPDECK) };
}

/// Live bytes per side.
static LIVE: [AtomicI64; 2] = [AtomicI64::new(0), AtomicI64::new(0)];

/// The header before each block: big enough for the side and the block's alignment.
fn header(layout: Layout) -> usize {
    layout.align().max(16)
}

/// The block as asked of the system: the header, then what the caller asked for.
fn with_header(layout: Layout) -> Option<Layout> {
    Layout::from_size_align(layout.size().checked_add(header(layout))?, header(layout)).ok()
}

struct SplitCounter;

// SAFETY: every block handed out is `header(layout)` bytes into a block of the system
// allocator of layout `with_header(layout)`, and every free and resize undoes exactly that.
unsafe impl GlobalAlloc for SplitCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(full) = with_header(layout) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `full` has a non-zero size (the header).
        let base = unsafe { System.alloc(full) };
        if base.is_null() {
            return base;
        }
        let side = SIDE.try_with(Cell::get).unwrap_or(SHIPDECK);
        // SAFETY: the header is inside the block and at least 16 bytes.
        unsafe { base.write(side) };
        LIVE[usize::from(side)].fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: within the block.
        unsafe { base.add(header(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        let base = unsafe { ptr.sub(header(layout)) };
        let side = unsafe { base.read() };
        LIVE[usize::from(side & 1)].fetch_sub(layout.size() as i64, Ordering::Relaxed);
        if let Some(full) = with_header(layout) {
            // SAFETY: the block was allocated with `full`.
            unsafe { System.dealloc(base, full) };
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (Some(full), Some(new_full)) =
            (with_header(layout), new_size.checked_add(header(layout)))
        else {
            return std::ptr::null_mut();
        };
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        let base = unsafe { ptr.sub(header(layout)) };
        let side = unsafe { base.read() };
        // SAFETY: same block and alignment, the header moves along with the data.
        let moved = unsafe { System.realloc(base, full, new_full) };
        if moved.is_null() {
            return moved;
        }
        LIVE[usize::from(side & 1)]
            .fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: within the block.
        unsafe { moved.add(header(layout)) }
    }
}

#[global_allocator]
static ALLOCATOR: SplitCounter = SplitCounter;

fn live_kib(side: u8) -> u64 {
    (LIVE[usize::from(side)].load(Ordering::Relaxed).max(0) / 1024) as u64
}

fn heap_split() -> HeapSplit {
    HeapSplit {
        shipdeck_kib: live_kib(SHIPDECK),
        sandbox_kib: live_kib(SANDBOX),
    }
}

fn main() -> ExitCode {
    let hours = std::env::args()
        .nth(1)
        .and_then(|h| h.parse().ok())
        .unwrap_or(6);
    let sandbox_runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sandbox")
        .on_thread_start(|| SIDE.with(|side| side.set(SANDBOX)))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("soak_heap: no runtime for the sandbox: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("soak_heap: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = SoakOptions {
        sandbox_runtime: Some(sandbox_runtime.handle().clone()),
        heap_probe: Some(heap_split),
        ..SoakOptions::hours(hours)
    };
    match runtime.block_on(run(&options)) {
        Ok(report) => {
            print!("{}", report.table());
            if report.all_targets_met() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("soak_heap: {error}");
            ExitCode::FAILURE
        }
    }
}
