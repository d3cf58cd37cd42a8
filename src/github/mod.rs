//! The GitHub client (being written).
