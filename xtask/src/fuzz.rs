//! `cargo xtask fuzz`: the API held to its OpenAPI contract by schemathesis. The served
//! document is first checked to be valid OpenAPI 3.1; then schemathesis runs every
//! operation through every phase (the stateful one follows the document's links) with the
//! four contract checks, signed in by the hooks. The Python tools are pinned in
//! xtask/fuzz/requirements.txt and installed into a virtualenv in the target dir; the run's
//! settings (checks, phases, seed, example budget) are xtask/fuzz/schemathesis.toml, so the
//! same run can be started by hand; the users it signs in as are xtask/fuzz/hooks.py.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build;
use crate::test;
use crate::util::{self, Result};

/// The admin the fuzzer signs in as on a server xtask starts: in that server's
/// `ADMIN_EMAILS`, and given to the hooks as `FUZZ_ADMIN_EMAIL`.
const ADMIN_EMAIL: &str = "fuzz-admin@fuzz.test";
/// The hooks' variables naming the admin to sign in as (see hooks.py).
const ADMIN_VARS: [&str; 2] = ["FUZZ_ADMIN_EMAIL", "FUZZ_ADMIN_PASSWORD"];
/// Where every API process serves its document (`common::openapi::DOCUMENT_PATH`).
const DOCUMENT_PATH: &str = "/api-docs/openapi.json";

/// `python -c FETCH URL FILE`: saves what URL answers, or says in one line why not.
const FETCH: &str = "import sys, urllib.request
try:
    body = urllib.request.urlopen(sys.argv[1], timeout=30).read()
except Exception as err:
    sys.exit(f'{sys.argv[1]}: {err}')
open(sys.argv[2], 'wb').write(body)
";

pub const USAGE: &str = "usage: cargo xtask fuzz [--base-url URL] [--max-examples N] [--release]";

/// `cargo xtask fuzz [--base-url URL] [--max-examples N]`: against `URL` (nothing started;
/// the admin is `FUZZ_ADMIN_EMAIL` if set), or else against a fresh all-in-one server.
pub fn command(args: &[String], release: bool) -> Result {
    let mut base_url = None;
    let mut max_examples = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--base-url" => match rest.next() {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    base_url = Some(url.trim_end_matches('/').to_owned());
                }
                _ => return Err(format!("--base-url needs an http(s) URL\n{USAGE}")),
            },
            "--max-examples" => match rest.next().map(|n| n.parse::<u32>()) {
                Some(Ok(n)) if n > 0 => max_examples = Some(n),
                _ => return Err(format!("--max-examples needs a positive number\n{USAGE}")),
            },
            "--release" => {}
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    match base_url {
        Some(url) => {
            let venv = virtualenv()?;
            // The admin is whoever the caller names; unset, the admin routes answer 403.
            let admin: Vec<(&str, String)> = ADMIN_VARS
                .iter()
                .filter_map(|var| std::env::var(var).ok().map(|value| (*var, value)))
                .collect();
            fuzz(&venv, &url, max_examples, &admin)
        }
        None => against_fresh_server(&build::build_server(release)?, max_examples),
    }
}

/// Starts the all-in-one server on the embedded backends with a fresh `DATA_DIR` and our
/// admin in `ADMIN_EMAILS`, and fuzzes it; on failure the server log's tail follows
/// schemathesis's report.
pub fn against_fresh_server(server_bin: &Path, max_examples: Option<u32>) -> Result {
    let venv = virtualenv()?;
    util::step("Fuzzing the API against its OpenAPI document (schemathesis, all-in-one server)");
    let (server, addr, log_path) = test::start_server(
        server_bin,
        "fuzz",
        &[
            ("ADMIN_EMAILS", ADMIN_EMAIL),
            // So the webhook route exists and its signature checks are fuzzed too.
            ("STRIPE_WEBHOOK_SECRET", "whsec_fuzz"),
        ],
    )?;
    let result = fuzz(
        &venv,
        &format!("http://{addr}"),
        max_examples,
        // The fresh server has no admin account yet: the hooks sign it up.
        &[(ADMIN_VARS[0], ADMIN_EMAIL.to_owned())],
    );
    drop(server);
    result.map_err(|err| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "{err}\n--- the server log's last lines ({}) ---\n{tail}",
            log_path.display()
        )
    })
}

/// Checks the document `base_url` serves, then runs schemathesis against `base_url`.
fn fuzz(venv: &Path, base_url: &str, max_examples: Option<u32>, env: &[(&str, String)]) -> Result {
    let document_url = format!("{base_url}{DOCUMENT_PATH}");
    util::step(&format!("Validating {document_url} as OpenAPI 3.1"));
    // The validator reads files only: fetch the document first.
    let document = util::target_dir().join("fuzz-openapi.json");
    util::run(
        Command::new(venv.join("bin/python"))
            .args(["-c", FETCH, &document_url])
            .arg(&document),
    )
    .map_err(|_| format!("could not fetch the OpenAPI document {document_url}"))?;
    util::run(
        Command::new(venv.join("bin/openapi-spec-validator"))
            .args(["--schema", "3.1"])
            .arg(&document),
    )
    .map_err(|err| format!("{document_url} is not a valid OpenAPI 3.1 document: {err}"))?;

    let config = util::root().join("xtask/fuzz/schemathesis.toml");
    util::step(&format!(
        "schemathesis: every operation, every phase, seed and checks from {}",
        config.display()
    ));
    let mut schemathesis = Command::new(venv.join("bin/schemathesis"));
    // The config names the hooks relative to the repository root.
    schemathesis
        .current_dir(util::root())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &document_url, "--url", base_url]);
    if let Some(n) = max_examples {
        schemathesis.args(["--max-examples", &n.to_string()]);
    }
    for var in ADMIN_VARS {
        schemathesis.env_remove(var);
    }
    schemathesis.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    util::run(&mut schemathesis)
}

/// The virtualenv holding the pinned tools; returns its directory.
fn virtualenv() -> Result<PathBuf> {
    let requirements = util::root().join("xtask/fuzz/requirements.txt");
    util::virtualenv("fuzz-venv", util::Pins::File(&requirements))
}
