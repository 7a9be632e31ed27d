//! Installs what the build needs when it is missing: the wasm32 target, the wasm-bindgen
//! CLI at the exact version in Cargo.lock, and (for release builds) binaryen's wasm-opt.
use std::path::PathBuf;
use std::process::Command;

use crate::util::{self, Result};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Debian's binaryen (108) breaks wasm-bindgen's externref table; this one is known good.
const BINARYEN: &str = "binaryen@132.0.0";

pub fn ensure_tools(release: bool) -> Result {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    if release {
        wasm_opt();
    }
    Ok(())
}

fn ensure_wasm_target() -> Result {
    let installed = util::output(Command::new("rustup").args(["target", "list", "--installed"]))
        .unwrap_or_default();
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    util::step(&format!("Installing the Rust target {WASM_TARGET}"));
    util::run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// The wasm-bindgen version pinned in Cargo.lock: the CLI must match it exactly.
pub fn locked_wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(util::root().join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
            {
                return Ok(version.trim_end_matches('"').to_owned());
            }
        }
    }
    Err("Cargo.lock does not pin wasm-bindgen".into())
}

pub fn wasm_bindgen_bin() -> PathBuf {
    util::which("wasm-bindgen").unwrap_or_else(|| cargo_bin_dir().join("wasm-bindgen"))
}

fn cargo_bin_dir() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin")
}

fn ensure_wasm_bindgen() -> Result {
    let wanted = locked_wasm_bindgen_version()?;
    let found = util::output(Command::new(wasm_bindgen_bin()).arg("--version")).unwrap_or_default();
    if found.split_whitespace().nth(1) == Some(wanted.as_str()) {
        return Ok(());
    }
    util::step(&format!(
        "Installing wasm-bindgen-cli {wanted} from crates.io (about two minutes, once)"
    ));
    let locked = util::run(Command::new("cargo").args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &wanted,
        "--locked",
        "--force",
    ]));
    if locked.is_ok() {
        return Ok(());
    }
    // A tool's lockfile can pin a dependency the registry here doesn't carry yet.
    println!("locked install failed; retrying with freshly resolved dependencies");
    util::run(
        Command::new("cargo")
            .args([
                "install",
                "wasm-bindgen-cli",
                "--version",
                &wanted,
                "--force",
            ])
            .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback"),
    )
}

/// binaryen's wasm-opt from npm, installed under the target dir; None if it can't be had.
pub fn wasm_opt() -> Option<PathBuf> {
    let dir = util::target_dir().join("xtask-tools");
    let bin = dir.join("node_modules/.bin/wasm-opt");
    if bin.is_file() {
        return Some(bin);
    }
    util::step(&format!("Installing {BINARYEN} (wasm-opt) from npm"));
    std::fs::create_dir_all(&dir).ok()?;
    let installed = util::run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(BINARYEN),
    );
    match installed {
        Ok(()) if bin.is_file() => Some(bin),
        _ => {
            println!("warning: wasm-opt unavailable; the release wasm will not be size-optimised");
            None
        }
    }
}
