//! What the benches measure: on Unix, the CPU time of the benchmarking thread
//! (`CLOCK_THREAD_CPUTIME_ID`), so that time slices given to other processes on a shared,
//! loaded machine do not count; elsewhere, or with `XBPF_BENCH_CLOCK=wall`, wall-clock time.
//! What other processes do to caches and frequency still shows: compare engines by the ratios
//! of one run, as docs/performance.md does.

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};
use std::sync::OnceLock;
use std::time::Instant;

/// A criterion measurement in nanoseconds of thread CPU time or of wall-clock time.
pub struct BenchClock {
    cpu_time: bool,
}

impl BenchClock {
    /// Thread CPU time where available, unless `XBPF_BENCH_CLOCK=wall`.
    pub fn from_env() -> BenchClock {
        let wall = std::env::var("XBPF_BENCH_CLOCK").is_ok_and(|clock| clock == "wall");
        BenchClock {
            cpu_time: cfg!(unix) && !wall,
        }
    }

    /// What is measured, for reports.
    pub fn name(&self) -> &'static str {
        if self.cpu_time {
            "thread CPU time"
        } else {
            "wall-clock time"
        }
    }

    fn now_ns(&self) -> u64 {
        if self.cpu_time {
            thread_cpu_ns()
        } else {
            static START: OnceLock<Instant> = OnceLock::new();
            START.get_or_init(Instant::now).elapsed().as_nanos() as u64
        }
    }
}

/// Writes which clock this run measures with where `scripts/bench-report` finds it
/// (`target/criterion/clock.txt`).
pub fn record(clock: &BenchClock) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("clock.txt"), clock.name()));
    if let Err(error) = written {
        eprintln!(
            "cannot record the bench clock in {}: {error}",
            dir.display()
        );
    }
}

#[cfg(unix)]
fn thread_cpu_ns() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through the pointer, which points to a
    // live, writable local.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}

#[cfg(not(unix))]
fn thread_cpu_ns() -> u64 {
    unreachable!("thread CPU time is only selected on Unix")
}

impl Measurement for BenchClock {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now_ns()
    }

    fn end(&self, start: u64) -> u64 {
        self.now_ns().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosecondFormatter
    }
}

/// Formats nanoseconds like criterion's wall-clock formatter.
struct NanosecondFormatter;

impl ValueFormatter for NanosecondFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            ns if ns < 1e3 => (1.0, "ns"),
            ns if ns < 1e6 => (1e-3, "µs"),
            ns if ns < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        for value in values {
            *value *= factor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per_iteration = match *throughput {
            Throughput::Bits(n)
            | Throughput::Bytes(n)
            | Throughput::BytesDecimal(n)
            | Throughput::Elements(n)
            | Throughput::ElementsAndBytes { elements: n, .. } => n as f64,
        };
        for value in values {
            *value = per_iteration * 1e3 / *value;
        }
        "M/s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
