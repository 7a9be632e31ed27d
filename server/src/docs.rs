//! The browsable API docs: Swagger UI at `/api-docs/`, reading the merged document
//! (`common::openapi::DOCUMENT_PATH`). Its assets are built into the binary (nothing is
//! fetched from elsewhere), under a policy of their own that is as strict as they allow.
use axum::extract::Request;
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use common::openapi::{DOCS_PATH, DOCUMENT_PATH};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Its own scripts and styles, the images Swagger UI draws inline (`data:`), requests to
/// this origin ("Try it out"); no inline script, nothing from elsewhere, never framed. The
/// one `<style>` element the bundle writes at start is let in by its hash alone (a changed
/// bundle that writes another shows up as a CSP error in end2end/tests/api-docs.spec.ts).
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'none'";

pub fn router() -> Router {
    let config = Config::from(DOCUMENT_PATH)
        // Its default posts the document to an online validator and shows its badge.
        .validator_url("none")
        .try_it_out_enabled(true);
    Router::from(SwaggerUi::new(DOCS_PATH).config(config)).layer(middleware::from_fn(policy))
}

async fn policy(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
    response
}
