#!/usr/bin/env python3
"""Writes tests/fixtures/stats/*.json: inputs and the values that
independent implementations compute for them, for tests/stats_fixtures.rs
to check src/compare/stats.rs against.

    pip install scipy statsmodels arch
    # optional, for the change-point references (its pins clash with the
    # numpy/scipy above, so install it without its dependencies):
    pip install --no-deps apache-otava
    python3 scripts/stats_fixtures.py

Every input is written out in the JSON, so the Rust test never needs the
generator (the AR(1) series are drawn here with a fixed numpy seed once).
The JSON records the versions that computed the expected values under
"generated_by".
"""

import json
import math
import os
import platform
import sys
import warnings

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.multitest import multipletests

import arch
from arch.bootstrap import optimal_block_length

warnings.simplefilter("ignore")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "stats")

try:
    import otava  # noqa: F401
    from otava.analysis import compute_change_points
    from otava.change_point_divisive.calculator import PairDistanceCalculator

    try:
        from importlib.metadata import version

        OTAVA = version("apache-otava")
    except Exception:  # pragma: no cover
        OTAVA = "unknown"
except ImportError:
    OTAVA = None


def generated_by():
    g = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "arch": arch.__version__,
    }
    if OTAVA is not None:
        g["apache-otava"] = OTAVA
    return g


def num(x):
    """A float for JSON: NaN and infinities become null."""
    x = float(x)
    return x if math.isfinite(x) else None


def ar1(phi, n, rng, burn=100):
    e = rng.standard_normal(n + burn)
    x = np.empty(n + burn)
    x[0] = e[0]
    for i in range(1, n + burn):
        x[i] = phi * x[i - 1] + e[i]
    # Rounded so that the JSON holds the exact input the values were computed on.
    return [round(float(v), 12) for v in x[burn:]]


def series_inputs():
    rng = np.random.default_rng(20240613)
    s = {}
    s["n3"] = [4.61, 4.70, 4.66]
    s["n5"] = [4.605, 4.652, 4.599, 4.710, 4.633]
    s["n20"] = [round(float(v), 12) for v in 4.6 + 0.05 * rng.standard_normal(20)]
    for phi in (0.0, 0.5, 0.9):
        s[f"ar1_phi{phi}_n300"] = ar1(phi, 300, np.random.default_rng(int(phi * 10) + 7))
    s["ties"] = [3.0, 3.0, 3.5, 3.5, 3.5, 4.0, 3.0, 4.0, 4.0, 3.5, 3.0, 3.0, 4.5, 3.5, 3.5, 4.0]
    s["constant"] = [7.25] * 12
    return s


def block_length(xs):
    """arch's stationary column, or null where arch raises or answers NaN."""
    try:
        v = float(optimal_block_length(np.asarray(xs, dtype=float))["stationary"].iloc[0])
    except Exception as e:  # arch raises for n < 8 (its lag loop outruns the series)
        return None, f"arch raised {type(e).__name__}"
    if not math.isfinite(v):
        return None, "arch answered NaN"
    return v, None


def prediction(xs, level):
    x = np.asarray(xs, dtype=float)
    n = len(x)
    if n < 3:
        return None
    m = x.mean()
    s = x.std(ddof=1)
    if not s > 0:
        return None
    q = (1.0 + level) / 2.0
    half = st.t.ppf(q, n - 1) * s * math.sqrt(1.0 + 1.0 / n)
    return [m - half, m + half]


def prediction_p(xs, x0):
    x = np.asarray(xs, dtype=float)
    n = len(x)
    m = x.mean()
    s = x.std(ddof=1)
    if n < 3 or not s > 0:
        return None
    z = (x0 - m) / (s * math.sqrt(1.0 + 1.0 / n))
    return {"upper": num(st.t.sf(z, n - 1)), "lower": num(st.t.cdf(z, n - 1))}


def percentile(xs, level):
    a = np.sort(np.asarray(xs, dtype=float))
    lo = (1.0 - level) / 2.0
    hi = 1.0 - lo
    q = np.quantile(a, [lo, hi], method="linear")
    return [float(q[0]), float(q[1])]


