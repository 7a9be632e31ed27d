//! `cargo xtask lint-deploy`: checks deploy/ offline — `nginx -t` on every gateway config,
//! the Kubernetes manifests and the compose file against their schemas, and yamllint.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::setup;
use crate::util::{self, Result};

/// Installed into a virtualenv under the target dir; each bundles its schemas, so no
/// check needs the network.
const PYTHON_TOOLS: [&str; 3] = [
    "kubernetes-validate==1.37.0",
    "check-jsonschema==0.39.0",
    "yamllint==1.38.0",
];

/// Writes each ConfigMap entry named `*nginx.conf` in the given manifests to
/// `<out>/k8s-<configmap>/nginx.conf`, printing `source<TAB>configmap<TAB>dir` per entry.
const EXTRACT_NGINX_CONFIGS: &str = r#"
import pathlib, sys, yaml
out = pathlib.Path(sys.argv[1])
for source in sys.argv[2:]:
    with open(source) as f:
        docs = list(yaml.safe_load_all(f))
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "ConfigMap":
            continue
        for key, text in (doc.get("data") or {}).items():
            if key.endswith("nginx.conf"):
                name = doc["metadata"]["name"]
                d = out / f"k8s-{name}"
                d.mkdir(parents=True, exist_ok=True)
                (d / "nginx.conf").write_text(text)
                print(f"{source}\t{name}\t{d}")
"#;

/// Broken inputs each check must reject, so a tool that silently passes everything (an
/// upgrade dropping strict mode, a schema not found) fails the step instead.
const BROKEN_NGINX: &str = "events {}\nno_such_directive on;\n";
const BROKEN_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicsa: 1
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
        - name: app
          image: broken:latest
";
const BROKEN_COMPOSE: &str = "services:\n  app:\n    image: broken:latest\n    imagee: typo\n";
const BROKEN_YAML: &str = "key: 1\nkey: 2\n";

pub fn validate() -> Result {
    util::step("Deploy files: nginx -t, Kubernetes and compose schemas, yamllint");
    let started = Instant::now();
    let root = util::root();
    let scratch = util::target_dir().join("deploy-check");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    let nginx = setup::nginx()?;
    let tools = python_tools()?;

    let mut checks = Checks::default();

    checks.record(
        "nginx -t deploy/nginx.conf",
        nginx_test(
            &nginx,
            &root.join("deploy/nginx.conf"),
            &scratch.join("nginx"),
        ),
    );
    checks.record(
        "nginx -t deploy/nginx.compose.conf (upstreams → 127.0.0.1)",
        std::fs::read_to_string(root.join("deploy/nginx.compose.conf"))
            .map_err(|e| format!("reading deploy/nginx.compose.conf: {e}"))
            .and_then(|config| {
                let dir = scratch.join("nginx-compose");
                write(&dir.join("nginx.conf"), &localize_upstreams(&config))?;
                nginx_test(&nginx, &dir.join("nginx.conf"), &dir).map_err(|e| {
                    format!("{e}(the copy keeps deploy/nginx.compose.conf's line numbers)")
                })
            }),
    );

    let manifests = k8s_manifests(&root)?;
    match embedded_nginx_configs(&tools, &scratch, &manifests) {
        Ok(embedded) if embedded.is_empty() => checks.record(
            "nginx -t on the gateway config in deploy/k8s",
            Err("no ConfigMap in deploy/k8s has an nginx.conf entry".into()),
        ),
        Ok(embedded) => {
            for (source, configmap, dir) in embedded {
                let config = dir.join("nginx.conf");
                let result = std::fs::read_to_string(&config)
                    .map_err(|e| format!("reading {}: {e}", config.display()))
                    .and_then(|text| write(&config, &localize_upstreams(&text)))
                    .and_then(|()| nginx_test(&nginx, &config, &dir))
                    .map_err(|e| {
                        format!(
                            "{e}(line numbers count from the first line of the ConfigMap entry)"
                        )
                    });
                checks.record(
                    &format!("nginx -t {source} (ConfigMap {configmap}, upstreams → 127.0.0.1)"),
                    result,
                );
            }
        }
        Err(err) => checks.record("nginx configs embedded in deploy/k8s", Err(err)),
    }

    checks.record(
        "yamllint -d relaxed deploy",
        quiet(
            Command::new(tools.join("yamllint"))
                .args(["--no-warnings", "-d", "relaxed", "deploy"])
                .current_dir(&root),
        ),
    );
    checks.record(
        "kubernetes-validate --strict deploy/k8s/*.yaml",
        quiet(
            Command::new(tools.join("kubernetes-validate"))
                .args(["--strict", "--quiet"])
                .args(&manifests)
                .current_dir(&root),
        ),
    );
    checks.record(
        "check-jsonschema (compose-spec) deploy/docker-compose.yml",
        quiet(
            Command::new(tools.join("check-jsonschema"))
                .args([
                    "--builtin-schema",
                    "vendor.compose-spec",
                    "deploy/docker-compose.yml",
                ])
                .current_dir(&root),
        ),
    );

    checks.record(
        "self-check: every check rejects a broken file",
        self_check(&nginx, &tools, &scratch.join("self-check")),
    );

    checks.finish(started)
}

