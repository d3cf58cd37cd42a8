//! The statistics a comparison with a baseline rests on, as pure functions
//! of plain slices: the stationary block bootstrap and its block length,
//! the bootstrap percentile interval, Holm's adjustment of several
//! p-values, the prediction interval for one new run, Welch's t-test, and
//! change points in a short series of runs.
//!
//! Each function says its formula and its reference, and each is checked
//! against an independent implementation (arch, statsmodels, scipy, numpy,
//! Apache Otava) by `tests/stats_fixtures.rs`, on the values that
//! `scripts/stats_fixtures.py` wrote to `tests/fixtures/stats/`. None of
//! them panics: an input they cannot answer for (empty, too short, NaN, no
//! variance) gives `None`, an empty result or the fallback its doc names.

use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};

/// The expected block length of the **stationary bootstrap** for the
/// series `xs`, by Politis & White (2004), "Automatic Block-Length
/// Selection for the Dependent Bootstrap", with the correction of Patton,
/// Politis & White (2009); the same algorithm as the `stationary` column of
/// Python `arch.bootstrap.optimal_block_length` (arch 8).
///
/// With `n = xs.len()`, `e = xs - mean(xs)`:
///
/// - autocovariances `γ̂(k) = Σ_{t≥k} e_t e_{t-k} / n` and absolute
///   autocorrelations `ρ̂(k) = |Σ_{t≥k} e_t e_{t-k}| / sqrt(Σ_{t>k} e_t² ·
///   Σ_{t<n-k-1} e_t²)` (arch's sums of squares, one lag longer), for
///   `k = 0..=m_max`, `m_max = ceil(√n) + K_N`, `K_N = max(5, ⌊log10 n⌋)`;
/// - `m̂` is the first `j` such that the `K_N` values `ρ̂(j..j+K_N)` are all
///   below `2 sqrt(log10(n) / n)`; `M = min(2 max(m̂, 1), m_max)`, or
///   `m_max` when there is no such `j`;
/// - with the flat-top window `λ(s) = 1` for `s ≤ 1/2`, `2(1 - s)` above:
///   `Ĝ = Σ_{k=1}^{M} 2 λ(k/M) k γ̂(k)`, `σ̂² = γ̂(0) + Σ_{k=1}^{M} 2 λ(k/M)
///   γ̂(k)`, `D̂_SB = 2 (σ̂²)²`;
/// - `b = (2 Ĝ² / D̂_SB)^{1/3} n^{1/3}`, capped at `ceil(min(3√n, n/3))`.
///
/// The result is then clamped to `[1, n]` (arch does not clamp from below:
/// for a series with no dependence it can answer less than one).
///
/// arch raises for `n < 8` (its lag loop outruns the series); here a lag
/// at or beyond `n` has no pairs and so a zero autocovariance, which is
/// what arch itself uses at lag `n`. An empty or one-point series, a
/// non-finite value, or a series with no variance (where the formula is
/// 0/0) gives `1.0`: resample single points.
pub fn optimal_block_length(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 2 || xs.iter().any(|x| !x.is_finite()) {
        return 1.0;
    }
    let nf = n as f64;
    let mean = xs.iter().sum::<f64>() / nf;
    let e: Vec<f64> = xs.iter().map(|x| x - mean).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();

    let b_max = (3.0 * nf.sqrt()).min(nf / 3.0).ceil();
    // ⌊log10 n⌋ as arch's int(); n ≥ 2, so the logarithm is positive.
    let kn = 5usize.max(nf.log10() as usize);
    let m_max = nf.sqrt().ceil() as usize + kn;
    let cv = 2.0 * (nf.log10() / nf).sqrt();

    let mut acv = vec![0.0; m_max + 1];
    let mut abs_acorr = vec![0.0; m_max + 1];
    let mut opt_m = None;
    for i in 0..=m_max {
        let cross = if i < n { dot(&e[i..], &e[..n - i]) } else { 0.0 };
        let (v1, v2) = if i + 1 < n {
            (dot(&e[i + 1..], &e[i + 1..]), dot(&e[..n - i - 1], &e[..n - i - 1]))
        } else {
            (0.0, 0.0)
        };
        acv[i] = cross / nf;
        // 0/0 is NaN and x/0 infinite, as in arch: neither is below `cv`.
        abs_acorr[i] = cross.abs() / (v1 * v2).sqrt();
        if i >= kn && opt_m.is_none() && abs_acorr[i - kn..i].iter().all(|&r| r < cv) {
            opt_m = Some(i - kn);
        }
    }
    let m = opt_m.map_or(m_max, |o: usize| 2 * o.max(1)).min(m_max);

    let mf = m as f64;
    let mut g = 0.0;
    let mut lr_acv = acv[0];
    for (k, &a) in acv.iter().enumerate().take(m + 1).skip(1) {
        let s = k as f64 / mf;
        let lam = if s <= 0.5 { 1.0 } else { 2.0 * (1.0 - s) };
        g += 2.0 * lam * k as f64 * a;
        lr_acv += 2.0 * lam * a;
    }
    let d_sb = 2.0 * lr_acv * lr_acv;
    let b = ((2.0 * g * g) / d_sb).powf(1.0 / 3.0) * nf.powf(1.0 / 3.0);
    // NaN (0/0, no variance) before the cap: f64::min would drop it.
    if b.is_nan() { 1.0 } else { b.min(b_max).clamp(1.0, nf) }
}

