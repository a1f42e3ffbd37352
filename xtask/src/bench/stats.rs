//! Percentiles and medians of measured samples.

use std::time::Duration;

/// The nearest-rank `percent` percentile of `sorted` (ascending): the smallest sample with at
/// least `percent`% of the samples at or below it. `None` for no samples.
pub fn percentile(sorted: &[Duration], percent: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let count = sorted.len() as f64;
    let rank = (percent / 100.0 * count).ceil().clamp(1.0, count);
    // `rank` is a whole number in 1..=len, so the conversion is exact.
    sorted.get(rank as usize - 1).copied()
}

/// The median and tail of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// 50th percentile.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// How many samples.
    pub count: usize,
}

impl Latency {
    /// Summarises `samples` (in any order); `None` for no samples.
    pub fn of(mut samples: Vec<Duration>) -> Option<Latency> {
        samples.sort_unstable();
        Some(Latency {
            p50: percentile(&samples, 50.0)?,
            p99: percentile(&samples, 99.0)?,
            count: samples.len(),
        })
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        len if len % 2 == 1 => sorted.get(middle).copied(),
        _ => Some((sorted.get(middle - 1)? + sorted.get(middle)?) / 2.0),
    }
}

/// `a - b` in microseconds, negative when `b` is larger (noise can make a tunnel look faster
/// than loopback at the median).
pub fn added_micros(a: Duration, b: Duration) -> f64 {
    (a.as_secs_f64() - b.as_secs_f64()) * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_micros(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = micros(&(1..=100).collect::<Vec<_>>());
        let cases = [
            (50.0, 50),
            (99.0, 99),
            (100.0, 100),
            (0.0, 1),
            (1.0, 1),
            (99.5, 100),
        ];
        for (percent, expected) in cases {
            assert_eq!(
                percentile(&sorted, percent),
                Some(Duration::from_micros(expected)),
                "p{percent}"
            );
        }
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(
            percentile(&micros(&[7]), 99.0),
            Some(Duration::from_micros(7))
        );
    }

    #[test]
    fn latency_sorts_its_samples() {
        let latency = Latency::of(micros(&[30, 10, 20, 40])).unwrap();
        assert_eq!(latency.p50, Duration::from_micros(20));
        assert_eq!(latency.p99, Duration::from_micros(40));
        assert_eq!(latency.count, 4);
        assert_eq!(Latency::of(Vec::new()), None);
    }

    #[test]
    fn medians() {
        let cases: [(&[f64], Option<f64>); 4] = [
            (&[], None),
            (&[3.0], Some(3.0)),
            (&[5.0, 1.0, 3.0], Some(3.0)),
            (&[4.0, 1.0, 3.0, 2.0], Some(2.5)),
        ];
        for (values, expected) in cases {
            assert_eq!(median(values), expected, "{values:?}");
        }
    }

    #[test]
    fn added_latency_may_be_negative() {
        let a = Duration::from_micros(120);
        let b = Duration::from_micros(20);
        assert!((added_micros(a, b) - 100.0).abs() < 1e-6);
        assert!((added_micros(b, a) + 100.0).abs() < 1e-6);
    }
}
