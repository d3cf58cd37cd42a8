//! The open model's connections, per worker and scenario.
//!
//! Sends do not wait for each other, so a stall opens as many connections
//! as there are requests waiting on it. Once the stall is over, those
//! connections are not kept idle for the rest of the run: the pool keeps as
//! many as the concurrency of the last two seconds needs, plus a few spare,
//! and closes the rest as they come back. Memory then follows the load
//! instead of the worst moment of the run.

use super::exchange::Slot;

/// Idle connections kept beyond the recent peak of requests in flight.
const SPARE: usize = 8;

/// Connections of one open-model scenario on one worker.
pub struct Pool {
    idle: Vec<Vec<Slot>>,
    in_flight: usize,
    second: u64,
    peak_this_second: usize,
    peak_last_second: usize,
}

impl Pool {
    /// An empty pool for `n_origins` origins.
    pub fn new(n_origins: usize) -> Self {
        Pool {
            idle: (0..n_origins).map(|_| Vec::new()).collect(),
            in_flight: 0,
            second: 0,
            peak_this_second: 0,
            peak_last_second: 0,
        }
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// A request starts at second `now_s` of the run: counts it, and hands
    /// it an idle connection to `origin` if there is one.
    pub fn take(&mut self, origin: usize, now_s: u64) -> Slot {
        self.roll(now_s);
        self.in_flight += 1;
        self.peak_this_second = self.peak_this_second.max(self.in_flight);
        self.idle[origin].pop().unwrap_or_default()
    }

    /// A request has ended: keeps its connection if it is usable and the
    /// recent peak needs it, and closes it otherwise.
    pub fn give_back(&mut self, origin: usize, slot: Slot, now_s: u64) {
        self.roll(now_s);
        self.in_flight -= 1;
        let held: usize = self.idle.iter().map(Vec::len).sum::<usize>() + self.in_flight;
        let keep = self.peak_this_second.max(self.peak_last_second) + SPARE;
        if slot.is_usable() && held < keep {
            self.idle[origin].push(slot);
        }
    }

    fn roll(&mut self, now_s: u64) {
        if now_s != self.second {
            self.peak_last_second = if now_s == self.second + 1 {
                self.peak_this_second
            } else {
                0
            };
            self.peak_this_second = self.in_flight;
            self.second = now_s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_flight_and_follows_the_recent_peak() {
        let mut pool = Pool::new(1);
        let slots: Vec<Slot> = (0..100).map(|_| pool.take(0, 0)).collect();
        assert_eq!(pool.in_flight(), 100);
        for s in slots {
            pool.give_back(0, s, 0);
        }
        assert_eq!(pool.in_flight(), 0);
        // Two seconds later the peak of 100 is forgotten.
        let s = pool.take(0, 2);
        pool.give_back(0, s, 3);
        assert_eq!(pool.peak_last_second.max(pool.peak_this_second), 1);
    }
}
