//! GitHub rollout triggers (being written).
