//! `--shard i/N`: one generator's share of a plan, so that N processes (a
//! GitHub Actions matrix, a Kubernetes Indexed Job) run the plan together
//! and `loadcheck merge` adds their results up.
//!
//! Rates and VU counts are split so the shards add up exactly: a whole
//! number is split in whole shares, the first `total mod N` shards taking
//! one more (203 req/s over 4: 51, 51, 51, 50; 5 VUs over 4: 2, 1, 1, 1);
//! a fractional rate is divided. Each scenario's `{{vu}}` numbers are
//! offset by the shares of the shards before, so they stay unique across
//! shards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Plan;
use super::scenario::Executor;

/// The most shards a plan may be split into.
pub const MAX_SHARDS: u32 = 1000;

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1 to `count`.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let expected = || format!("{s:?}: expected i/N, such as 2/4 (shard 2 of 4; i from 1 to N)");
        let (i, n) = s.split_once('/').ok_or_else(expected)?;
        let index: u32 = i.trim().parse().map_err(|_| expected())?;
        let count: u32 = n.trim().parse().map_err(|_| expected())?;
        if count == 0 || index == 0 || index > count {
            return Err(expected());
        }
        if count > MAX_SHARDS {
            return Err(format!("{s:?}: at most {MAX_SHARDS} shards"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// This shard's share of a whole `total`: the first `total mod N`
    /// shards take one more.
    pub fn share(self, total: u64) -> u64 {
        let n = u64::from(self.count);
        total / n + u64::from(u64::from(self.index) <= total % n)
    }

    /// The sum of the shares of the shards before this one.
    pub fn offset(self, total: u64) -> u64 {
        (1..self.index).map(|i| Shard { index: i, ..self }.share(total)).sum()
    }

    /// This shard's share of a rate: whole shares of a whole rate, else a
    /// division.
    pub fn share_rate(self, rate: f64) -> f64 {
        if rate >= 0.0 && rate.fract() == 0.0 && rate < 9.0e15 {
            self.share(rate as u64) as f64
        } else {
            rate / f64::from(self.count)
        }
    }

    fn share_u32(self, total: u32) -> u32 {
        self.share(u64::from(total)) as u32
    }

    /// This shard's seed, derived from the run's: shards of one run never
    /// draw the same `{{uuid}}` or random choices.
    pub fn seed(self, base: u64) -> u64 {
        let mut z = base ^ u64::from(self.index).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        z = (z ^ (z >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        z ^ (z >> 32)
    }
}

impl Plan {
    /// Whether this plan can be split into `shard`'s share: a rollout
    /// trigger loadcheck fires needs a version header the shards other than
    /// 1 can watch.
    pub fn check_shard(&self, shard: Shard) -> Result<(), String> {
        match self.rollout.as_ref().and_then(|r| r.trigger.as_ref().map(|t| (r, t))) {
            Some((r, t)) if shard.index != 1 && t.is_fired() && r.version_header.is_none() => Err(format!(
                "[rollout]: a sharded run fires the `{}` trigger from shard 1 only, so every other shard must see \
                 the rollout itself: set `version_header` (the response header with the app version), or use \
                 the `github_deployment` watcher",
                t.kind()
            )),
            _ => Ok(()),
        }
    }

    /// Makes this plan shard `shard`'s share of it. With a `[rollout]`
    /// whose trigger loadcheck fires (`command`, `github_workflow`), only
    /// shard 1 fires it; the others mark the phases by the version header,
    /// and without one the plan cannot be sharded.
    pub fn shard(&mut self, shard: Shard) -> Result<(), String> {
        self.check_shard(shard)?;
        if let Some(r) = self.rollout.as_mut()
            && shard.index != 1
            && r.trigger.as_ref().is_some_and(|t| t.is_fired())
        {
            r.trigger = None;
        }
        for sc in &mut self.scenarios {
            let max_vus = u64::from(sc.executor.max_vus());
            match &mut sc.executor {
                Executor::ConstantArrivalRate { rate, .. } => *rate = shard.share_rate(*rate),
                Executor::RampingArrivalRate { start_rate, stages } => {
                    *start_rate = shard.share_rate(*start_rate);
                    for s in stages {
                        s.target = shard.share_rate(s.target);
                    }
                }
                Executor::ConstantVus { vus, .. } | Executor::PerVuIterations { vus, .. } => {
                    *vus = shard.share_u32(*vus);
                }
                Executor::RampingVus { start_vus, stages } => {
                    *start_vus = shard.share_u32(*start_vus);
                    for s in stages {
                        s.target = shard.share_rate(s.target.ceil());
                    }
                }
                Executor::SharedIterations { vus, iterations, .. } => {
                    *vus = shard.share_u32(*vus);
                    *iterations = shard.share(*iterations);
                }
            }
            sc.vu_offset = if sc.executor.is_open() {
                u64::from(shard.index - 1) * sc.max_in_flight as u64
            } else {
                shard.offset(max_vus)
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(n: u32) -> impl Iterator<Item = Shard> {
        (1..=n).map(move |index| Shard { index, count: n })
    }

    #[test]
    fn parses_i_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("1/1".parse::<Shard>(), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", "-1/4", "1/1001"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 3, count: 8 }.to_string(), "3/8");
    }

    #[test]
    fn shares_add_up_exactly() {
        let s: Vec<u64> = shards(4).map(|s| s.share(203)).collect();
        assert_eq!(s, [51, 51, 51, 50]);
        let s: Vec<u64> = shards(4).map(|s| s.share(5)).collect();
        assert_eq!(s, [2, 1, 1, 1]);
        let s: Vec<u64> = shards(4).map(|s| s.share(3)).collect();
        assert_eq!(s, [1, 1, 1, 0]);
        let o: Vec<u64> = shards(4).map(|s| s.offset(5)).collect();
        assert_eq!(o, [0, 2, 3, 4]);
        for total in [0u64, 1, 7, 1000, 1001, 99_999] {
            for n in [1, 2, 3, 7, 16] {
                assert_eq!(shards(n).map(|s| s.share(total)).sum::<u64>(), total);
            }
        }
        let r: f64 = shards(3).map(|s| s.share_rate(10.5)).sum();
        assert!((r - 10.5).abs() < 1e-12);
        assert_eq!(shards(4).map(|s| s.share_rate(203.0)).sum::<f64>(), 203.0);
    }

    #[test]
    fn seeds_differ_by_shard() {
        let seeds: std::collections::BTreeSet<u64> = shards(16).map(|s| s.seed(42)).collect();
        assert_eq!(seeds.len(), 16);
        assert_eq!(
            Shard { index: 2, count: 4 }.seed(42),
            Shard { index: 2, count: 4 }.seed(42)
        );
    }
}
