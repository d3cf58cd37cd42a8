//! One file per subcommand, each wiring the stages below it into its part
//! of the pipeline. `lib.rs` dispatches here.

pub mod demo;
pub mod run;
pub mod sink;
pub mod validate;
pub mod verdict;
