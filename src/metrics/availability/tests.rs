//! Unit tests of the availability analysis.
use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MS: Duration = Duration::from_millis(1);

/// A log of `len` ms with one request every `every` ms, all succeeding.
fn steady(len: usize, every: usize) -> OutcomeLog {
    let mut log = OutcomeLog::default();
    for ms in (0..len).step_by(every) {
        log.record(ms as u64, true);
    }
    log
}

/// Turns the request at `ms` into a failure.
fn fail(log: &mut OutcomeLog, ms: usize) {
    log.set(ms as u64, 0, 1);
}

fn mark(name: &str, ms: u64) -> EventMark {
    EventMark {
        name: name.to_string(),
        at: Duration::from_millis(ms),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol + 1e-9
}

#[test]
fn no_failures() {
    let log = steady(10_000, 5);
    let r = analyze(
        &log,
        &[mark("deploy", 2000)],
        0.99,
        Duration::from_secs(5),
        5 * MS,
        Duration::from_secs(10),
    );
    assert!(r.outages.is_empty());
    assert_eq!(r.downtime_s, 0.0);
    assert_eq!(r.longest_outage_s, 0.0);
    assert_eq!(r.resolution_ms, 5.0);
    assert_eq!(r.window_s, 5.0);
    let e = &r.events[0];
    assert_eq!(e.event, "deploy");
    assert_eq!(e.at_s, 2.0);
    assert_eq!(e.time_to_detect_s, None);
    assert_eq!(e.rto_s, Some(0.0));
    assert!(e.recovered);
}

/// 200 req/s (one every 5 ms); a dead backend behind round-robin gets
/// every other request from 1000 ms to 1400 ms; the event is 50 ms
/// before the first failure.
fn round_robin_outage() -> OutcomeLog {
    let mut log = steady(10_000, 5);
    for ms in (1000..1400).step_by(10) {
        fail(&mut log, ms);
    }
    log
}

#[test]
fn round_robin_dead_backend_is_one_outage() {
    let log = round_robin_outage();
    let res = 5.0 / 1000.0;
    let r = analyze(
        &log,
        &[mark("deploy", 950)],
        0.99,
        Duration::from_secs(5),
        5 * MS,
        Duration::from_secs(10),
    );
    assert_eq!(r.outages.len(), 1, "{r:?}");
    let o = &r.outages[0];
    // First failure 1000, last 1390: 391 ms, within two resolutions
    // (the failure spacing) of the true 400 ms.
    assert_eq!((o.start_s, o.end_s), (1.0, 1.391));
    assert!(close(o.end_s - o.start_s, 0.4, 2.0 * res), "{o:?}");
    // 40 failures, 39 successes in between.
    assert_eq!((o.requests, o.failed), (79, 40));
    assert!(close(r.downtime_s, 0.391, 1e-9));
    assert_eq!(r.longest_outage_s, r.downtime_s);
    let e = &r.events[0];
    assert_eq!(e.time_to_detect_s, Some(0.05));
    // Windows start at the event or at an outage's end: the window from
    // 950 holds all 40 failures (below 99 %), the one from the outage's
    // end (1391) none.
    assert_eq!(e.rto_s, Some(0.441));
    assert!(e.recovered);
}

#[test]
fn strict_slo_rto_ends_after_the_last_failure() {
    let log = round_robin_outage();
    let res = 0.005;
    let r = analyze(
        &log,
        &[mark("deploy", 950)],
        1.0,
        Duration::from_secs(5),
        5 * MS,
        Duration::from_secs(10),
    );
    // No failure allowed: the first clean window starts just after the
    // last failure (1391): 441 ms, ≈ 450 ms within two resolutions.
    let e = &r.events[0];
    assert_eq!(e.rto_s, Some(0.441));
    assert!(close(e.rto_s.unwrap_or(0.0), 0.45, 2.0 * res));
    assert_eq!(e.time_to_detect_s, Some(0.05));
}

#[test]
fn outages_30s_apart_are_two() {
    let mut log = steady(60_000, 10);
    for ms in (5000..6000).step_by(10) {
        fail(&mut log, ms);
    }
    for ms in (36_000..36_500).step_by(10) {
        fail(&mut log, ms);
    }
    let r = analyze(
        &log,
        &[mark("a", 4000), mark("b", 35_000)],
        0.99,
        Duration::from_secs(5),
        10 * MS,
        Duration::from_secs(60),
    );
    assert_eq!(r.outages.len(), 2, "{r:?}");
    assert_eq!((r.outages[0].start_s, r.outages[0].end_s), (5.0, 5.991));
    assert_eq!((r.outages[1].start_s, r.outages[1].end_s), (36.0, 36.491));
    assert!(close(r.downtime_s, 0.991 + 0.491, 1e-9));
    assert!(close(r.longest_outage_s, 0.991, 1e-9));
    assert_eq!(r.events[0].time_to_detect_s, Some(1.0));
    assert_eq!(r.events[1].time_to_detect_s, Some(1.0));
    // The first event's RTO is about its own outage, not the second.
    assert!(r.events[0].rto_s.is_some_and(|s| s < 2.5), "{r:?}");
    assert!(r.events[1].recovered);
}

#[test]
fn failures_closer_than_the_gap_are_one_cluster() {
    // Two bursts 600 ms apart at 100 % failure: one outage spanning
    // both, including the successes between them.
    let mut log = steady(5_000, 10);
    for ms in (1000..1100).step_by(10) {
        fail(&mut log, ms);
    }
    for ms in (1700..1800).step_by(10) {
        fail(&mut log, ms);
    }
    let r = analyze(&log, &[], 0.99, Duration::from_secs(1), 10 * MS, Duration::from_secs(5));
    assert_eq!(r.outages.len(), 1, "{r:?}");
    assert_eq!((r.outages[0].start_s, r.outages[0].end_s), (1.0, 1.791));
    assert_eq!((r.outages[0].requests, r.outages[0].failed), (80, 20));
}

#[test]
fn gap_grows_with_the_resolution() {
    assert_eq!(gap_ms(1.0), 1000);
    assert_eq!(gap_ms(100.0), 1000);
    assert_eq!(gap_ms(250.0), 2500);
    assert_eq!(gap_ms(f64::NAN), 1000);
    assert_eq!(gap_ms(-3.0), 1000);
    // At 0.4 req/s, failures 2 s apart are one cluster.
    let mut log = steady(20_000, 2500);
    fail(&mut log, 5000);
    fail(&mut log, 7500);
    let r = analyze(
        &log,
        &[],
        0.99,
        Duration::from_secs(5),
        2500 * MS,
        Duration::from_secs(20),
    );
    assert_eq!(r.outages.len(), 1);
    assert_eq!((r.outages[0].start_s, r.outages[0].end_s), (5.0, 7.501));
}

#[test]
fn sparse_lone_failures_are_not_outages() {
    // 1000 req/s for 60 s; one request in a thousand fails.
    let mut log = steady(60_000, 1);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut n = 0;
    for ms in 0..60_000 {
        if rng.random_bool(0.001) {
            fail(&mut log, ms);
            n += 1;
        }
    }
    assert!(n > 20);
    let r = analyze(
        &log,
        &[mark("deploy", 10_000)],
        0.99,
        Duration::from_secs(5),
        MS,
        Duration::from_secs(60),
    );
    assert!(r.outages.is_empty(), "{:?}", r.outages);
    assert_eq!(r.downtime_s, 0.0);
    let e = &r.events[0];
    assert!(e.time_to_detect_s.is_some());
    assert_eq!(e.rto_s, Some(0.0));
    assert!(e.recovered);
}

#[test]
fn a_lone_failure_among_successes_is_not_an_outage_but_a_lone_request_is() {
    let mut log = steady(5_000, 10);
    fail(&mut log, 2000);
    let r = analyze(&log, &[], 0.99, Duration::from_secs(1), 10 * MS, Duration::from_secs(5));
    assert!(r.outages.is_empty());
    // The only request, failed: an outage of 1 ms.
    let mut log = OutcomeLog::default();
    log.record(300, false);
    let r = analyze(&log, &[], 0.99, Duration::from_secs(1), MS, Duration::from_secs(5));
    assert_eq!(r.outages.len(), 1);
    assert!(close(r.downtime_s, 0.001, 1e-12));
    assert_eq!((r.outages[0].requests, r.outages[0].failed), (1, 1));
}

#[test]
fn never_recovers() {
    let mut log = steady(10_000, 5);
    for ms in (3000..10_000).step_by(5) {
        fail(&mut log, ms);
    }
    let r = analyze(
        &log,
        &[mark("deploy", 2900)],
        0.99,
        Duration::from_secs(5),
        5 * MS,
        Duration::from_secs(10),
    );
    let e = &r.events[0];
    assert_eq!(e.rto_s, None);
    assert!(!e.recovered);
    assert_eq!(e.time_to_detect_s, Some(0.1));
    assert_eq!(r.outages.len(), 1);
    assert_eq!(r.outages[0].end_s, 9.996);
}

#[test]
fn a_window_must_fit_in_the_run() {
    // Failures until 8 s of a 10 s run: the clean tail is only 2 s,
    // shorter than W = 5 s; at SLO 1.0 no window qualifies.
    let mut log = steady(10_000, 5);
    for ms in (3000..8000).step_by(5) {
        fail(&mut log, ms);
    }
    let r = analyze(
        &log,
        &[mark("deploy", 2900)],
        1.0,
        Duration::from_secs(5),
        5 * MS,
        Duration::from_secs(10),
    );
    assert_eq!(r.events[0].rto_s, None);
    // In a 30 s run (no requests after 10 s) the window just after the
    // last failure (7995) holds the clean requests 8000..=9995 and
    // qualifies, though most of it is empty.
    let r = analyze(
        &log,
        &[mark("deploy", 2900)],
        1.0,
        Duration::from_secs(5),
        5 * MS,
        Duration::from_secs(30),
    );
    assert_eq!(r.events[0].rto_s, Some(5.096));
    assert!(r.events[0].recovered);
    // A window with no request at all never qualifies.
    let r = analyze(
        &log,
        &[mark("deploy", 2900)],
        1.0,
        Duration::from_secs(1),
        5 * MS,
        Duration::from_secs(30),
    );
    assert_eq!(r.events[0].rto_s, Some(5.096));
}

#[test]
fn empty_log() {
    let log = OutcomeLog::default();
    let r = analyze(
        &log,
        &[mark("deploy", 1000)],
        0.99,
        Duration::from_secs(5),
        MS,
        Duration::ZERO,
    );
    assert!(r.outages.is_empty());
    assert_eq!(r.downtime_s, 0.0);
    assert_eq!(r.events[0].time_to_detect_s, None);
    assert_eq!(r.events[0].rto_s, Some(0.0));
    assert!(r.events[0].recovered);
    let r = analyze(&log, &[], 0.99, Duration::from_secs(5), MS, Duration::from_secs(60));
    assert!(r.outages.is_empty() && r.events.is_empty());
}

#[test]
fn bad_inputs_do_not_panic() {
    let mut log = round_robin_outage();
    log.set(60_000, 0, 0); // a block of nothing, past the end
    for slo in [f64::NAN, -1.0, 2.0, 0.0, 1.0] {
        for window in [Duration::ZERO, Duration::from_secs(3600)] {
            let r = analyze(
                &log,
                &[mark("late", 1_000_000), mark("zero", 0), mark("max", u64::MAX)],
                slo,
                window,
                Duration::ZERO,
                Duration::ZERO,
            );
            assert_eq!(r.events.len(), 3);
            assert_eq!(r.events[0].time_to_detect_s, None);
            assert_eq!(r.events[2].rto_s, Some(0.0));
        }
    }
    // An endless run and an SLO no window meets: the scan stops where
    // the log does.
    let r = analyze(&log, &[mark("zero", 0)], 2.0, Duration::MAX, MS, Duration::MAX);
    assert_eq!(r.outages.len(), 1);
    assert_eq!(r.events[0].rto_s, None);
    let r = analyze(&log, &[mark("zero", 0)], 2.0, Duration::ZERO, MS, Duration::MAX);
    assert_eq!(r.events[0].rto_s, None);
}

#[test]
fn an_event_after_failures_that_stopped_has_rto_zero() {
    let log = round_robin_outage();
    let r = analyze(
        &log,
        &[mark("late", 3000)],
        0.99,
        Duration::from_secs(5),
        5 * MS,
        Duration::from_secs(10),
    );
    assert_eq!(r.events[0].rto_s, Some(0.0));
    assert_eq!(r.events[0].time_to_detect_s, None);
}

#[test]
fn an_hour_is_linear() {
    // 3.6 M entries at 1000 req/s, an outage every 10 minutes.
    let len = 3_600_000;
    let mut log = steady(len, 1);
    for k in 0..6 {
        let base = k * 600_000 + 300_000;
        for ms in base..base + 2000 {
            fail(&mut log, ms);
        }
    }
    let events: Vec<_> = (0..6).map(|k| mark("fault", k * 600_000 + 299_000)).collect();
    let started = std::time::Instant::now();
    let r = analyze(
        &log,
        &events,
        0.99,
        Duration::from_secs(5),
        MS,
        Duration::from_secs(3600),
    );
    let took = started.elapsed();
    assert_eq!(r.outages.len(), 6);
    assert!(r.events.iter().all(|e| e.recovered));
    // Generous: unoptimized code on a slow CI machine.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// RTO by definition: every millisecond from the event is a possible
/// window start if it is the event or one past an outage's last failure;
/// every window is summed afresh.
fn brute_rto(log: &OutcomeLog, outages: &[Outage], at: u64, w: u64, slo: f64, end: u64) -> Option<u64> {
    let view = Horizon::new(log, Duration::from_millis(end));
    if view.log.first_failure_from(at).is_none() {
        return Some(0);
    }
    let is_start = |t: u64| t == at || outages.iter().any(|o| (o.end_s * 1000.0).round() as u64 == t);
    let mut t = at;
    while t + w <= view.horizon {
        if is_start(t) {
            let ok: u64 = (t..t + w).map(|ms| view.log.ok_at(ms)).sum();
            let failed: u64 = (t..t + w).map(|ms| view.log.failed_at(ms)).sum();
            let total = ok + failed;
            if total > 0 && ok as f64 / total as f64 >= slo {
                return Some(t - at);
            }
        }
        t += 1;
    }
    None
}

#[test]
fn rto_matches_brute_force_on_random_logs() {
    let mut rng = SmallRng::seed_from_u64(0x10adc4ec);
    for case in 0..300 {
        let len = rng.random_range(0..3000usize);
        let mut log = OutcomeLog::default();
        let density = rng.random_range(0.05..1.0);
        // Failure bursts with a per-burst failure probability.
        let mut p_fail = 0.0;
        for ms in 0..len {
            if rng.random_bool(0.01) {
                p_fail = if rng.random_bool(0.5) {
                    rng.random_range(0.0..1.0)
                } else {
                    0.0
                };
            }
            if rng.random_bool(density) {
                let n = rng.random_range(1..4u32);
                for _ in 0..n {
                    if rng.random_bool(p_fail) {
                        log.record(ms as u64, false);
                    } else {
                        log.record(ms as u64, true);
                    }
                }
            }
        }
        let w = rng.random_range(1..400u64);
        let slo = [0.5, 0.9, 0.99, 0.999, 1.0][rng.random_range(0..5usize)];
        let end = len as u64 + rng.random_range(0..200u64);
        let events: Vec<_> = (0..3).map(|i| mark("e", rng.random_range(0..end + 50) + i)).collect();
        let r = analyze(
            &log,
            &events,
            slo,
            Duration::from_millis(w),
            MS,
            Duration::from_millis(end),
        );
        for (e, mark) in r.events.iter().zip(&events) {
            let at = duration_ms(mark.at);
            let want = brute_rto(&log, &r.outages, at, w, slo, end);
            assert_eq!(
                e.rto_s,
                want.map(ms_to_s),
                "case {case}: at {at} w {w} slo {slo} end {end}"
            );
            assert_eq!(e.recovered, want.is_some());
        }
    }
}
