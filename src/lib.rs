//! loadcheck: is this deploy safe under load?
//!
//! [`run`] dispatches a command line to its subcommand in [`cmd`]; `loadcheck
//! run` reads as the pipeline: plan → preflight → engine → `RunResult`
//! (`run.json`) → verdict → exit code. Each stage lives in its own module,
//! takes only what the stage before it produced, and imports only from the
//! layers below it (`docs/architecture.md`).

pub mod atomic;
pub mod cli;
pub(crate) mod cmd;
pub mod compare;
pub mod demo;
pub(crate) mod engine;
pub(crate) mod errors;
pub mod exit;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod github;
pub mod import;
pub mod metrics;
pub(crate) mod net;
pub(crate) mod outcome;
pub mod plan;
pub(crate) mod progress;
pub mod prometheus;
pub mod redact;
pub mod report;
pub mod rollout;
pub mod signing;
pub mod sink;
pub mod verdict;

pub use cmd::run::{run_plan, write_run_json};

use cli::{Cli, Command, DemoCommand};
use exit::Exit;

/// Runs a parsed command line and returns the exit code.
pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Run(args) => {
            let since = std::time::SystemTime::now();
            let code = match cmd::validate::load_run_plan(&args.plan) {
                Ok(plan) => cmd::run::run_plan(plan, &args.engine).await,
                Err(code) => code,
            };
            cmd::actions::finish(&args.engine.out, since, code);
            code
        }
        Command::Validate(args) => cmd::validate::validate(&args),
        Command::Sink(args) => cmd::sink::sink(args).await,
        Command::Verdict(args) => cmd::verdict::verdict(&args),
        Command::Compare(args) => cmd::compare::compare(&args),
        Command::Baseline(args) => cmd::baseline::baseline(&args),
        Command::Report(args) => cmd::report::report(&args),
        Command::Publish(args) => cmd::publish::publish(&args).await,
        Command::Import(args) => cmd::import::import(&args),
        Command::Merge(args) => cmd::merge::merge(&args),
        Command::Demo(args) => match args.command {
            Some(DemoCommand::Serve(s)) => cmd::demo::serve(*s).await,
            None => {
                let since = std::time::SystemTime::now();
                let code = cmd::demo::demo(&args.engine).await;
                cmd::actions::finish(&args.engine.out, since, code);
                code
            }
        },
    }
}
