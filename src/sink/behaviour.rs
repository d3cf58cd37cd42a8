//! Programmed answers: what the sink replies to the n-th POST on a route.
//!
//! A route's table (`[[sink.route]]` in a plan, `[[route]]` in `sink.toml`)
//! is the same JSON object the control API takes at
//! `PUT /_sink/routes/{name}`, so a test can change the sink's behaviour
//! while it runs.

use std::time::Duration;

use rand::Rng;

use crate::plan::RouteConfig;
use crate::plan::duration::parse_duration;

/// When a route fails.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Never (unless `hang` or `reset` make every answer a failure).
    Never,
    /// Every answer fails.
    Always,
    /// After n successes.
    After(u64),
    /// The first n.
    Times(u64),
    /// Every n-th.
    Every(u64),
    /// These statuses in turn.
    Cycle(Vec<u16>),
}

/// A delay distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// No delay.
    None,
    /// Always this long.
    Fixed(Duration),
    /// Uniform between the two.
    Uniform(Duration, Duration),
    /// Exponential with this mean (capped at 20× the mean).
    Exponential(Duration),
    /// Normal with this mean and standard deviation (cut at 0).
    Normal(Duration, Duration),
}

/// How a failure is delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailMode {
    /// An HTTP status.
    Status,
    /// The connection is reset.
    Reset,
    /// No answer for this long, then a reset.
    Hang(Duration),
}

/// A validated behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Status of a success.
    pub status: u16,
    /// Status of a failure.
    pub fail_status: u16,
    /// When to fail.
    pub pattern: Pattern,
    /// How to fail.
    pub fail_mode: FailMode,
    /// Delay before answering.
    pub delay: Delay,
    /// `Retry-After` seconds on failures.
    pub retry_after: Option<u64>,
}

/// What to do with one POST.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// Answer with this status; `failed` when it is a programmed failure.
    Status {
        /// The status.
        code: u16,
        /// Whether this is a programmed failure.
        failed: bool,
    },
    /// Reset the connection.
    Reset,
    /// Hang, then reset.
    Hang(Duration),
}

/// The longest hang allowed, so every connection ends.
pub const MAX_HANG: Duration = Duration::from_secs(120);

impl RouteConfig {
    /// Checks the table; the error names the field.
    pub fn behaviour(&self) -> Result<Behaviour, (&'static str, String)> {
        let status = check_status("status", self.status.unwrap_or(200))?;
        if !(200..300).contains(&status) {
            return Err((
                "status",
                format!("{status} is not a success; a success is 2xx (failures are `fail_status`)"),
            ));
        }
        let fail_status = check_status("fail_status", self.fail_status.unwrap_or(500))?;
        if (200..300).contains(&fail_status) {
            return Err((
                "fail_status",
                format!("{fail_status} is a success; a failure is 3xx, 4xx or 5xx"),
            ));
        }
        let mut patterns = Vec::new();
        if let Some(n) = self.fail_after {
            patterns.push(("fail_after", Pattern::After(n)));
        }
        if let Some(n) = self.fail_times {
            patterns.push(("fail_times", Pattern::Times(n)));
        }
        if let Some(n) = self.fail_every {
            if n == 0 {
                return Err(("fail_every", "must be at least 1".into()));
            }
            patterns.push(("fail_every", Pattern::Every(n)));
        }
        if let Some(c) = &self.cycle {
            if c.is_empty() {
                return Err(("cycle", "the list of statuses is empty".into()));
            }
            for s in c {
                check_status("cycle", *s)?;
            }
            patterns.push(("cycle", Pattern::Cycle(c.clone())));
        }
        if patterns.len() > 1 {
            let names: Vec<&str> = patterns.iter().map(|p| p.0).collect();
            return Err((
                patterns[1].0,
                format!("give one failure pattern, not {}", names.join(" and ")),
            ));
        }
        let fail_mode = match (&self.hang, self.reset) {
            (Some(_), Some(true)) => return Err(("reset", "give `hang` or `reset`, not both".into())),
            (Some(h), _) => {
                let d = parse_duration(h).map_err(|m| ("hang", m))?;
                if d > MAX_HANG {
                    return Err(("hang", format!("at most {} s", MAX_HANG.as_secs())));
                }
                FailMode::Hang(d)
            }
            (None, Some(true)) => FailMode::Reset,
            _ => FailMode::Status,
        };
        let pattern = match patterns.pop() {
            Some((_, p)) => p,
            None if fail_mode != FailMode::Status => Pattern::Always,
            None => Pattern::Never,
        };
        let delay = match &self.latency {
            None => Delay::None,
            Some(s) => parse_delay(s).map_err(|m| ("latency", m))?,
        };
        if delay.longest_mean() > MAX_HANG {
            return Err(("latency", format!("at most {} s", MAX_HANG.as_secs())));
        }
        Ok(Behaviour {
            status,
            fail_status,
            pattern,
            fail_mode,
            delay,
            retry_after: self.retry_after,
        })
    }
}