def welch(a, b):
    r = st.ttest_ind(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_var=False)
    if not math.isfinite(float(r.pvalue)):
        return None
    return {"t": num(r.statistic), "df": num(r.df), "p": num(r.pvalue)}


def series_fixture():
    cases = []
    for name, xs in series_inputs().items():
        b, note = block_length(xs)
        m = float(np.mean(xs))
        sd = float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0
        probes = [m + k * sd for k in (-3.0, -1.0, 0.0, 0.5, 2.0, 6.0)] if sd > 0 else [m]
        cases.append(
            {
                "name": name,
                "xs": xs,
                "block_length_arch": b,
                "block_length_note": note,
                "prediction_interval": {str(lv): prediction(xs, lv) for lv in (0.8, 0.9, 0.95, 0.99)},
                "prediction_p": [{"x": x0, "p": prediction_p(xs, x0)} for x0 in probes],
                "percentile_interval": {str(lv): percentile(xs, lv) for lv in (0.5, 0.9, 0.95, 0.99)},
            }
        )
    return cases


def welch_fixture():
    rng = np.random.default_rng(99)
    pairs = [
        ("small", [1.0, 2.0, 3.0], [5.0, 7.0]),
        ("equal_n", list(map(float, rng.normal(10, 1, 10).round(9))), list(map(float, rng.normal(10.5, 2, 10).round(9)))),
        ("unequal", list(map(float, rng.normal(0, 1, 30).round(9))), list(map(float, rng.normal(0.2, 3, 7).round(9)))),
        ("far_apart", list(map(float, rng.normal(0, 0.1, 12).round(9))), list(map(float, rng.normal(3, 0.1, 12).round(9)))),
        ("identical_means", [1.0, 2.0, 3.0, 4.0], [2.5, 2.5, 2.0, 3.0]),
        ("zero_var_both_differ", [1.0, 1.0, 1.0], [5.0, 5.0, 5.0]),
        ("zero_var_both_same", [2.0, 2.0], [2.0, 2.0, 2.0]),
        ("one_side_single", [1.0, 2.0, 3.0], [5.0]),
    ]
    return [{"name": n, "a": a, "b": b, "expected": welch(a, b)} for n, a, b in pairs]


def holm_fixture():
    rng = np.random.default_rng(5)
    vecs = {
        "single": [0.03],
        "sorted": [0.001, 0.01, 0.02, 0.04, 0.2],
        "unsorted": [0.04, 0.001, 0.3, 0.02, 0.01],
        "ties": [0.01, 0.01, 0.02, 0.02, 0.5, 0.01],
        "caps_at_one": [0.4, 0.6, 0.9, 0.05],
        "zeros_and_ones": [0.0, 1.0, 0.0, 0.5],
        "random_20": [float(v) for v in rng.uniform(0, 0.2, 20).round(12)],
    }
    return [{"name": k, "p": v, "expected": [float(x) for x in multipletests(v, method="holm")[1]]} for k, v in vecs.items()]


def steps(levels, lens, sd, seed):
    rng = np.random.default_rng(seed)
    xs = []
    for lv, ln in zip(levels, lens):
        xs += list(lv + sd * rng.standard_normal(ln))
    return [round(float(v), 12) for v in xs]


def ref_change_points(xs, alpha, min_segment):
    """Binary segmentation: Otava's E-Divisive q-hat (its PairDistanceCalculator,
    power 1) picks the split of a segment, restricted to splits leaving at
    least max(min_segment, 2) points each side; scipy's Welch test decides."""
    x = np.asarray(xs, dtype=float)
    calc = PairDistanceCalculator(x)
    ms = max(min_segment, 2)
    found = []

    def rec(s, e):
        if e - s < 2 * ms:
            return
        q = calc._get_Q_vals(s, e)
        best = None
        for i in range(q.shape[0]):
            tau = s + 1 + i
            if tau - s < ms or e - tau < ms:
                continue
            for j in range(i, q.shape[1]):
                if best is None or q[i, j] > best[1]:
                    best = (tau, q[i, j])
        tau = best[0]
        p = st.ttest_ind(x[s:tau], x[tau:e], equal_var=False).pvalue
        if p <= alpha:
            found.append(int(tau))
            rec(s, tau)
            rec(tau, e)

    rec(0, len(x))
    return sorted(found)


