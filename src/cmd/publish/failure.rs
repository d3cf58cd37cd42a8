//! Why publishing stopped, and the exit code it stands for.

/// Why publishing stopped.
pub(crate) enum Failure {
    /// Bad input: nothing was sent (exit 2).
    Input(String),
    /// GitHub refused or could not be reached (exit 3).
    GitHub(String),
}
