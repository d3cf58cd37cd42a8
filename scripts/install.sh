#!/usr/bin/env bash
# Installs loadcheck on a GitHub Actions runner (or any Linux or macOS shell):
# the released binary for this OS and arch, checked against its SHA-256, kept
# in a cache folder keyed by version and target, and put on the PATH of the
# steps that follow (GITHUB_PATH). Where no release asset exists for this
# platform or version, it builds the action's own checkout with
# `cargo install --locked` instead. docs/github-action.md describes it.
#
# Environment (all optional):
#   LOADCHECK_VERSION       `latest` (default) or a tag, `v1.2.3` (`1.2.3` too)
#   LOADCHECK_REPO          owner/name of the releases (default: taken from
#                           GITHUB_ACTION_PATH, else org/loadcheck)
#   LOADCHECK_DOWNLOAD_URL  base URL of the releases (default:
#                           https://github.com/$LOADCHECK_REPO/releases); the
#                           assets are $base/download/<tag>/<asset>, and
#                           $base/latest redirects to $base/tag/<tag>
#   LOADCHECK_CACHE_DIR     cache folder (default: $RUNNER_TOOL_CACHE/loadcheck,
#                           else ~/.cache/loadcheck)
#   LOADCHECK_SOURCE        the source the cargo fallback builds (default:
#                           GITHUB_ACTION_PATH, the action's own checkout)
#   RUNNER_OS, RUNNER_ARCH  the platform (default: from uname)
#
# Assets: loadcheck-<version>-<target>.tar.gz holding
# loadcheck-<version>-<target>/loadcheck, and beside it <asset>.sha256 in
# `sha256sum` format; <version> is the tag without its `v`. Targets:
# x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, aarch64-apple-darwin.
#
# Outputs (GITHUB_OUTPUT): `path` (the binary), `version` (what it reports).
# Exit: 0 installed; 1 anything else, with an `::error::` line saying why.
# Nothing is put on the PATH, and nothing is left in the cache, unless the
# binary was verified and runs.
set -euo pipefail

fail() {
    echo "::error title=loadcheck install::$*" >&2
    exit 1
}
note() { echo "loadcheck install: $*" >&2; }

# --- the platform -------------------------------------------------------------

os="${RUNNER_OS:-$(uname -s)}"
arch="${RUNNER_ARCH:-$(uname -m)}"
case "$os" in
    Linux | linux) os=linux ;;
    macOS | Darwin | darwin) os=macos ;;
    *)
        fail "loadcheck runs on Linux and macOS runners only, not on $os: it needs Unix signals and process groups (to stop its rollout and fault commands and to hand back a partial run on SIGINT/SIGTERM). Use runs-on: ubuntu-latest or macos-14."
        ;;
esac
case "$arch" in
    X64 | x86_64 | amd64) arch=x86_64 ;;
    ARM64 | arm64 | aarch64) arch=aarch64 ;;
esac
target=""
case "$os-$arch" in
    linux-x86_64) target=x86_64-unknown-linux-gnu ;;
    linux-aarch64) target=aarch64-unknown-linux-gnu ;;
    macos-aarch64) target=aarch64-apple-darwin ;;
esac

# --- where the releases are ---------------------------------------------------

repo="${LOADCHECK_REPO:-}"
if [ -z "$repo" ] && [ -n "${GITHUB_ACTION_PATH:-}" ]; then
    # The runner checks a used action out to .../_actions/<owner>/<name>/<ref>.
    case "$GITHUB_ACTION_PATH" in
        */_actions/*/*/*)
            rest="${GITHUB_ACTION_PATH#*/_actions/}"
            owner="${rest%%/*}"
            rest="${rest#*/}"
            repo="$owner/${rest%%/*}"
            ;;
    esac
fi
repo="${repo:-org/loadcheck}"
base="${LOADCHECK_DOWNLOAD_URL:-https://github.com/$repo/releases}"
base="${base%/}"
cache_root="${LOADCHECK_CACHE_DIR:-${RUNNER_TOOL_CACHE:-${HOME:-/tmp}/.cache}/loadcheck}"
source_dir="${LOADCHECK_SOURCE:-${GITHUB_ACTION_PATH:-}}"

# curl GET URL FILE: prints the HTTP status (000 when nothing answered).
fetch() {
    curl --silent --show-error --location --retry 3 --retry-delay 2 \
        --connect-timeout 20 --max-time 600 \
        --output "$2" --write-out '%{http_code}' "$1" || true
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        openssl dgst -sha256 -r "$1" | cut -d' ' -f1
    fi
}

# --- the version --------------------------------------------------------------

requested="${LOADCHECK_VERSION:-latest}"
tag=""
case "$requested" in
    "" | latest)
        # $base/latest redirects to $base/tag/<tag>: no API call, no token.
        effective="$(curl --silent --location --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 60 \
            --output /dev/null --write-out '%{url_effective}' "$base/latest" || true)"
        case "$effective" in
            */tag/*) tag="${effective##*/tag/}" ;;
            *) note "no latest release found at $base/latest" ;;
        esac
        ;;
    v[0-9]* | [0-9]*) tag="v${requested#v}" ;;
    *) fail "version must be \`latest\` or a tag such as v1.2.3, not \`$requested\`" ;;
esac
case "$tag" in
    "" | v[0-9]*) ;;
    *) fail "the latest release's tag \`$tag\` is not a version tag (v1.2.3)" ;;
esac
case "$tag" in
    *[!A-Za-z0-9._+-]*) fail "the release tag \`$tag\` has characters a version does not" ;;
esac
version="${tag#v}"

# --- install ------------------------------------------------------------------

