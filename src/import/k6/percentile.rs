//! k6's percentile: for `p` in 0..=1 over `n` sorted samples, the value at
//! the fractional index `p × (n − 1)`, interpolated linearly between the two
//! samples around it. (loadcheck's own percentiles are nearest-rank over an
//! HDR histogram; docs/k6.md says where the two differ.)

/// k6's `p` percentile (0..=1) of `sorted` (ascending); `None` when empty.
pub fn k6(sorted: &[f64], p: f64) -> Option<f64> {
    match sorted.len() {
        0 => None,
        1 => Some(sorted[0]),
        n => {
            let i = p.clamp(0.0, 1.0) * (n as f64 - 1.0);
            let (lo, hi) = (i.floor(), i.ceil());
            let (j, k) = (sorted[lo as usize], sorted[hi as usize]);
            Some(j + (k - j) * (i - lo))
        }
    }
}

/// The `p` of a k6 statistic's name: `p(95)` → 0.95, `p(99.9)` → 0.999,
/// `med` → 0.5; `None` for anything else.
pub fn of_name(stat: &str) -> Option<f64> {
    if stat == "med" {
        return Some(0.5);
    }
    let inner = stat.strip_prefix("p(")?.strip_suffix(')')?;
    let p: f64 = inner.trim().parse().ok()?;
    (0.0..=100.0).contains(&p).then_some(p / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_the_two_samples_around_the_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(k6(&v, 0.5), Some(2.5));
        assert_eq!(k6(&v, 0.0), Some(1.0));
        assert_eq!(k6(&v, 1.0), Some(4.0));
        assert!((k6(&v, 0.9).unwrap() - 3.7).abs() < 1e-12);
        assert_eq!(k6(&[7.0], 0.99), Some(7.0));
        assert_eq!(k6(&[], 0.5), None);
    }

    #[test]
    fn names_become_fractions() {
        assert_eq!(of_name("p(95)"), Some(0.95));
        // As k6 divides: 99.9 / 100, not the literal 0.999.
        assert_eq!(of_name("p(99.9)"), Some(99.9 / 100.0));
        assert_eq!(of_name("med"), Some(0.5));
        assert_eq!(of_name("avg"), None);
        assert_eq!(of_name("p(101)"), None);
    }
}
