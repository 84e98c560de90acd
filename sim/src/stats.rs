//! Small summaries that every experiment prints.

use serde::Serialize;

/// Percentiles of a sample, in the sample's unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// The smallest value.
    pub min: f64,
    /// The 50th percentile (nearest rank).
    pub p50: f64,
    /// The arithmetic mean.
    pub mean: f64,
    /// The 95th percentile (nearest rank).
    pub p95: f64,
    /// The 99th percentile (nearest rank).
    pub p99: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values` (NaNs are ignored). An empty sample gives all zeros.
    pub fn of(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Summary::default();
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            // Nearest-rank percentile: the smallest value with at least p% at or below it.
            let r = (p / 100.0 * v.len() as f64).ceil() as usize;
            v[r.clamp(1, v.len()) - 1]
        };
        Summary {
            count: v.len(),
            min: v[0],
            p50: rank(50.0),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p95: rank(95.0),
            p99: rank(99.0),
            max: v[v.len() - 1],
        }
    }
}

/// Parses a seed range `A..B` (B exclusive) or a single seed `A`.
pub fn parse_seed_range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let bad = || format!("seed range {text:?} must be N or A..B with A < B");
    match text.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if a < b { Ok(a..b) } else { Err(bad()) }
        }
        None => {
            let a: u64 = text.trim().parse().map_err(|_| bad())?;
            Ok(a..a.saturating_add(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&v);
        assert_eq!(
            (s.min, s.p50, s.p95, s.p99, s.max),
            (1.0, 50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(s.mean, 50.5);
        assert_eq!(Summary::of(&[]).count, 0);
    }

    #[test]
    fn seed_ranges_are_half_open_and_refuse_nonsense() {
        assert_eq!(parse_seed_range("3..7"), Ok(3..7));
        assert_eq!(parse_seed_range("5"), Ok(5..6));
        assert!(parse_seed_range("7..3").is_err());
        assert!(parse_seed_range("x").is_err());
    }
}