fn check_status(field: &'static str, s: u16) -> Result<u16, (&'static str, String)> {
    if (200..=599).contains(&s) {
        Ok(s)
    } else {
        Err((field, format!("{s} is not a final HTTP status (200..=599)")))
    }
}

/// Parses `"20ms"`, `"10ms..50ms"`, `"exp(20ms)"` or `"normal(50ms,10ms)"`.
pub fn parse_delay(s: &str) -> Result<Delay, String> {
    let s = s.trim();
    let inner = |prefix: &str| s.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')).map(str::trim);
    if let Some(mean) = inner("exp(") {
        return Ok(Delay::Exponential(parse_duration(mean)?));
    }
    if let Some(args) = inner("normal(") {
        let (m, sd) = args
            .split_once(',')
            .ok_or_else(|| format!("expected normal(MEAN,STDDEV), got \"{s}\""))?;
        return Ok(Delay::Normal(parse_duration(m.trim())?, parse_duration(sd.trim())?));
    }
    if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (parse_duration(a.trim())?, parse_duration(b.trim())?);
        if a > b {
            return Err(format!("\"{s}\": the low end is above the high end"));
        }
        return Ok(Delay::Uniform(a, b));
    }
    parse_duration(s)
        .map(Delay::Fixed)
        .map_err(|m| format!("{m}; expected \"20ms\", \"10ms..50ms\", \"exp(20ms)\" or \"normal(50ms,10ms)\""))
}

impl Delay {
    /// The largest of its parameters, for the bound check.
    fn longest_mean(&self) -> Duration {
        match *self {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) | Delay::Exponential(d) => d,
            Delay::Uniform(_, b) => b,
            Delay::Normal(m, sd) => m.saturating_add(sd),
        }
    }

    /// A delay drawn from the distribution, never above [`MAX_HANG`].
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        self.draw(rng).min(MAX_HANG)
    }

    fn draw(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => d,
            Delay::Uniform(a, b) if a == b => a,
            Delay::Uniform(a, b) => Duration::from_nanos(rng.random_range(a.as_nanos() as u64..=b.as_nanos() as u64)),
            Delay::Exponential(mean) => {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                mean.mul_f64((-u.ln()).min(20.0))
            }
            Delay::Normal(mean, sd) => {
                // Box–Muller.
                let u1: f64 = rng.random_range(f64::EPSILON..1.0);
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let secs = mean.as_secs_f64() + z * sd.as_secs_f64();
                Duration::from_secs_f64(secs.clamp(0.0, MAX_HANG.as_secs_f64()))
            }
        }
    }
}

impl Behaviour {
    /// `(failed, status)` for a failure or a success.
    fn pick(&self, failed: bool) -> (bool, u16) {
        (failed, if failed { self.fail_status } else { self.status })
    }

