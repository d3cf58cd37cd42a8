//! A fake release server for the installer (`scripts/install.sh`): it serves
//! the loadcheck this test build made, packed the way `release.yml` packs a
//! release (`loadcheck-<version>-<target>/loadcheck` in
//! `loadcheck-<version>-<target>.tar.gz`, beside `<asset>.sha256`), at the
//! paths GitHub's release downloads use. Shared by tests/install.rs and
//! tests/action.rs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The repository the fake releases belong to.
pub const REPO: &str = "org/loadcheck";

/// The loadcheck binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadcheck"))
}

/// The version the binary reports, as its release is named (no `v`).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The release tag.
pub fn tag() -> String {
    format!("v{}", version())
}

/// The target triple the installer picks on this machine, if it has a release asset.
pub fn target() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-gnu"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-gnu"),
        ("macos", "aarch64") => Some("aarch64-apple-darwin"),
        _ => None,
    }
}

/// `RUNNER_ARCH` as the runner spells this machine's arch.
pub fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "ARM64",
        _ => "X64",
    }
}

/// `RUNNER_OS` as the runner spells this machine's OS.
pub fn runner_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macOS",
        _ => "Linux",
    }
}

/// A packed release asset.
pub struct Asset {
    /// `loadcheck-<version>-<target>`.
    pub stem: String,
    /// The `.tar.gz` file's bytes.
    pub tarball: Vec<u8>,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// Packs the test build's binary as the release asset for `target`. The copy
/// is stripped first when `strip` is there (a dev build is mostly debug info).
pub fn pack(work: &Path, target: &str) -> Asset {
    let stem = format!("loadcheck-{}-{target}", version());
    let dir = work.join("pack").join(&stem);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("loadcheck");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&bin)
        .arg(binary())
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(binary(), &bin).unwrap();
    }
    let tar_path = work.join(format!("{stem}.tar.gz"));
    let status = Command::new("tar")
        .arg("-C")
        .arg(work.join("pack"))
        .arg("-czf")
        .arg(&tar_path)
        .arg(&stem)
        .status()
        .expect("tar");
    assert!(status.success(), "tar failed");
    let tarball = std::fs::read(&tar_path).unwrap();
    let sha256 = hex::encode(Sha256::digest(&tarball));
    Asset { stem, tarball, sha256 }
}

/// What the fake release server serves.
pub struct Release {
    pub server: MockServer,
}

impl Release {
    /// `LOADCHECK_DOWNLOAD_URL` for this server.
    pub fn base(&self) -> String {
        format!("{}/{REPO}/releases", self.server.uri())
    }

    /// How many requests asked for a path ending in `suffix`.
    pub async fn hits(&self, suffix: &str) -> usize {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests.iter().filter(|r| r.url.path().ends_with(suffix)).count()
    }
}

/// Serves `asset` as release `tag`, with `checksum_line` as its `.sha256`
/// file, and `/releases/latest` redirecting to the tag, as GitHub does.
/// Anything else is a 404.
pub async fn serve(asset: &Asset, tag: &str, checksum_line: &str) -> Release {
    let server = MockServer::start().await;
    let base = format!("/{REPO}/releases");
    let download = format!("{base}/download/{tag}/{}.tar.gz", asset.stem);
    Mock::given(method("GET"))
        .and(path(download.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(asset.tarball.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{download}.sha256")))
        .respond_with(ResponseTemplate::new(200).set_body_string(checksum_line.to_string()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/latest")))
        .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}{base}/tag/{tag}", server.uri())))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/tag/{tag}")))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>release</html>"))
        .mount(&server)
        .await;
    Release { server }
}

/// The `.sha256` file release.yml writes for `asset`.
pub fn checksum_line(asset: &Asset) -> String {
    format!("{}  {}.tar.gz\n", asset.sha256, asset.stem)
}

/// The repository's root (the action's checkout).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
