//! Per-route latency for the demo service, so comparisons can be shown and
//! calibrated against it: `--latency search=5ms` gives a route a base
//! latency with jitter, `--slow thumbnail=25%` makes a route slower for every
//! version, and `--roll-slow thumbnail=25%` makes the version a simulated
//! rollout moves to slower on that route only.

use std::time::Duration;

use rand::Rng;

/// The demo service's routes that can be shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /v1/images/`.
    Search,
    /// `GET /v1/images/{id}/thumb/`.
    Thumbnail,
    /// `POST /api/v1/webhooks`.
    Webhook,
}

impl Route {
    const ALL: [Route; 3] = [Route::Search, Route::Thumbnail, Route::Webhook];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Route::Search => "search",
            Route::Thumbnail => "thumbnail",
            Route::Webhook => "webhook",
        }
    }

    /// The route a request path belongs to.
    pub fn of_path(path: &str) -> Option<Route> {
        if path == "/v1/images/" {
            Some(Route::Search)
        } else if path.starts_with("/v1/images/") && path.ends_with("/thumb/") {
            Some(Route::Thumbnail)
        } else if path == "/api/v1/webhooks" {
            Some(Route::Webhook)
        } else {
            None
        }
    }

    /// The route named `name` on the command line.
    pub fn from_name(name: &str) -> Result<Route, String> {
        Route::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| format!("unknown route \"{name}\"; the routes are search, thumbnail and webhook"))
    }
}

/// The jitter's spread: a draw is the base times `exp(N(0, SIGMA))`.
const SIGMA: f64 = 0.1;
/// The largest draw, as a multiple of the base.
const CAP: f64 = 3.0;

/// How each route's latency is shaped. Routes without a base keep the
/// service's own behaviour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shaping {
    /// `(route, base latency)`.
    pub base: Vec<(Route, Duration)>,
    /// `(route, factor)` for every version (`--slow`).
    pub slow: Vec<(Route, f64)>,
    /// `(route, factor)` for the version a rollout moves to (`--roll-slow`).
    pub roll_slow: Vec<(Route, f64)>,
}

impl Shaping {
    /// Checks that every slowed route has a base latency to slow.
    pub fn check(&self) -> Result<(), String> {
        for (flag, list) in [("--slow", &self.slow), ("--roll-slow", &self.roll_slow)] {
            for (route, _) in list {
                if !self.base.iter().any(|(r, _)| r == route) {
                    return Err(format!(
                        "{flag} {}: give the route a base latency first (--latency {}=5ms)",
                        route.name(),
                        route.name()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether `route` has a base latency (the service's own delay is then
    /// replaced).
    pub fn shapes(&self, route: Route) -> bool {
        self.base.iter().any(|(r, _)| *r == route)
    }

    /// One draw of `route`'s latency for a response of the old (`new =
    /// false`) or the new version; `None` for a route with no base.
    pub fn draw(&self, route: Route, new: bool, rng: &mut impl Rng) -> Option<Duration> {
        let base = self.base.iter().find(|(r, _)| *r == route)?.1;
        let factor = |list: &[(Route, f64)]| list.iter().find(|(r, _)| *r == route).map_or(1.0, |(_, f)| *f);
        let mut scale = factor(&self.slow);
        if new {
            scale *= factor(&self.roll_slow);
        }
        // Box–Muller: one standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let jitter = (SIGMA * z).exp().min(CAP);
        Some(base.mul_f64(scale * jitter))
    }
}

/// How much of a shaped delay is slept on a blocking thread.
const FINE: Duration = Duration::from_millis(2);

/// Sleeps `d` to within the kernel's timer slack (tens of µs). tokio's
/// timer rounds deadlines up to whole milliseconds, which would make a
/// 5 ms route answer in 5 to 6 ms depending on when in the millisecond
/// the request arrived: a periodic load (the open model's evenly spaced
/// sends) would then see a different constant offset in every run. The
/// bulk is slept on tokio's timer, the last 2 ms on a blocking thread.
pub async fn sleep_precisely(d: Duration) {
    let start = std::time::Instant::now();
    if d > FINE {
        tokio::time::sleep(d - FINE).await;
    }
    let rest = d.saturating_sub(start.elapsed());
    if rest.is_zero() {
        return;
    }
    if tokio::task::spawn_blocking(move || std::thread::sleep(rest))
        .await
        .is_err()
    {
        tokio::time::sleep(rest).await;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn median(shaping: &Shaping, route: Route, new: bool) -> f64 {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut v: Vec<f64> = (0..4001)
            .map(|_| shaping.draw(route, new, &mut rng).unwrap().as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v[2000]
    }

    #[tokio::test]
    async fn a_precise_sleep_is_not_rounded_to_the_millisecond() {
        for ms in [0.4, 1.3, 5.25, 7.6] {
            let d = Duration::from_secs_f64(ms / 1000.0);
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let t = std::time::Instant::now();
                sleep_precisely(d).await;
                best = best.min(t.elapsed());
            }
            assert!(best >= d, "{ms} ms slept {best:?}");
            assert!(
                best < d + Duration::from_micros(600),
                "{ms} ms slept {best:?}: rounded up?"
            );
        }
    }

    #[test]
    fn draws_center_on_the_base_and_slow_factors_multiply() {
        let s = Shaping {
            base: vec![
                (Route::Search, Duration::from_millis(5)),
                (Route::Thumbnail, Duration::from_millis(50)),
            ],
            slow: vec![(Route::Search, 1.25)],
            roll_slow: vec![(Route::Thumbnail, 1.5)],
        };
        s.check().unwrap();
        let close = |got: f64, want: f64| (got / want - 1.0).abs() < 0.02;
        assert!(
            close(median(&s, Route::Search, false), 6.25),
            "{}",
            median(&s, Route::Search, false)
        );
        assert!(close(median(&s, Route::Search, true), 6.25), "--roll-slow is per route");
        assert!(close(median(&s, Route::Thumbnail, false), 50.0));
        assert!(
            close(median(&s, Route::Thumbnail, true), 75.0),
            "{}",
            median(&s, Route::Thumbnail, true)
        );
        assert_eq!(s.draw(Route::Webhook, false, &mut SmallRng::seed_from_u64(1)), None);
        // Jitter: a spread around the base, never above the cap.
        let mut rng = SmallRng::seed_from_u64(3);
        let draws: Vec<Duration> = (0..2000)
            .map(|_| s.draw(Route::Thumbnail, false, &mut rng).unwrap())
            .collect();
        let (min, max) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        assert!(
            *min < Duration::from_millis(45) && *max > Duration::from_millis(55),
            "{min:?}..{max:?}"
        );
        assert!(*max <= Duration::from_millis(150));
    }

    #[test]
    fn a_slowed_route_needs_a_base_and_paths_map_to_routes() {
        let unshaped = Shaping {
            slow: vec![(Route::Thumbnail, 1.25)],
            ..Shaping::default()
        };
        assert!(unshaped.check().unwrap_err().contains("--latency thumbnail=5ms"));
        assert_eq!(Route::of_path("/v1/images/42/thumb/"), Some(Route::Thumbnail));
        assert_eq!(Route::of_path("/health"), None);
    }
}
