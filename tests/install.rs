//! The installer, `scripts/install.sh`, against a local release server
//! (tests/release_fixture) that serves this build's binary packed as a
//! release: it lands in the cache and on GITHUB_PATH and runs; a wrong
//! checksum installs nothing; an unsupported OS is refused before anything
//! is downloaded; a platform or version with no asset falls back to
//! `cargo install --locked` of the action's checkout.

mod release_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use release_fixture::{Release, checksum_line, pack, repo_root, serve, tag, target};

/// One installer run's world: a cache, the runner's files, and the variables.
struct Runner {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Runner {
    fn new(release: &Release, version: &str) -> Runner {
        let dir = tempfile::tempdir().unwrap();
        for f in ["github_path", "github_output"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let env = vec![
            ("RUNNER_OS".into(), release_fixture::runner_os().into()),
            ("RUNNER_ARCH".into(), release_fixture::runner_arch().into()),
            (
                "RUNNER_TOOL_CACHE".into(),
                dir.path().join("toolcache").display().to_string(),
            ),
            (
                "GITHUB_PATH".into(),
                dir.path().join("github_path").display().to_string(),
            ),
            (
                "GITHUB_OUTPUT".into(),
                dir.path().join("github_output").display().to_string(),
            ),
            ("LOADCHECK_DOWNLOAD_URL".into(), release.base()),
            ("LOADCHECK_VERSION".into(), version.into()),
            ("LOADCHECK_SOURCE".into(), repo_root().display().to_string()),
        ];
        Runner { dir, env }
    }

    fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Runs the installer as the action does (`bash`), with only these
    /// variables and the machine's PATH (or `path`).
    fn install(&self, path: Option<String>) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/install.sh"))
            .env_clear()
            .env("PATH", path.unwrap_or_else(|| std::env::var("PATH").unwrap()))
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().expect("bash")
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("toolcache/loadcheck")
    }

    fn github_path(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("github_path")).unwrap()
    }

    fn github_output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("github_output")).unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file named `loadcheck` under `dir`.
fn binaries_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "loadcheck") {
                found.push(p);
            }
        }
    }
    found
}

fn this_target() -> &'static str {
    target().expect("the install tests run on a platform with a release asset")
}

