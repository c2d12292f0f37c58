//! The criterion measurement of the key-switching and training benches:
//! wall-clock time by default, the process's CPU time (all threads,
//! `CLOCK_PROCESS_CPUTIME_ID`) with `HECNN_BENCH_CLOCK=cpu`. On a shared
//! machine other processes' load inflates the wall time of a run far more
//! than the CPU time it uses, so before/after comparisons there are
//! steadier in CPU time. Compare CPU times only at the same
//! `RAYON_NUM_THREADS` (1 is steadiest: idle workers' spinning counts too).

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use std::time::{Duration, Instant};

/// Wall-clock or process CPU time, chosen by `HECNN_BENCH_CLOCK`.
pub struct Clock {
    cpu: bool,
}

impl Clock {
    /// CPU time if `HECNN_BENCH_CLOCK=cpu`, wall-clock time otherwise.
    pub fn from_env() -> Self {
        let cpu = std::env::var("HECNN_BENCH_CLOCK").is_ok_and(|v| v == "cpu");
        if cpu {
            eprintln!("measuring process CPU time (HECNN_BENCH_CLOCK=cpu)");
        }
        Self { cpu }
    }
}

fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

static WALL: WallTime = WallTime;

impl Measurement for Clock {
    type Intermediate = (Instant, Duration);
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        (Instant::now(), if self.cpu { process_cpu_time() } else { Duration::ZERO })
    }

    fn end(&self, (wall, cpu): Self::Intermediate) -> Self::Value {
        if self.cpu {
            process_cpu_time().saturating_sub(cpu)
        } else {
            wall.elapsed()
        }
    }

    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value {
        *v1 + *v2
    }

    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}