/// Fills `out` with the `n` indices of one **stationary bootstrap**
/// replicate (Politis & Romano 1994, "The Stationary Bootstrap", JASA
/// 89:428): the first index is uniform on `0..n`; each next one starts a new
/// block at a uniform index with probability `p = 1 / mean_block`, and
/// otherwise continues the block, `(previous + 1) mod n` (circularly). Block
/// lengths are then geometric with mean `mean_block`.
///
/// `mean_block` below 1 or NaN is taken as 1 (independent points); an
/// infinite one gives a single block. `out` is cleared first; `n == 0`
/// leaves it empty. The stream of indices depends only on `rng`: a seeded
/// `rand_chacha::ChaCha8Rng` gives the same replicate on every platform.
pub fn stationary_resample(n: usize, mean_block: f64, rng: &mut impl rand::Rng, out: &mut Vec<usize>) {
    out.clear();
    if n == 0 {
        return;
    }
    out.reserve(n);
    let p = if mean_block >= 1.0 { 1.0 / mean_block } else { 1.0 };
    let mut at = rng.random_range(0..n);
    out.push(at);
    for _ in 1..n {
        at = if rng.random::<f64>() < p {
            rng.random_range(0..n)
        } else {
            (at + 1) % n
        };
        out.push(at);
    }
}

/// Holm–Bonferroni adjusted p-values (Holm 1979, "A Simple Sequentially
/// Rejective Multiple Test Procedure"), in the order of `p`: with `p_(1) ≤
/// … ≤ p_(m)` the sorted values, `p̃_(i) = min(1, max_{j ≤ i} (m - j + 1)
/// p_(j))`. The same as statsmodels `multipletests(p, method="holm")[1]`.
/// Rejecting where `p̃ ≤ α` controls the family-wise error rate at `α`.
///
/// A NaN p-value is taken as 1 (no evidence); an empty slice gives an empty
/// vector.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean: Vec<f64> = p.iter().map(|&x| if x.is_nan() { 1.0 } else { x }).collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean[a].total_cmp(&clean[b]));
    let mut out = vec![0.0; m];
    let mut running = f64::NEG_INFINITY;
    for (j, &i) in order.iter().enumerate() {
        running = running.max((m - j) as f64 * clean[i]);
        out[i] = running.min(1.0);
    }
    out
}

/// Whether `level` is a coverage strictly between 0 and 1 (not NaN).
fn is_level(level: f64) -> bool {
    level > 0.0 && level < 1.0
}

/// Mean and sample standard deviation (divisor `n - 1`), two passes.
fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let ss = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>();
    (mean, (ss / (n - 1.0)).sqrt())
}