/// Collects results so one run reports every failing file, not just the first.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
    passed: usize,
}

impl Checks {
    fn record(&mut self, name: &str, result: Result) {
        match result {
            Ok(()) => {
                println!("  ok    {name}");
                self.passed += 1;
            }
            Err(err) => {
                println!("  FAIL  {name}");
                self.failures.push(format!("{name}:\n{}", indent(&err)));
            }
        }
    }

    fn finish(self, started: Instant) -> Result {
        let seconds = started.elapsed().as_secs_f32();
        if self.failures.is_empty() {
            println!(
                "deploy files: {} checks passed in {seconds:.1}s",
                self.passed
            );
            Ok(())
        } else {
            Err(format!(
                "deploy files: {} of {} checks failed\n\n{}",
                self.failures.len(),
                self.failures.len() + self.passed,
                self.failures.join("\n\n")
            ))
        }
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `nginx -t` on `config` with `prefix` as its prefix (created; relative paths land there).
fn nginx_test(nginx: &Path, config: &Path, prefix: &Path) -> Result {
    std::fs::create_dir_all(prefix).map_err(|e| format!("creating {}: {e}", prefix.display()))?;
    // `-p` wants the trailing slash: nginx joins relative paths onto it as a string.
    let prefix = format!("{}/", prefix.display());
    quiet(
        Command::new(nginx)
            .args(["-t", "-q", "-e", "stderr", "-c"])
            .arg(config)
            .args(["-p", &prefix]),
    )
}

/// Points every `server <host>[:<port>]` line at 127.0.0.1, keeping the port: nginx -t
/// resolves upstream names, and compose/Kubernetes names don't resolve here.
fn localize_upstreams(config: &str) -> String {
    let mut out = String::with_capacity(config.len());
    for line in config.lines() {
        out.push_str(&localize_server_line(line).unwrap_or_else(|| line.to_owned()));
        out.push('\n');
    }
    out
}

fn localize_server_line(line: &str) -> Option<String> {
    let indent = &line[..line.len() - line.trim_start().len()];
    let rest = line.trim_start().strip_prefix("server")?;
    let args = rest.trim_start();
    let gap = &rest[..rest.len() - args.len()];
    if gap.is_empty() {
        return None; // `server_name`, `server{`
    }
    let end = args.find([' ', '\t', ';']).unwrap_or(args.len());
    let (address, tail) = args.split_at(end);
    let port = match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            Some(port)
        }
        Some(_) => return None, // unix:/path
        None => None,
    };
    let host = port.map_or(address, |p| &address[..address.len() - p.len() - 1]);
    let is_name = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    if !is_name || port == Some("") {
        return None; // `server {`
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{indent}server{gap}127.0.0.1{port}{tail}"))
}

/// deploy/k8s/*.yaml, relative to the root (so messages name them that way), sorted.
fn k8s_manifests(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("deploy/k8s");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut manifests: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .filter_map(|path| path.strip_prefix(root).ok().map(Path::to_path_buf))
        .collect();
    manifests.sort();
    if manifests.is_empty() {
        return Err(format!("no manifests in {}", dir.display()));
    }
    Ok(manifests)
}

/// (source manifest, ConfigMap name, scratch dir holding its nginx.conf) per embedded config.
fn embedded_nginx_configs(
    tools: &Path,
    scratch: &Path,
    manifests: &[PathBuf],
) -> Result<Vec<(String, String, PathBuf)>> {
    let mut command = Command::new(tools.join("python"));
    command
        .args(["-c", EXTRACT_NGINX_CONFIGS])
        .arg(scratch)
        .args(manifests)
        .current_dir(util::root());
    let listing = captured(&mut command)?;
    Ok(listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            Some((
                fields.next()?.to_owned(),
                fields.next()?.to_owned(),
                PathBuf::from(fields.next()?),
            ))
        })
        .collect())
}

