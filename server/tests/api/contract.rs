//! The API's contract: the OpenAPI document the processes serve, held to the routers that
//! answer and to the README's API tables, so none of the three can drift from the others.
//! (The fuzzer, `cargo xtask fuzz`, then holds every operation's answers to it.)
use std::collections::{BTreeMap, BTreeSet};

use common::testing::TestResponse;
use serde_json::Value;
use server::Role;

use crate::helpers::TestServer;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
/// Stands in for every path parameter: well-formed, and naming nothing.
const SOME_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Every (method, path) the document describes, e.g. `("post", "/api/tickets")`.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| ((*m).to_owned(), path.clone()))
        })
        .collect()
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    &doc["paths"][path][method]
}

/// Every `$ref` in `value` names something the document has.
fn assert_refs_resolve(doc: &Value, value: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').expect("a local $ref");
                assert!(
                    doc.pointer(pointer).is_some(),
                    "$ref {target} names nothing"
                );
            }
            map.values().for_each(|v| assert_refs_resolve(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| assert_refs_resolve(doc, v)),
        _ => {}
    }
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_describes_every_answer() {
    let app = TestServer::spawn(|_| {}).await;
    let served = TestResponse::of(
        app.client
            .get(format!("{}/api-docs/openapi.json", app.address)),
    )
    .await;
    assert_eq!(served.status, 200, "{}", served.body);
    assert!(served
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("application/json")));
    let doc = served.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        Role::AllInOne.openapi(),
        "the all-in-one process serves the merged document"
    );
    assert_refs_resolve(&doc, &doc);

    let ops = operations(&doc);
    assert!(ops.len() >= 20, "{ops:?}");
    let mut ids = BTreeSet::new();
    for (method, path) in &ops {
        let op = operation(&doc, method, path);
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{id}: a tag"
        );
        // Each `{name}` in the path is a declared path parameter, and nothing else is.
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(in_path, declared, "{id}: path parameters");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{id}: a success"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{id} {status}: the error envelope"
                );
            }
        }
        // What the shared layers answer is there for every operation they guard.
        let signed_in_only = op["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s.get("session").is_some()));
        if signed_in_only {
            for status in ["401", "403", "498", "503"] {
                assert!(responses.contains_key(status), "{id}: {status}");
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(responses.contains_key(status), "{id}: {status}");
            }
        }
    }
    // The answers particular to one route, and the headers clients rely on.
    let responses = |method: &str, path: &str| operation(&doc, method, path)["responses"].clone();
    assert!(responses("post", "/api/payments")["402"].is_object());
    assert!(responses("post", "/api/users/refresh")["499"].is_object());
    let throttled = &responses("post", "/api/users/signin")["429"];
    assert!(
        throttled["headers"]["Retry-After"].is_object(),
        "{throttled}"
    );
    assert!(responses("get", "/api/tickets")["200"]["headers"]["Link"].is_object());
    for signing in ["/api/users/signup", "/api/users/signin"] {
        let ok = responses("post", signing);
        let ok = ok
            .as_object()
            .expect("responses")
            .values()
            .next()
            .expect("a success");
        assert!(ok["headers"]["Set-Cookie"].is_object(), "{signing}");
    }
    let list = &operation(&doc, "get", "/api/tickets")["parameters"];
    let names: BTreeSet<&str> = list
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, BTreeSet::from(["limit", "cursor", "q"]));
    let cookie = &doc["components"]["securitySchemes"]["session"];
    assert_eq!(
        (&cookie["in"], &cookie["name"]),
        (&"cookie".into(), &"session".into())
    );
    // The sequences a client follows are declared, for real sequences under the fuzzer.
    let created = &responses("post", "/api/tickets")["201"]["links"];
    assert_eq!(created["OrderTicket"]["operationId"], "createOrder");
    assert_eq!(
        created["OrderTicket"]["requestBody"]["ticketId"],
        "$response.body#/id"
    );
    let ordered = &responses("post", "/api/orders")["201"]["links"];
    assert_eq!(ordered["PayOrder"]["operationId"], "createPayment");
    assert_eq!(
        ordered["CancelOrder"]["parameters"]["id"],
        "$response.body#/id"
    );
}