/// Mean and sample sd of `xs` when a prediction can be made from them: at
/// least 3 finite values that are not all equal.
fn predictive(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.len() < 3 || xs.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let (mean, sd) = mean_sd(xs);
    (sd > 0.0 && sd.is_finite()).then_some((mean, sd))
}

/// The `q` quantile (`q` in `[1/2, 1)`) of Student's t with `df` degrees of
/// freedom: statrs' inverse CDF, then Newton steps on the upper tail
/// (`sf`), which statrs computes without cancellation, to full precision.
fn t_upper_quantile(q: f64, df: f64) -> Option<f64> {
    if !(0.5..1.0).contains(&q) {
        return None;
    }
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    let target = 1.0 - q; // exact for q in [1/2, 1]
    let mut x = t.inverse_cdf(q);
    for _ in 0..4 {
        let d = t.pdf(x);
        if d.is_nan() || d <= 0.0 || !x.is_finite() {
            break;
        }
        let step = (t.sf(x) - target) / d;
        x += step;
        if step.abs() <= 1e-15 * x.abs() {
            break;
        }
    }
    x.is_finite().then_some(x)
}

/// The `level` prediction interval for **one new observation** from the
/// normal population `xs` was drawn from: `x̄ ± t_{n-1, (1+level)/2} · s ·
/// sqrt(1 + 1/n)`, `s` the sample standard deviation (divisor `n - 1`)
/// (e.g. Hahn & Meeker, "Statistical Intervals", 1991, §4.7). The same as
/// scipy's `t.ppf((1 + level) / 2, n - 1)` used in that formula.
///
/// `None` for fewer than 3 values, a non-finite value, no variance (`s ==
/// 0`: every new value but one would be "outside"), or `level` outside
/// `(0, 1)`.
pub fn prediction_interval(xs: &[f64], level: f64) -> Option<(f64, f64)> {
    if !is_level(level) {
        return None;
    }
    let (mean, sd) = predictive(xs)?;
    let n = xs.len() as f64;
    let half = t_upper_quantile((1.0 + level) / 2.0, n - 1.0)? * sd * (1.0 + 1.0 / n).sqrt();
    Some((mean - half, mean + half))
}

/// Which tail a [`prediction_p_value`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The chance that a new observation is at least `x` (for a metric
    /// where larger is worse, such as latency).
    Upper,
    /// The chance that a new observation is at most `x` (for a metric where
    /// smaller is worse, such as throughput).
    Lower,
}

/// The one-sided p-value of `x` as one new observation from the normal
/// population `xs` was drawn from: with `z = (x - x̄) / (s · sqrt(1 +
/// 1/n))`, `Upper` gives `1 - T_{n-1}(z)` (the chance a new observation is
/// at least `x`) and `Lower` gives `T_{n-1}(z)`, `T_{n-1}` Student's t CDF
/// with `n - 1` degrees of freedom; the same as scipy's `t.sf(z, n - 1)`
/// and `t.cdf(z, n - 1)`. The p-value inverts [`prediction_interval`]: `x`
/// is outside the two-sided `level` interval exactly when the p-value of its
/// tail is below `(1 - level) / 2`.
///
/// `None` under the same conditions as [`prediction_interval`] (fewer than
/// 3 values, a non-finite value, no variance) and for a non-finite `x`.
pub fn prediction_p_value(xs: &[f64], x: f64, tail: Tail) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    let (mean, sd) = predictive(xs)?;
    let n = xs.len() as f64;
    let z = (x - mean) / (sd * (1.0 + 1.0 / n).sqrt());
    let t = StudentsT::new(0.0, 1.0, n - 1.0).ok()?;
    let p = match tail {
        Tail::Upper => t.sf(z),
        Tail::Lower => t.cdf(z),
    };
    p.is_finite().then_some(p.clamp(0.0, 1.0))
}

