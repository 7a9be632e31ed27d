//! Small process and path helpers.
use std::path::{Path, PathBuf};
use std::process::Command;

pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the directory holding the root Cargo.toml).
pub fn root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR at run time too; prefer it, so a binary built from
    // another checkout sharing the target dir still works on this one.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, or `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        None => root().join("target"),
    }
}

pub fn step(message: &str) {
    println!("\n==> {message}");
}

/// Runs a command to completion, failing with a readable message.
pub fn run(command: &mut Command) -> Result {
    let shown = describe(command);
    let status = command
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Runs a command and returns its standard output, or None if it could not run or failed.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `apt-get update`, then `apt-get install -y <package>` without questions.
pub fn apt_install(package: &str) -> Result {
    step(&format!("Installing {package} with apt-get"));
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// What a virtualenv is to hold: pinned packages (`name==version`), or a requirements file.
pub enum Pins<'a> {
    Packages(&'a [&'a str]),
    File(&'a Path),
}

/// `<target dir>/<dir>`, a Python virtualenv with `pins` installed: made (again) when it is
/// missing, broken, or was installed from other pins. The pins it was installed from are
/// written into it last, so a half-made one is made again. Returns its directory.
pub fn virtualenv(dir: &str, pins: Pins) -> Result<PathBuf> {
    let venv = target_dir().join(dir);
    let python = venv.join("bin/python");
    let stamp = venv.join("xtask-pins.txt");
    let wanted = match &pins {
        Pins::Packages(packages) => packages.join("\n"),
        Pins::File(file) => {
            std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?
        }
    };
    let works = output(Command::new(&python).args(["-c", ""])).is_some();
    if works && std::fs::read_to_string(&stamp).is_ok_and(|found| found == wanted) {
        return Ok(venv);
    }
    step(&format!(
        "Installing pinned Python tools into {}",
        venv.display()
    ));
    let _ = std::fs::remove_dir_all(&venv);
    let make = || run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    if make().is_err() {
        // Debian's python3 has no `venv` module without this package.
        if which("apt-get").is_none() {
            return Err("`python3 -m venv` failed: install Python 3.10+ with venv".into());
        }
        let _ = std::fs::remove_dir_all(&venv);
        apt_install("python3-venv")?;
        make()?;
    }
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    match pins {
        Pins::Packages(packages) => pip.args(packages),
        Pins::File(file) => pip.arg("--requirement").arg(file),
    };
    run(&mut pip)?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    Ok(venv)
}