staging=""
cleanup() { [ -n "$staging" ] && rm -rf "$staging"; }
trap cleanup EXIT

# Puts DIR/bin on the PATH of the following steps, and says what was installed.
publish_path() {
    local dir="$1" bin="$1/bin/loadcheck" reported
    reported="$("$bin" --version 2>/dev/null)" || fail "$bin does not run on this runner"
    if [ -n "${GITHUB_PATH:-}" ]; then
        echo "$dir/bin" >>"$GITHUB_PATH"
    else
        note "add it to your PATH: export PATH=\"$dir/bin:\$PATH\""
    fi
    if [ -n "${GITHUB_OUTPUT:-}" ]; then
        {
            echo "path=$bin"
            echo "version=${reported#loadcheck }"
        } >>"$GITHUB_OUTPUT"
    fi
    note "installed $reported at $bin"
}

# Moves a verified DIR into the cache as KEY; another job that got there first wins.
commit_to_cache() {
    local from="$1" to="$2"
    mkdir -p "$(dirname "$to")"
    if ! mv "$from" "$to" 2>/dev/null; then
        [ -x "$to/bin/loadcheck" ] || fail "cannot write the cache folder $to"
        rm -rf "$from"
    fi
}

mkdir -p "$cache_root"
staging="$(mktemp -d "$cache_root/.install.XXXXXX")"

install_release() {
    local asset="loadcheck-$version-$target"
    local dest="$cache_root/$version/$target"
    if [ -x "$dest/bin/loadcheck" ] && "$dest/bin/loadcheck" --version >/dev/null 2>&1; then
        note "using the cached $dest"
        publish_path "$dest"
        return 0
    fi
    local url="$base/download/$tag/$asset.tar.gz" status
    status="$(fetch "$url" "$staging/$asset.tar.gz")"
    case "$status" in
        200) ;;
        404)
            note "no release asset $url"
            no_asset=1
            return 0
            ;;
        *) fail "downloading $url failed (HTTP $status)" ;;
    esac
    status="$(fetch "$url.sha256" "$staging/$asset.sha256")"
    [ "$status" = 200 ] || fail "downloading $url.sha256 failed (HTTP $status): refusing to install an unchecked binary"
    local want got
    want="$(cut -d' ' -f1 <"$staging/$asset.sha256" | tr -d '\r\n' | tr 'A-F' 'a-f')"
    got="$(sha256_of "$staging/$asset.tar.gz")"
    case "$want" in
        *[!0-9a-f]* | "") fail "$url.sha256 holds no SHA-256: refusing to install an unchecked binary" ;;
    esac
    [ "${#want}" -eq 64 ] || fail "$url.sha256 holds no SHA-256: refusing to install an unchecked binary"
    [ "$want" = "$got" ] || fail "checksum mismatch for $asset.tar.gz: expected $want, got $got. Nothing was installed."
    mkdir -p "$staging/unpack" "$staging/tool/bin"
    tar -xzf "$staging/$asset.tar.gz" -C "$staging/unpack" || fail "cannot unpack $asset.tar.gz"
    [ -f "$staging/unpack/$asset/loadcheck" ] || fail "$asset.tar.gz holds no $asset/loadcheck"
    mv "$staging/unpack/$asset/loadcheck" "$staging/tool/bin/loadcheck"
    chmod 755 "$staging/tool/bin/loadcheck"
    "$staging/tool/bin/loadcheck" --version >/dev/null 2>&1 ||
        fail "the downloaded loadcheck does not run on this runner ($target)"
    commit_to_cache "$staging/tool" "$dest"
    publish_path "$dest"
}

# The source's identity, so that a cached build of other source is not reused.
source_key() {
    local pkgver
    pkgver="$(sed -n 's/^version = "\(.*\)"/\1/p' "$source_dir/Cargo.toml" | head -n 1)"
    (cd "$source_dir" && find Cargo.toml Cargo.lock src templates -type f 2>/dev/null | LC_ALL=C sort |
        while IFS= read -r f; do printf '%s\n' "$f"; cat "$f"; done) >"$staging/source"
    echo "source-$pkgver-$(sha256_of "$staging/source" | cut -c1-16)"
}

install_from_source() {
    [ -f "${source_dir:-/nonexistent}/Cargo.toml" ] ||
        fail "no release asset for ${target:-$os-$arch} ${tag:-(no release)}, and no source to build (set LOADCHECK_SOURCE)"
    command -v cargo >/dev/null 2>&1 ||
        fail "no release asset for ${target:-$os-$arch} ${tag:-(no release)}, and cargo is not installed to build it"
    local dest
    dest="$cache_root/$(source_key)/${target:-$os-$arch}"
    if [ -x "$dest/bin/loadcheck" ] && "$dest/bin/loadcheck" --version >/dev/null 2>&1; then
        note "using the cached build $dest"
        publish_path "$dest"
        return 0
    fi
    note "no release asset for ${target:-$os-$arch} ${tag:-(no release)}: building $source_dir with cargo install --locked"
    cargo install --locked --path "$source_dir" --bin loadcheck --root "$staging/tool" ||
        fail "cargo install --locked failed"
    "$staging/tool/bin/loadcheck" --version >/dev/null 2>&1 || fail "the loadcheck cargo built does not run"
    commit_to_cache "$staging/tool" "$dest"
    publish_path "$dest"
}

# install_release sets no_asset=1 when the release has no asset for this
# target; every other failure ends the script there and then.
no_asset=1
if [ -n "$target" ] && [ -n "$tag" ]; then
    no_asset=0
    install_release
fi
if [ "$no_asset" = 1 ]; then
    install_from_source
fi
