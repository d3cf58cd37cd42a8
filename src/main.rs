//! The `loadcheck` binary: parse the command line, run, exit.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    fix_mmap_threshold();
    let cli = loadcheck::cli::Cli::parse();
    let code = loadcheck::run(cli).await;
    std::process::ExitCode::from(code.code())
}

/// A run makes and drops dozens of 139 KB histograms a second (each
/// worker's second, the aggregator's timeline row and interval-log cells).
/// glibc serves a block that size with `mmap`, but after the first such
/// block is freed it raises its threshold above it (the "dynamic mmap
/// threshold") and serves every later one from the heap, where blocks that
/// come and go among long-lived small ones fragment it: an hour's soak grew
/// RSS by megabytes the live heap did not have. Setting the threshold
/// (128 KiB, glibc's default) turns the adjustment off, so these blocks
/// go straight back to the system when dropped. `MALLOC_MMAP_THRESHOLD_`
/// in the environment still overrides it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_mmap_threshold() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: mallopt takes no pointers; it sets one of glibc's allocator
    // parameters, which glibc guards with its own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}