#[tokio::test]
async fn installs_the_release_checks_it_caches_it_and_puts_it_on_the_path() {
    let work = tempfile::tempdir().unwrap();
    let asset = pack(work.path(), this_target());
    let release = serve(&asset, &tag(), &checksum_line(&asset)).await;
    let runner = Runner::new(&release, &tag());

    let out = runner.install(None);
    assert!(out.status.success(), "{}", text(&out));
    let bin_dir = runner
        .cache()
        .join(release_fixture::version())
        .join(this_target())
        .join("bin");
    assert_eq!(
        runner.github_path(),
        format!("{}\n", bin_dir.display()),
        "{}",
        text(&out)
    );
    let outputs = runner.github_output();
    assert!(
        outputs.contains(&format!("path={}\n", bin_dir.join("loadcheck").display())),
        "{outputs}"
    );
    assert!(
        outputs.contains(&format!("version={}\n", release_fixture::version())),
        "{outputs}"
    );

    // It runs from the PATH the next step gets.
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let version = Command::new("bash")
        .args(["-c", "loadcheck --version"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(version.status.success(), "{}", text(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("loadcheck {}", release_fixture::version())
    );
    // Nothing but the installed binary is left in the cache.
    assert_eq!(binaries_under(&runner.cache()), vec![bin_dir.join("loadcheck")]);
    assert_eq!(release.hits(".tar.gz").await, 1);

    // A second install in the same cache downloads nothing.
    let again = runner.install(None);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("using the cached"),
        "{}",
        text(&again)
    );
    assert_eq!(release.hits(".tar.gz").await, 1);
    assert_eq!(release.hits(".sha256").await, 1);
}

#[tokio::test]
async fn latest_follows_the_releases_redirect_to_its_tag() {
    let work = tempfile::tempdir().unwrap();
    let asset = pack(work.path(), this_target());
    let release = serve(&asset, &tag(), &checksum_line(&asset)).await;
    let runner = Runner::new(&release, "latest");

    let out = runner.install(None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(release.hits("/releases/latest").await, 1);
    let bin = runner
        .cache()
        .join(release_fixture::version())
        .join(this_target())
        .join("bin/loadcheck");
    assert!(bin.is_file(), "{}", text(&out));
}

#[tokio::test]
async fn a_wrong_checksum_installs_nothing() {
    let work = tempfile::tempdir().unwrap();
    let asset = pack(work.path(), this_target());
    let wrong = format!("{}  {}.tar.gz\n", "0".repeat(64), asset.stem);
    let release = serve(&asset, &tag(), &wrong).await;
    let runner = Runner::new(&release, &tag());

    let out = runner.install(None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("::error"), "{}", text(&out));
    assert!(stderr.contains("checksum mismatch"), "{}", text(&out));
    assert!(stderr.contains(&asset.sha256), "names what it got: {}", text(&out));
    assert_eq!(runner.github_path(), "", "nothing on the PATH");
    assert_eq!(runner.github_output(), "");
    assert_eq!(
        binaries_under(&runner.cache()),
        Vec::<PathBuf>::new(),
        "nothing in the cache"
    );
    let left: Vec<_> = std::fs::read_dir(runner.cache())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "the cache holds {left:?}");
}

#[tokio::test]
async fn a_checksum_file_that_is_missing_or_not_a_checksum_installs_nothing() {
    let work = tempfile::tempdir().unwrap();
    let asset = pack(work.path(), this_target());
    for (line, says) in [("not a checksum\n", "holds no SHA-256"), ("", "holds no SHA-256")] {
        let release = serve(&asset, &tag(), line).await;
        let runner = Runner::new(&release, &tag());
        let out = runner.install(None);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{}", text(&out));
        assert_eq!(runner.github_path(), "");
        assert_eq!(binaries_under(&runner.cache()), Vec::<PathBuf>::new());
    }
}

#[tokio::test]
async fn windows_is_refused_before_anything_is_downloaded() {
    let work = tempfile::tempdir().unwrap();
    let asset = pack(work.path(), this_target());
    let release = serve(&asset, &tag(), &checksum_line(&asset)).await;
    let mut runner = Runner::new(&release, &tag());
    runner.set("RUNNER_OS", "Windows");

    let out = runner.install(None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("::error"), "{}", text(&out));
    assert!(
        stderr.contains("Linux and macOS runners only, not on Windows"),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("Unix signals and process groups"), "{}", text(&out));
    assert!(release.server.received_requests().await.unwrap_or_default().is_empty());
    assert_eq!(runner.github_path(), "");
}

/// A `cargo` that records its arguments and "builds" loadcheck by copying
/// this test build into `--root`/bin, so the fallback is checked without a
/// ten-minute build.
fn fake_cargo(dir: &Path) -> PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("cargo-args");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{log}'\nroot=''\nwhile [ $# -gt 0 ]; do\n  [ \"$1\" = --root ] && root=\"$2\"\n  shift\ndone\nmkdir -p \"$root/bin\" && cp '{exe}' \"$root/bin/loadcheck\"\n",
        log = log.display(),
        exe = release_fixture::binary().display()
    );
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

#[tokio::test]
async fn no_asset_for_the_version_falls_back_to_cargo_install_of_the_checkout() {
    let work = tempfile::tempdir().unwrap();
    let asset = pack(work.path(), this_target());
    // The server has the current tag; v0.0.1 has no asset (404).
    let release = serve(&asset, &tag(), &checksum_line(&asset)).await;
    let runner = Runner::new(&release, "v0.0.1");
    let log = fake_cargo(work.path());
    let path = format!(
        "{}:{}",
        work.path().join("fake-bin").display(),
        std::env::var("PATH").unwrap()
    );

    let out = runner.install(Some(path.clone()));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no release asset"),
        "says why it builds: {}",
        text(&out)
    );
    let args: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let root = repo_root().display().to_string();
    assert_eq!(
        &args[..6],
        ["install", "--locked", "--path", root.as_str(), "--bin", "loadcheck"],
        "{args:?}"
    );
    let added = runner.github_path();
    let added = added.trim_end();
    assert!(
        added.starts_with(&runner.cache().join("source-").display().to_string()),
        "{added}"
    );
    assert!(added.ends_with(&format!("{}/bin", this_target())), "{added}");
    assert!(Path::new(added).join("loadcheck").is_file());

    // The build is cached by the source's digest: the next install builds nothing.
    std::fs::remove_file(&log).unwrap();
    let again = runner.install(Some(path));
    assert!(again.status.success(), "{}", text(&again));
    assert!(!log.exists(), "cargo ran again: {}", text(&again));
}

#[tokio::test]
async fn no_release_at_all_falls_back_to_cargo_too() {
    let work = tempfile::tempdir().unwrap();
    // A server with no releases: /releases/latest is a 404.
    let release = Release {
        server: wiremock::MockServer::start().await,
    };
    let runner = Runner::new(&release, "latest");
    let log = fake_cargo(work.path());
    let path = format!(
        "{}:{}",
        work.path().join("fake-bin").display(),
        std::env::var("PATH").unwrap()
    );

    let out = runner.install(Some(path));
    assert!(out.status.success(), "{}", text(&out));
    assert!(log.is_file(), "cargo was not run: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no latest release"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn a_version_that_is_not_a_tag_is_refused() {
    let release = Release {
        server: wiremock::MockServer::start().await,
    };
    let runner = Runner::new(&release, "main; rm -rf /");
    let out = runner.install(None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("version must be `latest` or a tag"),
        "{}",
        text(&out)
    );
    assert!(release.server.received_requests().await.unwrap_or_default().is_empty());
}
