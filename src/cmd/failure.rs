//! Why a command stopped before it could finish: bad input (exit 2,
//! nothing done) or an operational failure (exit 3). `report`, `publish`
//! and `baseline` share it.

use crate::exit::Exit;

/// Why a command stopped.
pub(crate) enum Failure {
    /// A file or an argument is wrong (exit 2).
    Input(String),
    /// The work could not be done: files not written, GitHub or git
    /// unreachable or refusing (exit 3).
    Operational(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Input(e)
    }
}

impl Failure {
    /// Prints the error and gives its exit code.
    pub(crate) fn exit(self) -> Exit {
        match self {
            Failure::Input(e) => {
                eprintln!("error: {e}");
                Exit::BadInput
            }
            Failure::Operational(e) => {
                eprintln!("error: {e}");
                Exit::Operational
            }
        }
    }
}