    /// The answer to the route's `n`-th POST (from 0).
    pub fn answer(&self, n: u64) -> Answer {
        let (failed, code) = match &self.pattern {
            Pattern::Never => (false, self.status),
            Pattern::Always => (true, self.fail_status),
            Pattern::After(k) => self.pick(n >= *k),
            Pattern::Times(k) => self.pick(n < *k),
            Pattern::Every(k) => self.pick((n + 1) % k == 0),
            Pattern::Cycle(c) => {
                let code = c[(n % c.len() as u64) as usize];
                (!(200..300).contains(&code), code)
            }
        };
        if !failed {
            // A cycle's own 2xx codes are answered as written.
            return Answer::Status { code, failed: false };
        }
        match self.fail_mode {
            FailMode::Status => Answer::Status { code, failed: true },
            FailMode::Reset => Answer::Reset,
            FailMode::Hang(d) => Answer::Hang(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(toml_text: &str) -> Behaviour {
        let r: RouteConfig = toml::from_str(toml_text).unwrap();
        r.behaviour().unwrap()
    }

    fn failures(b: &Behaviour, n: u64) -> Vec<u64> {
        (0..n)
            .filter(|&i| !matches!(b.answer(i), Answer::Status { failed: false, .. }))
            .collect()
    }

    #[test]
    fn patterns_fail_where_they_say() {
        assert_eq!(failures(&route("fail_after = 3"), 6), vec![3, 4, 5]);
        assert_eq!(failures(&route("fail_times = 2"), 5), vec![0, 1]);
        assert_eq!(failures(&route("fail_every = 10"), 30), vec![9, 19, 29]);
        let b = route("cycle = [200, 503, 202]");
        assert_eq!(
            b.answer(1),
            Answer::Status {
                code: 503,
                failed: true
            }
        );
        assert_eq!(
            b.answer(4),
            Answer::Status {
                code: 503,
                failed: true
            }
        );
        assert_eq!(failures(&b, 6), vec![1, 4]);
        assert!(failures(&route("status = 204"), 100).is_empty());
        assert_eq!(
            route("status = 204").answer(0),
            Answer::Status {
                code: 204,
                failed: false
            }
        );
        assert_eq!(route("reset = true").answer(0), Answer::Reset);
        assert_eq!(
            route("fail_every = 2\nhang = \"1s\"").answer(1),
            Answer::Hang(Duration::from_secs(1))
        );
    }

    #[test]
    fn bad_tables_name_the_field() {
        let bad = |t: &str| {
            let r: RouteConfig = toml::from_str(t).unwrap();
            r.behaviour().unwrap_err()
        };
        assert_eq!(bad("fail_after = 1\nfail_every = 2").0, "fail_every");
        assert_eq!(bad("status = 99").0, "status");
        assert_eq!(bad("status = 500").0, "status");
        assert_eq!(bad("fail_status = 200").0, "fail_status");
        assert_eq!(bad("latency = \"normal(18446744073709551615s,1s)\"").0, "latency");
        assert_eq!(bad("latency = \"fast\"").0, "latency");
        assert_eq!(bad("hang = \"10m\"").0, "hang");
        assert_eq!(bad("cycle = []").0, "cycle");
        assert_eq!(bad("latency = \"1h\"").0, "latency");
        assert!(toml::from_str::<RouteConfig>("fail_aftr = 1").is_err());
    }

    #[test]
    fn latency_distributions_stay_in_range() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        use rand::SeedableRng;
        let u = parse_delay("10ms..50ms").unwrap();
        for _ in 0..1000 {
            let d = u.sample(&mut rng);
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(50));
        }
        let e = parse_delay("exp(20ms)").unwrap();
        let mean: f64 = (0..20_000).map(|_| e.sample(&mut rng).as_secs_f64()).sum::<f64>() / 20_000.0;
        assert!((mean - 0.020).abs() < 0.002, "{mean}");
        let n = parse_delay("normal(50ms, 10ms)").unwrap();
        let mean: f64 = (0..20_000).map(|_| n.sample(&mut rng).as_secs_f64()).sum::<f64>() / 20_000.0;
        assert!((mean - 0.050).abs() < 0.002, "{mean}");
        assert_eq!(parse_delay("20ms").unwrap(), Delay::Fixed(Duration::from_millis(20)));
    }
}
