//! Availability analysis (being written).
