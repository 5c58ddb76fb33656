//! A cheap monotonic clock for the metrics' latencies. Two `Instant::now()`
//! reads and the `Duration` arithmetic between them cost about 130
//! instructions per call, more than all the counting; a call's latency
//! needs neither nanoseconds nor a `Duration`.
//!
//! On x86_64 Linux, when the kernel itself keeps time with the CPU's
//! time-stamp counter (clocksource `tsc`: it found the counter invariant
//! and synchronised across CPUs), a tick is one TSC count, read with
//! `rdtsc`, and converted to microseconds with one multiplication by a
//! factor calibrated once per process against `Instant` (about 1 ms of
//! spinning, the first time a client with metrics is made). Anywhere
//! else a tick is a nanosecond of `Instant` since a process-wide origin.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How to read ticks and turn them into microseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TickClock {
    /// Read the time-stamp counter (else `Instant`).
    tsc: bool,
    /// Microseconds = ticks * `us_per_tick_q64` / 2^64.
    us_per_tick_q64: u64,
}

impl Default for TickClock {
    fn default() -> Self {
        TickClock::get()
    }
}

/// `Instant` ticks are nanoseconds: 2^64 / 1000, rounded up so that whole
/// microseconds convert exactly.
const NANOS_Q64: u64 = (1u128 << 64).div_ceil(1000) as u64;

/// The origin of `Instant` ticks.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl TickClock {
    /// The process's clock, calibrated on first use.
    pub(crate) fn get() -> TickClock {
        static CLOCK: OnceLock<TickClock> = OnceLock::new();
        *CLOCK.get_or_init(|| {
            origin();
            match tsc::ticks_per_second() {
                Some(hz) => TickClock {
                    tsc: true,
                    us_per_tick_q64: (1e6 / hz * 2f64.powi(64)) as u64,
                },
                None => TickClock {
                    tsc: false,
                    us_per_tick_q64: NANOS_Q64,
                },
            }
        })
    }

    /// Ticks now.
    #[inline]
    pub(crate) fn now(self) -> u64 {
        if self.tsc {
            tsc::read()
        } else {
            instant_ticks()
        }
    }

    /// `ticks` in whole microseconds.
    #[inline]
    pub(crate) fn micros(self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.us_per_tick_q64)) >> 64) as u64
    }
}

/// Nanoseconds since `origin()` (cold: the counter is the common case).
#[cold]
#[inline(never)]
fn instant_ticks() -> u64 {
    let d: Duration = origin().elapsed();
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    use std::time::{Duration, Instant};

    /// The time-stamp counter.
    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: rdtsc has no preconditions; every x86_64 CPU has it.
        #[allow(unused_unsafe)] // a safe intrinsic on newer toolchains
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }

    /// A counter reading and an `Instant` taken as close together as this
    /// thread manages (the tightest of a few brackets).
    fn pair() -> (u64, Instant) {
        let mut best = (u64::MAX, 0, Instant::now());
        for _ in 0..5 {
            let a = read();
            let i = Instant::now();
            let b = read();
            if b.wrapping_sub(a) < best.0 {
                best = (b.wrapping_sub(a), a + b.wrapping_sub(a) / 2, i);
            }
        }
        (best.1, best.2)
    }

    /// The counter's rate, when Linux keeps time with it and it looks sane.
    pub(super) fn ticks_per_second() -> Option<f64> {
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .ok()?;
        if source.trim() != "tsc" {
            return None;
        }
        let (c0, i0) = pair();
        while i0.elapsed() < Duration::from_millis(1) {
            std::hint::spin_loop();
        }
        let (c1, i1) = pair();
        let secs = i1.duration_since(i0).as_secs_f64();
        let hz = c1.checked_sub(c0)? as f64 / secs;
        // 10 MHz .. 100 GHz: anything else is not a usable counter.
        (1e7..1e11).contains(&hz).then_some(hz)
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod tsc {
    /// Not used: no counter here.
    pub(super) fn read() -> u64 {
        0
    }

    /// No counter here: `Instant` ticks.
    pub(super) fn ticks_per_second() -> Option<f64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_ticks_convert_exactly() {
        let c = TickClock {
            tsc: false,
            us_per_tick_q64: NANOS_Q64,
        };
        assert_eq!(c.micros(0), 0);
        assert_eq!(c.micros(999), 0);
        assert_eq!(c.micros(1000), 1);
        assert_eq!(c.micros(1_999), 1);
        assert_eq!(c.micros(67_000_000_000), 67_000_000);
    }

    #[test]
    fn the_clock_agrees_with_instant() {
        let c = TickClock::get();
        let (t0, i0) = (c.now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (t1, i1) = (c.now(), Instant::now());
        let ours = c.micros(t1 - t0) as f64;
        let theirs = i1.duration_since(i0).as_micros() as f64;
        // Within 2% (and the few microseconds between the two reads).
        assert!(
            (ours - theirs).abs() <= theirs * 0.02 + 50.0,
            "ticks say {ours} us, Instant {theirs} us"
        );
    }
}
