//! Installs what the build needs when it is missing: the wasm32 target, the wasm-bindgen
//! CLI at the exact version in Cargo.lock, (for release builds) binaryen's wasm-opt, and
//! nginx for the gateway.
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

/// nginx, on PATH or in /usr/sbin, else installed with apt-get.
///
/// Debian's package would start a system nginx on port 80 from its postinst: a
/// `policy-rc.d` refusing service starts stops that, and one that started anyway is stopped.
pub fn nginx() -> Result<PathBuf> {
    let find = || {
        util::which("nginx").or_else(|| {
            let sbin = PathBuf::from("/usr/sbin/nginx");
            sbin.is_file().then_some(sbin)
        })
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    if util::which("apt-get").is_none() {
        return Err("nginx not found: install it and put it on PATH".into());
    }
    {
        let _no_starts = NoServiceStarts::new()?;
        util::apt_install("nginx")?;
    }
    let nginx = find().ok_or("apt-get installed nginx but it is not on PATH or in /usr/sbin")?;
    stop_system_nginx(&nginx);
    Ok(nginx)
}

/// A `policy-rc.d` that refuses every service start, removed on drop; nothing when the
/// machine already has one (Docker images ship one that does the same).
struct NoServiceStarts(Option<&'static Path>);

impl NoServiceStarts {
    fn new() -> Result<Self> {
        let path = Path::new("/usr/sbin/policy-rc.d");
        if path.exists() {
            return Ok(Self(None));
        }
        std::fs::write(
            path,
            "#!/bin/sh\n# cargo xtask: no service starts while installing\nexit 101\n",
        )
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("making {} executable: {e}", path.display()))?;
        Ok(Self(Some(path)))
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if let Some(path) = self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Stops a system nginx the package started despite the policy, and says so if port 80
/// is still taken afterwards.
fn stop_system_nginx(nginx: &Path) {
    if Path::new("/run/nginx.pid").exists() {
        println!("stopping the system nginx the package started");
        let _ = util::run(Command::new(nginx).args(["-s", "stop"]));
    }
    let port_80 = SocketAddr::from(([127, 0, 0, 1], 80));
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&port_80, Duration::from_millis(500)).is_ok() {
        if Instant::now() > deadline {
            println!("warning: something still listens on {port_80} after installing nginx");
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
