//! Builds the site (wasm + JS glue + CSS under target/site) and the `ticketing` binary.
use std::path::PathBuf;
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

/// The site's wasm as the server serves it: `<workspace>/target/site/pkg/ticketing_bg.wasm`
/// (always under the workspace, whatever CARGO_TARGET_DIR says).
pub fn site_wasm() -> PathBuf {
    util::root()
        .join(SITE_ROOT)
        .join("pkg")
        .join(format!("{OUTPUT_NAME}_bg.wasm"))
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
    let pkg = util::root().join(SITE_ROOT).join("pkg");
    std::fs::create_dir_all(&pkg).map_err(|e| format!("creating {}: {e}", pkg.display()))?;
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
        optimise(&site_wasm());
    }
    let css = util::root().join("style/main.css");
    std::fs::copy(&css, pkg.join(format!("{OUTPUT_NAME}.css")))
        .map_err(|e| format!("copying {}: {e}", css.display()))?;
    Ok(())
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