def change_point_fixture():
    cases = [
        ("one_step_n20", steps([4.60, 4.78], [10, 10], 0.02, 1), 0.01, 3),
        ("two_steps_n45", steps([4.6, 4.9, 4.7], [15, 15, 15], 0.03, 2), 0.01, 3),
        ("no_change_n20", steps([4.6], [20], 0.03, 3), 0.01, 3),
        ("late_step_n20", steps([4.6, 4.75], [16, 4], 0.02, 4), 0.01, 3),
        ("early_step_n12", steps([5.0, 4.7], [3, 9], 0.02, 5), 0.01, 3),
        ("three_steps_n80", steps([1.0, 1.4, 0.9, 1.2], [20, 20, 20, 20], 0.05, 6), 0.001, 5),
        ("small_step_noisy_n16", steps([4.6, 4.63], [8, 8], 0.05, 7), 0.01, 3),
        ("min_segment_1_n10", steps([2.0, 3.0], [5, 5], 0.01, 8), 0.05, 1),
    ]
    out = []
    for name, xs, alpha, ms in cases:
        c = {"name": name, "xs": xs, "alpha": alpha, "min_segment": ms}
        if OTAVA is not None:
            cand = PairDistanceCalculator(np.asarray(xs, dtype=float)).get_candidate_change_point(slice(0, len(xs)))
            c["otava_best_split"] = {"index": int(cand.index), "qhat": float(cand.qhat)}
            c["expected"] = ref_change_points(xs, alpha, ms)
            cps, _ = compute_change_points(xs, window_len=50, max_pvalue=alpha)
            c["otava_compute_change_points"] = sorted(int(cp.index) for cp in cps)
        out.append(c)
    return out


NOTES = {
    "series.json": {
        "block_length_arch": "arch.bootstrap.optimal_block_length(xs)['stationary']; null where arch raises "
        "(n < 8: its lag loop outruns the series) or answers NaN (no variance). arch does not clamp below 1.",
        "prediction_interval": "mean -/+ scipy.stats.t.ppf((1 + level) / 2, n - 1) * sd(ddof=1) * sqrt(1 + 1/n); "
        "null for n < 3 or sd == 0",
        "prediction_p": "z = (x - mean) / (sd * sqrt(1 + 1/n)); upper = scipy.stats.t.sf(z, n - 1), "
        "lower = scipy.stats.t.cdf(z, n - 1)",
        "percentile_interval": "numpy.quantile(sorted(xs), [(1 - level) / 2, 1 - (1 - level) / 2], method='linear')",
    },
    "welch.json": {"expected": "scipy.stats.ttest_ind(a, b, equal_var=False); null where scipy answers NaN"},
    "holm.json": {"expected": "statsmodels.stats.multitest.multipletests(p, method='holm')[1]"},
    "change_points.json": {
        "otava_best_split": "Otava's PairDistanceCalculator(xs).get_candidate_change_point(slice(0, n)): "
        "the E-Divisive q-hat (power 1) maximised over tau and kappa",
        "expected": "binary segmentation in this script (ref_change_points): Otava's q-hat matrix restricted to "
        "splits leaving max(min_segment, 2) points a side, scipy Welch p <= alpha, recursing on both sides",
        "otava_compute_change_points": "Otava's own compute_change_points(xs, window_len=50, max_pvalue=alpha), "
        "for comparison only: it uses Student's pooled t-test, sliding windows and a merge step",
    },
}


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "series.json": series_fixture(),
        "welch.json": welch_fixture(),
        "holm.json": holm_fixture(),
    }
    if OTAVA is None:
        print("apache-otava is not installed: change_points.json left as it is", file=sys.stderr)
    else:
        files["change_points.json"] = change_point_fixture()
    for name, cases in files.items():
        with open(os.path.join(OUT, name), "w") as f:
            doc = {"generated_by": generated_by(), "notes": NOTES[name], "cases": cases}
            json.dump(doc, f, indent=1, allow_nan=False)
            f.write("\n")
        print(f"wrote {name}: {len(cases)} cases")


if __name__ == "__main__":
    main()