/// The routers and the document agree: each documented path is routed, each documented
/// method on it is answered, and no method the document leaves out is (405). Every `/api`
/// route is registered through `utoipa_axum::routes!`, which adds it to the document too
/// (see [`no_api_route_is_registered_outside_the_document`]).
#[tokio::test]
async fn the_routers_answer_exactly_the_documented_operations() {
    let app = TestServer::spawn(|_| {}).await;
    let doc = Role::AllInOne.openapi();
    let ops = operations(&doc);
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { SOME_ID } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let request = app.client.request(
                method.to_uppercase().parse().expect("a method"),
                format!("{}{concrete}", app.address),
            );
            let answer = TestResponse::of(request).await;
            let documented = ops.contains(&(method.to_owned(), path.clone()));
            if documented {
                assert_ne!(
                    answer.status, 405,
                    "{method} {path} is documented but not routed"
                );
                assert!(answer.status < 500, "{method} {path}: {}", answer.body);
            } else {
                answer.assert_error(405, "Method not allowed");
            }
        }
    }
}

/// The one way into the document is the one way into the router: no service source
/// registers an `/api` route with axum's own `route`, which would bypass it.
#[test]
fn no_api_route_is_registered_outside_the_document() {
    let services = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../services");
    let mut sources = vec![services];
    let mut offending = Vec::new();
    while let Some(path) = sources.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("a readable directory") {
                sources.push(entry.expect("an entry").path());
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path.components().any(|c| c.as_os_str() == "tests")
        {
            let text = std::fs::read_to_string(&path).expect("a readable source");
            if text.contains(".route(\"/api") || text.contains("routing::") {
                offending.push(path.display().to_string());
            }
        }
    }
    assert!(
        offending.is_empty(),
        "routes outside `routes!`: {offending:?}"
    );
}

/// The README's API tables list exactly the documented operations (`:id` for `{id}`).
#[test]
fn the_readme_lists_exactly_the_documented_operations() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let listed: BTreeSet<(String, String)> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| {
            let (method, rest) = rest.split_once(' ')?;
            if !METHODS.contains(&method.to_lowercase().as_str()) || !rest.starts_with("/api") {
                return None;
            }
            let path = rest
                .split(['`', ' ', '?'])
                .next()?
                .split('/')
                .map(|s| match s.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => s.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            Some((method.to_lowercase(), path))
        })
        .collect();
    let documented = operations(&Role::AllInOne.openapi());
    let missing: Vec<_> = documented.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "documented, not in the README: {missing:?}"
    );
    assert!(extra.is_empty(), "in the README, not documented: {extra:?}");
}

/// A service process serves its own part; the parts together are the merged document.
#[test]
fn each_service_describes_its_own_routes_and_the_parts_make_the_whole() {
    let whole = operations(&Role::AllInOne.openapi());
    let prefixes = BTreeMap::from([
        ("auth", &["/api/users"][..]),
        ("tickets", &["/api/tickets", "/api/events"][..]),
        ("orders", &["/api/orders"][..]),
        ("payments", &["/api/payments"][..]),
    ]);
    let mut union = BTreeSet::new();
    for (service, prefix) in &prefixes {
        let part = Role::parse(Some(service)).expect("a role").openapi();
        assert_eq!(part["openapi"], "3.1.0");
        let ops = operations(&part);
        assert!(!ops.is_empty(), "{service}");
        for (method, path) in &ops {
            assert!(
                prefix.iter().any(|p| path.starts_with(p)),
                "{service}: {method} {path}"
            );
        }
        assert_refs_resolve(&part, &part);
        union.extend(ops);
    }
    assert_eq!(union, whole);
    let expiration = Role::parse(Some("expiration")).expect("a role").openapi();
    assert!(operations(&expiration).is_empty());
}

/// The browsable docs: Swagger UI from the binary, under a policy with no inline script.
#[tokio::test]
async fn the_docs_are_served_from_the_binary_under_a_strict_policy() {
    let app = TestServer::spawn(|_| {}).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let page = get("/api-docs/").await.expect("an answer");
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    let policy = header("content-security-policy");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let body = page.text().await.expect("a body");
    assert!(body.contains("swagger-ui"), "{body}");
    assert!(!body.contains("<script>"), "no inline script: {body}");
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let got = get(&format!("/api-docs/{asset}")).await.expect("an answer");
        assert_eq!(got.status(), 200, "{asset}");
    }
    let initializer = get("/api-docs/swagger-initializer.js")
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body");
    assert!(
        initializer.contains("/api-docs/openapi.json"),
        "{initializer}"
    );
    let bare = get("/api-docs").await.expect("an answer");
    assert!(bare.status().is_redirection(), "{}", bare.status());
}
