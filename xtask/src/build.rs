//! Builds the site (wasm + JS glue + CSS under target/site) and the `ticketing` binary.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::setup;
use crate::util::{self, Result};

/// Where the server finds `/pkg` (Leptos.toml's `site-root`, relative to the workspace).
const SITE_ROOT: &str = "target/site";
const OUTPUT_NAME: &str = "ticketing";

pub fn build(release: bool) -> Result<PathBuf> {
    setup::ensure_tools(release)?;
    build_site(release)?;
    build_server(release)
}

/// Leptos's hash file in `/pkg`: `js: <hash>` etc., naming the current files (the server
/// reads it to link them).
pub const HASH_FILE: &str = "hash.txt";

/// The site's `/pkg` as the server serves it: `<workspace>/target/site/pkg` (always under
/// the workspace, whatever CARGO_TARGET_DIR says).
pub fn site_pkg() -> PathBuf {
    util::root().join(SITE_ROOT).join("pkg")
}

pub fn build_site(release: bool) -> Result {
    util::step(&format!(
        "Building the browser app (wasm, {})",
        if release { "release" } else { "debug" }
    ));
    let mut cargo = util::cargo();
    cargo.args([
        "build",
        "--package",
        "frontend",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    if release {
        cargo.args(["--profile", "wasm-release"]);
    }
    util::run(&mut cargo)?;

    let profile_dir = if release { "wasm-release" } else { "debug" };
    let wasm = util::target_dir()
        .join("wasm32-unknown-unknown")
        .join(profile_dir)
        .join("frontend.wasm");
    let pkg = site_pkg();
    std::fs::create_dir_all(&pkg).map_err(|e| format!("creating {}: {e}", pkg.display()))?;
    remove_earlier_builds(&pkg)?;
    util::run(
        Command::new(setup::wasm_bindgen_bin())
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                OUTPUT_NAME,
                "--out-dir",
            ])
            .arg(&pkg)
            .arg(&wasm),
    )?;
    if release {
        optimise(&pkg.join(format!("{OUTPUT_NAME}_bg.wasm")));
    }
    let css = util::root().join("style/main.css");
    std::fs::copy(&css, pkg.join(format!("{OUTPUT_NAME}.css")))
        .map_err(|e| format!("copying {}: {e}", css.display()))?;
    publish(
        &pkg,
        release,
        &[
            ("js", format!("{OUTPUT_NAME}.js")),
            ("wasm", format!("{OUTPUT_NAME}_bg.wasm")),
            ("css", format!("{OUTPUT_NAME}.css")),
        ],
    )
}

/// Earlier builds' outputs (hashed or not), so `/pkg` holds one build only.
fn remove_earlier_builds(pkg: &Path) -> Result {
    let entries = std::fs::read_dir(pkg).map_err(|e| format!("reading {}: {e}", pkg.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name == HASH_FILE
            || name.starts_with(&format!("{OUTPUT_NAME}."))
            || name.starts_with(&format!("{OUTPUT_NAME}_bg."));
        if ours && entry.path().is_file() {
            std::fs::remove_file(entry.path())
                .map_err(|e| format!("removing {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Renames each `(kind, file)` to `ticketing.<content hash>.<kind>` — so the server can let
/// browsers keep `/pkg` forever and a deploy never mixes old and new files — writes its
/// brotli and gzip copies beside it (served as they are, never compressed per request),
/// and the hash file naming them.
fn publish(pkg: &Path, release: bool, files: &[(&str, String)]) -> Result {
    let mut hashes = String::new();
    for (kind, name) in files {
        let plain = pkg.join(name);
        let bytes =
            std::fs::read(&plain).map_err(|e| format!("reading {}: {e}", plain.display()))?;
        let hash = content_hash(&bytes);
        let hashed = pkg.join(format!("{OUTPUT_NAME}.{hash}.{kind}"));
        std::fs::rename(&plain, &hashed)
            .map_err(|e| format!("renaming {}: {e}", plain.display()))?;
        write(&with_suffix(&hashed, "br"), &brotli(&bytes, release)?)?;
        write(&with_suffix(&hashed, "gz"), &gzip(&bytes)?)?;
        hashes.push_str(&format!("{kind}: {hash}\n"));
    }
    write(&pkg.join(HASH_FILE), hashes.as_bytes())
}

/// 64-bit FNV-1a in hex: a cache-busting name, not a security property.
fn content_hash(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn write(path: &Path, bytes: &[u8]) -> Result {
    std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Best quality for a release: done once per build, so the slow end of brotli is worth it
/// (a debug build's wasm is several times larger, and compressing it so takes a minute).
fn brotli(bytes: &[u8], release: bool) -> Result<Vec<u8>> {
    let quality = if release { 11 } else { 5 };
    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 64 * 1024, quality, 22);
    encoder
        .write_all(bytes)
        .map_err(|e| format!("brotli: {e}"))?;
    // Finishes the stream (writing to memory cannot fail).
    Ok(encoder.into_inner())
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).map_err(|e| format!("gzip: {e}"))?;
    encoder.finish().map_err(|e| format!("gzip: {e}"))
}

fn optimise(wasm: &std::path::Path) {
    let Some(wasm_opt) = setup::wasm_opt() else {
        return;
    };
    let optimised = wasm.with_extension("opt.wasm");
    let result = util::run(
        Command::new(wasm_opt)
            .arg("-Oz")
            .args([
                "--enable-reference-types",
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
            ])
            .args([
                "--enable-sign-ext",
                "--enable-mutable-globals",
                "--enable-multivalue",
            ])
            .arg(wasm)
            .arg("-o")
            .arg(&optimised),
    );
    match result.and_then(|()| std::fs::rename(&optimised, wasm).map_err(|e| e.to_string())) {
        Ok(()) => {}
        Err(err) => println!("warning: wasm-opt failed ({err}); keeping the unoptimised wasm"),
    }
}

pub fn build_server(release: bool) -> Result<PathBuf> {
    util::step("Building the `ticketing` server");
    let mut cargo = util::cargo();
    cargo.args(["build", "--package", "server", "--bin", "ticketing"]);
    if release {
        cargo.arg("--release");
    }
    util::run(&mut cargo)?;
    Ok(util::target_dir()
        .join(if release { "release" } else { "debug" })
        .join("ticketing"))
}

pub fn run(release: bool) -> Result {
    let server = build(release)?;
    let addr = std::env::var("LEPTOS_SITE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let data = std::env::var("DATA_DIR").unwrap_or_else(|_| "./data".into());
    util::step(&format!(
        "Starting Ticketing at http://{addr} (data in {data}; Ctrl-C stops it)"
    ));
    let status = Command::new(&server)
        .current_dir(util::root())
        .status()
        .map_err(|e| format!("starting {}: {e}", server.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the server stopped ({status})"))
    }
}
