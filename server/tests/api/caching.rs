//! What may be cached and how it travels: pages for a signed-in visitor are never stored,
//! `/pkg` is served precompressed under content-hashed names and kept forever, pages are
//! compressed per response and never kept that way.
use std::io::Read as _;
use std::path::Path;

use crate::helpers::{unique_email, TestServer};
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, VARY};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const HASH: &str = "0123456789abcdef";

/// A site root like `cargo xtask build` makes, with small stand-in files: each `/pkg` file
/// under its hashed name, its `.br` and `.gz` copies (marked, to tell which was served) and
/// the hash file.
fn fake_site(root: &Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).expect("a pkg directory");
    let mut hashes = String::new();
    for kind in ["js", "wasm", "css"] {
        let file = pkg.join(format!("ticketing.{HASH}.{kind}"));
        std::fs::write(&file, format!("raw {kind}")).expect("a pkg file");
        for copy in ["br", "gz"] {
            std::fs::write(
                pkg.join(format!("ticketing.{HASH}.{kind}.{copy}")),
                format!("{copy} {kind}"),
            )
            .expect("a precompressed copy");
        }
        hashes.push_str(&format!("{kind}: {HASH}\n"));
    }
    std::fs::write(pkg.join("hash.txt"), hashes).expect("the hash file");
}

/// The whole system serving `site_root` as its site.
async fn spawn_with_site(site_root: &Path) -> TestServer {
    TestServer::spawn_serving(|_| {}, Some(site_root)).await
}

/// Every value of the header, joined.
fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn pages_and_answers_for_a_signed_in_visitor_are_never_stored() {
    let app = TestServer::spawn(|_| {}).await;
    let cookies = app.sign_up(&unique_email("private")).await;
    for path in ["/orders", "/", "/tickets/new"] {
        let page = app.get_page(path, &cookies).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(header(&page, CACHE_CONTROL), "no-store", "{path}");
        assert!(header(&page, VARY).contains("cookie"), "{path}");
    }
    let answer = app
        .client
        .post(format!("{}/_fn/current_user", app.address))
        .header(reqwest::header::COOKIE, &cookies)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, CACHE_CONTROL), "no-store");

    // A visitor without a session gets a page nobody may keep without asking again.
    let public = app.get_page("/", "").await;
    assert_eq!(public.status(), 200);
    assert_eq!(header(&public, CACHE_CONTROL), "private, no-cache");
}

#[tokio::test]
async fn pkg_files_are_served_precompressed_under_hashed_names_and_kept_forever() {
    let site = tempfile::tempdir().expect("a temporary site root");
    fake_site(site.path());
    let app = spawn_with_site(site.path()).await;
    let get = |path: String, encoding: &'static str| {
        let request = app.client.get(format!("{}{path}", app.address));
        async move {
            let request = if encoding.is_empty() {
                request
            } else {
                request.header(ACCEPT_ENCODING, encoding)
            };
            request
                .send()
                .await
                .expect("the request reaches the server")
        }
    };
    for kind in ["wasm", "js", "css"] {
        let path = format!("/pkg/ticketing.{HASH}.{kind}");
        for (accepted, encoding) in [("br, gzip", "br"), ("gzip", "gzip"), ("", "")] {
            let response = get(path.clone(), accepted).await;
            assert_eq!(response.status(), 200, "{path} {accepted}");
            assert_eq!(header(&response, CONTENT_ENCODING), encoding, "{path}");
            assert_eq!(header(&response, CACHE_CONTROL), IMMUTABLE, "{path}");
            assert!(
                header(&response, VARY).contains("accept-encoding"),
                "{path}"
            );
            let body = response.text().await.expect("a body");
            let copy = match encoding {
                "" => "raw",
                "gzip" => "gz",
                other => other,
            };
            // The build's copy as it is: not compressed again on the way out.
            assert_eq!(body, format!("{copy} {kind}"), "{path} {accepted}");
        }
    }
    // Names from before hashing are gone, and nothing unhashed is kept forever.
    let old = get("/pkg/ticketing_bg.wasm".into(), "br").await;
    assert_eq!(old.status(), 404);
    assert_ne!(header(&old, CACHE_CONTROL), IMMUTABLE);
}

#[tokio::test]
async fn pages_are_compressed_link_the_hashed_files_and_are_not_kept() {
    let site = tempfile::tempdir().expect("a temporary site root");
    fake_site(site.path());
    let app = spawn_with_site(site.path()).await;
    for (accepted, encoding) in [("gzip", "gzip"), ("br", "br")] {
        let page = app
            .client
            .get(format!("{}/", app.address))
            .header(ACCEPT_ENCODING, accepted)
            .send()
            .await
            .expect("the request reaches the server");
        assert_eq!(page.status(), 200);
        assert_eq!(header(&page, CONTENT_ENCODING), encoding);
        assert!(header(&page, VARY).contains("accept-encoding"));
        let cache = header(&page, CACHE_CONTROL);
        assert!(
            !cache.contains("immutable") && !cache.contains("max-age"),
            "{cache}"
        );
        let bytes = page.bytes().await.expect("a body");
        if encoding == "gzip" {
            let mut html = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut html)
                .expect("the page is gzip");
            for file in ["js", "wasm", "css"] {
                assert!(
                    html.contains(&format!("/pkg/ticketing.{HASH}.{file}")),
                    "the page links the hashed {file}:\n{html}"
                );
            }
            assert!(!html.contains("ticketing_bg.wasm"), "{html}");
        }
    }
}
