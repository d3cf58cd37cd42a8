//! The `loadcheck` binary: parse the command line, run, exit.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = loadcheck::cli::Cli::parse();
    let code = loadcheck::run(cli).await;
    std::process::ExitCode::from(code.code())
}
