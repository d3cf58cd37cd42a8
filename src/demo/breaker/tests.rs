//! Unit tests of the breaker, in memory and against a real Redis.

use super::memory::Stored;
use super::*;

const LIMIT: u32 = 5;
const DELAY: Duration = Duration::from_millis(300);

fn permit(id: u64, trial: bool) -> Permit {
    Permit {
        backend: Backend::Memory,
        id,
        trial,
    }
}

#[test]
fn closed_admits_up_to_the_limit_counting_in_flight_and_failures() {
    let now = Instant::now();
    let mut m = Memory::default();
    let ids: Vec<_> = (0..5).map(|_| m.admit(now, LIMIT, DELAY).unwrap().0).collect();
    assert_eq!(m.admit(now, LIMIT, DELAY), None, "5 in flight fill the limit");
    m.record(now, &permit(ids[0], false), false, LIMIT);
    assert_eq!(m.failures, 1);
    assert_eq!(
        m.admit(now, LIMIT, DELAY),
        None,
        "1 failure + 4 in flight still fill it"
    );
    for id in &ids[1..] {
        m.record(now, &permit(*id, false), false, LIMIT);
    }
    assert_eq!(m.state, Stored::Open);
    assert_eq!(m.opened_total, 1);
    assert_eq!(m.view(now, DELAY).0, BreakerState::Open);
}

#[test]
fn a_success_admitted_before_the_latest_failure_does_not_reset_the_count() {
    let now = Instant::now();
    let mut m = Memory::default();
    let (old, _) = m.admit(now, LIMIT, DELAY).unwrap();
    let (failed, _) = m.admit(now, LIMIT, DELAY).unwrap();
    m.record(now, &permit(failed, false), false, LIMIT);
    m.record(now, &permit(old, false), true, LIMIT);
    assert_eq!(m.failures, 1, "the late success raced the failure");
    let (newer, _) = m.admit(now, LIMIT, DELAY).unwrap();
    m.record(now, &permit(newer, false), true, LIMIT);
    assert_eq!(m.failures, 0, "a success admitted after the failure resets");
}

#[test]
fn half_open_admits_one_trial_whose_outcome_decides() {
    let t0 = Instant::now();
    let mut m = Memory::default();
    for _ in 0..5 {
        let (id, _) = m.admit(t0, LIMIT, DELAY).unwrap();
        m.record(t0, &permit(id, false), false, LIMIT);
    }
    assert_eq!(m.admit(t0 + DELAY / 2, LIMIT, DELAY), None, "open");
    let t1 = t0 + DELAY;
    let (trial, is_trial) = m.admit(t1, LIMIT, DELAY).unwrap();
    assert!(is_trial);
    assert_eq!(m.admit(t1, LIMIT, DELAY), None, "one trial at a time");
    m.record(t1, &permit(trial, true), false, LIMIT);
    assert_eq!((m.state, m.opened_total), (Stored::Open, 2), "a failed trial re-opens");
    assert_eq!(m.admit(t1 + DELAY / 2, LIMIT, DELAY), None);
    let t2 = t1 + DELAY;
    let (trial, _) = m.admit(t2, LIMIT, DELAY).unwrap();
    m.record(t2, &permit(trial, true), true, LIMIT);
    assert_eq!((m.state, m.failures), (Stored::Closed, 0), "a good trial closes");
    assert!(m.admit(t2, LIMIT, DELAY).is_some());
}

#[test]
fn leases_expire_and_late_records_change_nothing() {
    let t0 = Instant::now();
    let mut m = Memory::default();
    let ids: Vec<_> = (0..5).map(|_| m.admit(t0, LIMIT, DELAY).unwrap().0).collect();
    let later = t0 + LEASE + Duration::from_millis(1);
    assert!(m.admit(later, LIMIT, DELAY).is_some(), "expired slots are free again");
    m.record(later, &permit(ids[0], false), false, LIMIT);
    assert_eq!(m.failures, 0, "an expired permit's outcome is dropped");
}

#[tokio::test]
async fn an_unreachable_redis_leaves_the_memory_backend_within_the_timeout() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let started = Instant::now();
    let b = Breaker::new(BreakerConfig {
        redis_url: Some(format!("redis://127.0.0.1:{port}/")),
        ..BreakerConfig::default()
    })
    .await;
    assert!(started.elapsed() < REDIS_TIMEOUT + Duration::from_millis(200));
    let s = b.snapshot().await;
    assert_eq!((s.backend, s.fallbacks), (Backend::Memory, 1));
    let p = b.admit().await.expect("memory admits");
    assert_eq!(p.backend(), Backend::Memory);
    b.record(p, true).await;
}

#[tokio::test]
async fn an_invalid_url_means_memory_only() {
    let b = Breaker::new(BreakerConfig {
        redis_url: Some("not a url".into()),
        ..BreakerConfig::default()
    })
    .await;
    assert_eq!(b.backend(), Backend::Memory);
    assert!(b.admit().await.is_some());
}
