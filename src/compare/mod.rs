//! Comparing a run with its baseline: whether this run's latency, error
//! rate and throughput are a regression against the runs recorded before
//! it, judged with statistics that respect the dependence between
//! successive seconds and between successive runs.

pub mod stats;
