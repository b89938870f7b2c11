//! The "current CPU" of a userspace runtime: each host thread gets a stable index, assigned in
//! order of first use, and runs as CPU `index % cpus`. Per-CPU maps and
//! `bpf_get_smp_processor_id` agree on it, so a program sees its own per-CPU values.

use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_INDEX: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// The CPU the calling thread runs as, in `0..cpus` (`cpus` of 0 counts as 1).
pub fn current_cpu(cpus: usize) -> usize {
    THREAD_INDEX.with(|index| *index % cpus.max(1))
}

/// Default number of CPUs for per-CPU maps: the host's available parallelism.
pub fn default_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