/// Welch's unequal-variances t-test of two samples: [`welch`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchTest {
    /// `(x̄_a - x̄_b) / sqrt(s_a²/n_a + s_b²/n_b)`.
    pub t: f64,
    /// The Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// The two-sided p-value, `2 (1 - T_df(|t|))`.
    pub p: f64,
}

/// Welch's t-test (Welch 1947, "The generalization of 'Student's' problem
/// when several different population variances are involved") that `a` and
/// `b` have the same mean: `t = (x̄_a - x̄_b) / sqrt(v_a + v_b)`, `v = s²/n`
/// with the sample variance (divisor `n - 1`), Welch–Satterthwaite `df =
/// (v_a + v_b)² / (v_a²/(n_a - 1) + v_b²/(n_b - 1))`, two-sided `p = 2 (1 -
/// T_df(|t|))`. The same as `scipy.stats.ttest_ind(a, b, equal_var=False)`.
///
/// `None` when a side has fewer than 2 values or a non-finite value, or when
/// both sides have no variance and the same mean (scipy: NaN). Both sides
/// without variance and different means give `t = ±∞`, `p = 0` and `df = 1`,
/// as scipy does.
pub fn welch(a: &[f64], b: &[f64]) -> Option<WelchTest> {
    if a.len() < 2 || b.len() < 2 || a.iter().chain(b).any(|x| !x.is_finite()) {
        return None;
    }
    let (ma, sa) = mean_sd(a);
    let (mb, sb) = mean_sd(b);
    let va = sa * sa / a.len() as f64;
    let vb = sb * sb / b.len() as f64;
    let se2 = va + vb;
    if se2 == 0.0 {
        if ma == mb {
            return None;
        }
        let t = if ma > mb { f64::INFINITY } else { f64::NEG_INFINITY };
        return Some(WelchTest { t, df: 1.0, p: 0.0 });
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = (2.0 * dist.sf(t.abs())).min(1.0);
    p.is_finite().then_some(WelchTest { t, df, p })
}

/// The best single split of `xs` by the E-Divisive **q̂** statistic of
/// Matteson & James (2014), "A Nonparametric Approach for Multiple Change
/// Point Analysis of Multivariate Data", JASA 109:505, with exponent 1, as
/// Apache Otava (ex Hunter) computes it: for `X = xs[..τ]` (`n` points) and
/// `Y = xs[τ..κ]` (`m` points),
///
/// ```text
/// q̂(τ, κ) = 2/(n+m) Σ_{i,j} |X_i - Y_j|
///          - 2m/((n+m)(n-1)) Σ_{i<k} |X_i - X_k|
///          - 2n/((n+m)(m-1)) Σ_{j<k} |Y_j - Y_k|
/// ```
///
/// (a within term is zero when its side has one point), maximised over
/// `τ` and `κ` (`τ < κ ≤ len`). Returns `(τ, q̂)`: `τ` is the index where
/// the second part starts. Only splits leaving at least `min_segment`
/// points (at least 1) on each side of `τ` are considered; ties go to the
/// smallest `τ`, then the smallest `κ`, as Otava's `argmax` does.
///
/// `None` when no split fits or a value is not finite. Time `O(len³)`,
/// memory `O(1)`: meant for series of at most a few hundred points.
pub fn best_split(xs: &[f64], min_segment: usize) -> Option<(usize, f64)> {
    let n = xs.len();
    let ms = min_segment.max(1);
    if n < 2 * ms || xs.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let mut best: Option<(usize, f64)> = None;
    let mut within_x = 0.0;
    for tau in 1..n {
        let newest = xs[tau - 1];
        within_x += xs[..tau - 1].iter().map(|x| (x - newest).abs()).sum::<f64>();
        if tau < ms || n - tau < ms {
            continue;
        }
        let nx = tau as f64;
        let (mut between, mut within_y) = (0.0, 0.0);
        for kappa in tau + 1..=n {
            let y = xs[kappa - 1];
            between += xs[..tau].iter().map(|x| (x - y).abs()).sum::<f64>();
            within_y += xs[tau..kappa - 1].iter().map(|x| (x - y).abs()).sum::<f64>();
            let my = (kappa - tau) as f64;
            let total = nx + my;
            let mut q = 2.0 / total * between;
            if tau >= 2 {
                q -= 2.0 * my / (total * (nx - 1.0)) * within_x;
            }
            if kappa - tau >= 2 {
                q -= 2.0 * nx / (total * (my - 1.0)) * within_y;
            }
            if best.is_none_or(|(_, b)| q > b) {
                best = Some((tau, q));
            }
        }
    }
    best
}

/// Change points in a short series (at most a few hundred points, typically
/// the last 20 runs of a metric on log scale), the way Apache Otava finds
/// them: [`best_split`] (E-Divisive q̂) proposes the best split of a segment
/// and a two-sided [`welch`] test between its two sides decides whether it
/// is a change, at `p ≤ alpha` (Otava: Fleming et al. 2023, "Hunter: Using
/// Change Point Detection to Hunt for Performance Regressions", with the
/// t-test in place of Matteson & James' permutation test). A significant
/// split is kept and both sides are searched again (binary segmentation)
/// until no segment has a significant split.
///
/// Every segment keeps at least `max(min_segment, 2)` points (Welch needs
/// two a side). Returns the sorted indices where a new segment starts
/// (never 0). Empty when nothing is significant, the series is too short,
/// a value is not finite, or `alpha` is NaN.
///
/// Two differences from Otava's `compute_change_points`, which the
/// fixtures record beside the expected values: Otava tests with Student's
/// pooled t-test (on standard deviations with divisor `n`), in sliding
/// windows of 50 points, then merges weak points; this uses Welch's test on
/// the whole series, recursively.
pub fn change_points(xs: &[f64], alpha: f64, min_segment: usize) -> Vec<usize> {
    let mut found = Vec::new();
    if alpha.is_nan() || xs.iter().any(|x| !x.is_finite()) {
        return found;
    }
    let ms = min_segment.max(2);
    let mut todo = vec![(0, xs.len())];
    while let Some((start, end)) = todo.pop() {
        if end - start < 2 * ms {
            continue;
        }
        let Some((split, _)) = best_split(&xs[start..end], ms) else {
            continue;
        };
        let tau = start + split;
        if welch(&xs[start..tau], &xs[tau..end]).is_some_and(|w| w.p <= alpha) {
            found.push(tau);
            todo.push((start, tau));
            todo.push((tau, end));
        }
    }
    found.sort_unstable();
    found
}

/// The bootstrap **percentile interval** at `level` from the replicates
/// `sorted` (ascending): the `(1 - level)/2` and `1 - (1 - level)/2`
/// quantiles, each by numpy's default rule (`method="linear"`, Hyndman &
/// Fan type 7): with `h = (len - 1) q`, `x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] -
/// x[⌊h⌋])` (numpy's two-sided form of that interpolation, for the same
/// rounding). The same as `numpy.quantile(sorted, [lo, hi])`.
///
/// `None` for an empty slice, a NaN value or `level` outside `(0, 1)`. The
/// slice is not checked to be sorted: unsorted input gives a meaningless
/// interval, never a panic.
pub fn percentile_interval(sorted: &[f64], level: f64) -> Option<(f64, f64)> {
    if sorted.is_empty() || !is_level(level) || sorted.iter().any(|x| x.is_nan()) {
        return None;
    }
    let lo = (1.0 - level) / 2.0;
    Some((quantile_linear(sorted, lo), quantile_linear(sorted, 1.0 - lo)))
}

/// numpy's linear quantile of sorted values, `q` in `[0, 1]`.
fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len() - 1;
    let h = last as f64 * q;
    if h >= last as f64 {
        return sorted[last];
    }
    if h <= 0.0 {
        return sorted[0];
    }
    let below = h.floor();
    let i = below as usize;
    let gamma = h - below;
    let (a, b) = (sorted[i], sorted[i + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn block_length_edge_cases_fall_back_to_one() {
        assert_eq!(optimal_block_length(&[]), 1.0);
        assert_eq!(optimal_block_length(&[3.0]), 1.0);
        assert_eq!(optimal_block_length(&[2.0; 50]), 1.0);
        let mut xs: Vec<f64> = (0..50).map(|i| (i as f64 * 0.7).sin()).collect();
        xs[7] = f64::NAN;
        assert_eq!(optimal_block_length(&xs), 1.0);
        xs[7] = f64::INFINITY;
        assert_eq!(optimal_block_length(&xs), 1.0);
    }

    #[test]
    fn block_length_is_within_one_and_n_for_short_series() {
        for n in 2..12 {
            let xs: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos() + i as f64 * 0.1).collect();
            let b = optimal_block_length(&xs);
            assert!((1.0..=n as f64).contains(&b), "n = {n}: {b}");
        }
    }

    #[test]
    fn block_length_of_a_dependent_series() {
        // A slow sine is strongly dependent (arch 8.0.0: 32.86548499523771).
        let xs: Vec<f64> = (0..400).map(|i| (i as f64 / 40.0).sin()).collect();
        let b = optimal_block_length(&xs);
        assert!((b - 32.86548499523771).abs() < 1e-6 * b, "{b}");
    }

    #[test]
    fn stationary_resample_indices_in_range_and_blocks_of_the_mean_length() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let mut out = Vec::new();
        let n = 10_000;
        for mean_block in [1.0, 4.0, 12.5] {
            let (mut blocks, mut total) = (0usize, 0usize);
            for _ in 0..40 {
                stationary_resample(n, mean_block, &mut rng, &mut out);
                assert_eq!(out.len(), n);
                assert!(out.iter().all(|&i| i < n));
                // A block ends where the next index is not the circular
                // successor (a new block starts there by chance with 1/n).
                blocks += 1 + out.windows(2).filter(|w| w[1] != (w[0] + 1) % n).count();
                total += n;
            }
            let mean = total as f64 / blocks as f64;
            assert!(
                (mean - mean_block).abs() < 0.05 * mean_block,
                "mean_block {mean_block}: {mean}"
            );
        }
    }

    #[test]
    fn stationary_resample_edge_cases() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = vec![99];
        stationary_resample(0, 3.0, &mut rng, &mut out);
        assert!(out.is_empty());
        stationary_resample(1, 3.0, &mut rng, &mut out);
        assert_eq!(out, [0]);
        for mb in [f64::NAN, 0.0, -2.0, f64::NEG_INFINITY] {
            stationary_resample(5, mb, &mut rng, &mut out);
            assert!(out.len() == 5 && out.iter().all(|&i| i < 5));
        }
        // An infinite mean block: one block, wrapping around.
        stationary_resample(6, f64::INFINITY, &mut rng, &mut out);
        assert!(out.windows(2).all(|w| w[1] == (w[0] + 1) % 6), "{out:?}");
    }

    #[test]
    fn stationary_resample_is_reproducible_from_the_seed() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        stationary_resample(50, 3.0, &mut ChaCha8Rng::seed_from_u64(7), &mut a);
        stationary_resample(50, 3.0, &mut ChaCha8Rng::seed_from_u64(7), &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn holm_edge_cases() {
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[0.2]), [0.2]);
        assert_eq!(holm(&[f64::NAN, 0.01]), [1.0, 0.02]);
        assert_eq!(holm(&[0.6, 0.7]), [1.0, 1.0]);
    }

    #[test]
    fn prediction_edge_cases() {
        assert_eq!(prediction_interval(&[], 0.95), None);
        assert_eq!(prediction_interval(&[1.0], 0.95), None);
        assert_eq!(prediction_interval(&[1.0, 2.0], 0.95), None);
        assert_eq!(prediction_interval(&[1.0, 1.0, 1.0], 0.95), None);
        assert_eq!(prediction_interval(&[1.0, f64::NAN, 2.0], 0.95), None);
        for level in [0.0, 1.0, -0.5, f64::NAN] {
            assert_eq!(prediction_interval(&[1.0, 2.0, 4.0], level), None);
        }
        assert_eq!(prediction_p_value(&[1.0, 2.0], 3.0, Tail::Upper), None);
        assert_eq!(prediction_p_value(&[5.0; 4], 6.0, Tail::Upper), None);
        assert_eq!(prediction_p_value(&[1.0, 2.0, 4.0], f64::NAN, Tail::Lower), None);
        // The tails add up to one, and the p-value at an interval's end is
        // (1 - level) / 2.
        let xs = [1.0, 2.0, 4.0, 3.5];
        let up = prediction_p_value(&xs, 3.0, Tail::Upper).unwrap();
        let low = prediction_p_value(&xs, 3.0, Tail::Lower).unwrap();
        assert!((up + low - 1.0).abs() < 1e-12);
        let (lo, hi) = prediction_interval(&xs, 0.9).unwrap();
        assert!((prediction_p_value(&xs, hi, Tail::Upper).unwrap() - 0.05).abs() < 1e-12);
        assert!((prediction_p_value(&xs, lo, Tail::Lower).unwrap() - 0.05).abs() < 1e-12);
    }

    #[test]
    fn welch_edge_cases() {
        assert_eq!(welch(&[], &[1.0, 2.0]), None);
        assert_eq!(welch(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(welch(&[1.0, f64::NAN], &[1.0, 2.0]), None);
        assert_eq!(welch(&[2.0, 2.0], &[2.0, 2.0]), None);
        let w = welch(&[3.0, 3.0], &[1.0, 1.0, 1.0]).unwrap();
        assert_eq!((w.t, w.df, w.p), (f64::INFINITY, 1.0, 0.0));
    }

    #[test]
    fn best_split_edge_cases() {
        assert_eq!(best_split(&[], 1), None);
        assert_eq!(best_split(&[1.0], 1), None);
        assert_eq!(best_split(&[1.0, 2.0, 3.0], 2), None);
        assert_eq!(best_split(&[1.0, f64::NAN, 3.0, 4.0], 1), None);
        // Constant: every q̂ is 0; the first split wins.
        assert_eq!(best_split(&[4.0; 6], 1), Some((1, 0.0)));
        assert_eq!(best_split(&[4.0; 6], 2), Some((2, 0.0)));
        assert_eq!(best_split(&[1.0, 1.0, 1.0, 9.0, 9.0, 9.0], 1).map(|s| s.0), Some(3));
    }

    #[test]
    fn change_points_edge_cases() {
        assert!(change_points(&[], 0.01, 3).is_empty());
        assert!(change_points(&[1.0], 0.01, 3).is_empty());
        assert!(change_points(&[4.0; 20], 0.01, 3).is_empty());
        assert!(change_points(&[1.0, 1.1, 5.0, 5.1], f64::NAN, 1).is_empty());
        let mut step = vec![1.0, 1.1, 0.9, 1.0, 5.0, 5.1, 4.9, 5.0];
        assert_eq!(change_points(&step, 0.01, 1), [4]);
        // Too short for two segments of 5.
        assert!(change_points(&step, 0.01, 5).is_empty());
        step[2] = f64::NAN;
        assert!(change_points(&step, 0.01, 1).is_empty());
        // Two flat levels: zero variance on both sides, different means.
        assert_eq!(change_points(&[2.0, 2.0, 2.0, 3.0, 3.0, 3.0], 0.01, 2), [3]);
    }

    #[test]
    fn percentile_interval_edge_cases() {
        assert_eq!(percentile_interval(&[], 0.95), None);
        assert_eq!(percentile_interval(&[1.0, f64::NAN], 0.95), None);
        assert_eq!(percentile_interval(&[1.0, 2.0], 1.0), None);
        assert_eq!(percentile_interval(&[3.0], 0.95), Some((3.0, 3.0)));
        assert_eq!(percentile_interval(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), Some((2.0, 4.0)));
        let (lo, hi) = percentile_interval(&[1.0, 2.0, 3.0, 4.0], 0.95).unwrap();
        assert!((lo - 1.075).abs() < 1e-12 && (hi - 3.925).abs() < 1e-12);
    }
}
