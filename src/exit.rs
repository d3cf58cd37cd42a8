//! Exit codes, decided at the end from counted outcomes (DESIGN.md).

/// loadcheck's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything passed.
    Pass = 0,
    /// The verdict failed: a threshold or a requirement.
    Fail = 1,
    /// Bad input: nothing was sent.
    BadInput = 2,
    /// Operational failure: unreachable target, or aborted by a signal.
    Operational = 3,
}

impl Exit {
    /// When several apply, the first of 2, 3, 1 wins (then 0).
    pub fn combine(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::BadInput => 0,
            Exit::Operational => 1,
            Exit::Fail => 2,
            Exit::Pass => 3,
        };
        if rank(other) < rank(self) { other } else { self }
    }

    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit of a recorded code (a verdict's `exit_code`); anything but
    /// 0, 1 and 2 is operational.
    pub fn from_code(code: i32) -> Exit {
        match code {
            0 => Exit::Pass,
            1 => Exit::Fail,
            2 => Exit::BadInput,
            _ => Exit::Operational,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_2_3_1_0() {
        assert_eq!(Exit::Fail.combine(Exit::Operational), Exit::Operational);
        assert_eq!(Exit::Operational.combine(Exit::BadInput), Exit::BadInput);
        assert_eq!(Exit::Pass.combine(Exit::Fail), Exit::Fail);
        assert_eq!(Exit::BadInput.combine(Exit::Fail), Exit::BadInput);
        assert_eq!(Exit::Pass.combine(Exit::Pass), Exit::Pass);
    }
}