/// The virtualenv's bin/ with [`PYTHON_TOOLS`], created or updated when the pins change.
fn python_tools() -> Result<PathBuf> {
    util::virtualenv(
        "xtask-tools/deploy-venv",
        util::Pins::Packages(&PYTHON_TOOLS),
    )
    .map(|venv| venv.join("bin"))
}

/// Runs each check on a broken file and fails if any of them passes it.
fn self_check(nginx: &Path, tools: &Path, dir: &Path) -> Result {
    let broken = |name: &str, text: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        write(&path, text)?;
        Ok(path)
    };
    let nginx_conf = broken("nginx.conf", BROKEN_NGINX)?;
    let deployment = broken("deployment.yaml", BROKEN_DEPLOYMENT)?;
    let compose = broken("docker-compose.yml", BROKEN_COMPOSE)?;
    let yaml = broken("yamllint/duplicate-key.yaml", BROKEN_YAML)?;
    let cases: [(&str, Result); 4] = [
        ("nginx -t", nginx_test(nginx, &nginx_conf, dir)),
        (
            "kubernetes-validate --strict",
            quiet(
                Command::new(tools.join("kubernetes-validate"))
                    .args(["--strict", "--quiet"])
                    .arg(&deployment),
            ),
        ),
        (
            "check-jsonschema (compose-spec)",
            quiet(
                Command::new(tools.join("check-jsonschema"))
                    .args(["--builtin-schema", "vendor.compose-spec"])
                    .arg(&compose),
            ),
        ),
        (
            "yamllint",
            quiet(
                Command::new(tools.join("yamllint"))
                    .args(["--no-warnings", "-d", "relaxed"])
                    .arg(&yaml),
            ),
        ),
    ];
    let accepted: Vec<&str> = cases
        .iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(name, _)| *name)
        .collect();
    if accepted.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} accepted a broken file in {}, so it would not catch a real mistake",
            accepted.join(", "),
            dir.display()
        ))
    }
}

/// Runs a command, keeping its output unless it fails; the error carries that output.
fn quiet(command: &mut Command) -> Result {
    captured(command).map(|_| ())
}

/// Runs a command and returns its stdout; on failure, an error with the command and all it
/// printed (the tools name the file and line there).
fn captured(command: &mut Command) -> Result<String> {
    let shown = util::describe(command);
    let out = command
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(format!(
        "`{shown}` failed ({})\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn write(path: &Path, text: &str) -> Result {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::localize_upstreams;

    #[test]
    fn upstream_names_become_loopback_and_everything_else_is_kept() {
        let config = "\
upstream orders {
    server orders-1:8080 max_fails=3 fail_timeout=10s;
\tserver web.ticketing.svc.cluster.local:80;
    server auth;
    server 127.0.0.1:4001;
    server unix:/tmp/app.sock;
    keepalive 16;
}
server {
    server_name _;
";
        let expected = "\
upstream orders {
    server 127.0.0.1:8080 max_fails=3 fail_timeout=10s;
\tserver 127.0.0.1:80;
    server 127.0.0.1;
    server 127.0.0.1:4001;
    server unix:/tmp/app.sock;
    keepalive 16;
}
server {
    server_name _;
";
        assert_eq!(localize_upstreams(config), expected);
    }
}
