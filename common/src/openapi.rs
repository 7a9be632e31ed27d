//! The API's OpenAPI 3.1 description.
//!
//! Each service's handlers carry `#[utoipa::path]`, and its router is built from them with
//! `utoipa_axum` ([`part`] starts one): one list of handlers gives both the routes and their
//! operations, so the two can't drift. [`document`] merges the parts a process serves and
//! adds what every route shares: the error envelope, the access-token cookie, the answers
//! the common layers give (body limit, media type, token checks), and the links between
//! operations that let a client (or the fuzzer) follow a real sequence. [`router`] serves
//! it, with the browsable docs on the web tier.
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use axum::Router;
use serde_json::{json, Map, Value};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa::PartialSchema;

use crate::dto::{ErrorBody, ErrorItem};
use crate::wire::{cookie, media};

/// Where every API process serves its document.
pub const DOCUMENT_PATH: &str = "/api-docs/openapi.json";
/// Where the web tier serves the browsable docs.
pub const DOCS_PATH: &str = "/api-docs";
/// The security scheme of a signed-in request: the access-token cookie.
pub const SESSION: &str = "session";
/// The security scheme of a refresh: the refresh-session cookie.
pub const REFRESH: &str = "refresh";

/// The empty document a service's router starts from (`OpenApiRouter::with_openapi`).
pub fn part(service: &str) -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(format!("Ticketing {service} API"))
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .build()
}

/// A link from one operation's answer to another operation (OpenAPI Link Object):
/// `parameters` and `body` name where the next request's values come from.
struct Link {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
    body: &'static [(&'static str, &'static str)],
}

const CREATED_ID: &str = "$response.body#/id";

/// The sequences a client follows: a created event is read, its tickets listed, and a
/// ticket sold for it; a listed ticket is read, edited, relisted and ordered;
/// an order is read, cancelled and paid; a user found is banned and unbanned. A link is
/// kept only in a document holding both of its operations.
const LINKS: &[Link] = &[
    Link {
        from: "createTicket",
        status: "201",
        name: "ShowTicket",
        to: "showTicket",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createTicket",
        status: "201",
        name: "UpdateTicket",
        to: "updateTicket",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createTicket",
        status: "201",
        name: "RelistTicket",
        to: "relistTicket",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createTicket",
        status: "201",
        name: "OrderTicket",
        to: "createOrder",
        parameters: &[],
        body: &[("ticketId", CREATED_ID)],
    },
    Link {
        from: "createEvent",
        status: "201",
        name: "ShowEvent",
        to: "showEvent",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createEvent",
        status: "201",
        name: "EventTickets",
        to: "listEventTickets",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createEvent",
        status: "201",
        name: "SellForEvent",
        to: "createTicket",
        parameters: &[],
        body: &[
            ("eventId", CREATED_ID),
            ("title", "A seat for the event"),
            ("price", "25"),
        ],
    },
    Link {
        from: "createOrder",
        status: "201",
        name: "ShowOrder",
        to: "showOrder",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createOrder",
        status: "201",
        name: "CancelOrder",
        to: "cancelOrder",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createOrder",
        status: "201",
        name: "PayOrder",
        to: "createPayment",
        parameters: &[],
        body: &[("orderId", CREATED_ID), ("token", "tok_visa")],
    },
    Link {
        from: "createOrder",
        status: "201",
        name: "OrderPayments",
        to: "listPayments",
        parameters: &[("orderId", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "createOrder",
        status: "201",
        name: "ShowOrderedTicket",
        to: "showTicket",
        parameters: &[("id", "$response.body#/ticket/id")],
        body: &[],
    },
    Link {
        from: "signUp",
        status: "201",
        name: "BanUser",
        to: "banUser",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
    Link {
        from: "signUp",
        status: "201",
        name: "UnbanUser",
        to: "unbanUser",
        parameters: &[("id", CREATED_ID)],
        body: &[],
    },
];

/// The document of `parts` merged, as JSON, with everything routes share added.
pub fn document(parts: impl IntoIterator<Item = OpenApi>, title: &str) -> Value {
    let mut merged = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Errors answer in one envelope, `{\"errors\":[{\"message\",\"field\"?}]}`. \
                     A signed-in request carries the `session` cookie that sign-up and \
                     sign-in set; when it answers 498, `POST /api/users/refresh` (with the \
                     `refresh` cookie) and try again.",
                ))
                .build(),
        )
        .build();
    for part in parts {
        merged.merge(part);
    }
    let mut doc = serde_json::to_value(&merged).expect("an OpenAPI document serializes");
    finish(&mut doc);
    doc
}

/// Adds the shared schemas, the cookie scheme, the shared answers and the links.
fn finish(doc: &mut Value) {
    let components = object(as_map(doc), "components");
    let schemas = object(components, "schemas");
    schemas.insert("ErrorBody".into(), schema_json(ErrorBody::schema()));
    schemas.insert("ErrorItem".into(), schema_json(ErrorItem::schema()));
    object(components, "securitySchemes").insert(
        SESSION.into(),
        json!({
            "type": "apiKey",
            "in": "cookie",
            "name": cookie::ACCESS_TOKEN,
            "description": "The access token (a signed JWT) that sign-up, sign-in and refresh set. \
                            Expired, it answers 498: refresh with the `refresh` cookie and retry.",
        }),
    );
    object(components, "securitySchemes").insert(
        REFRESH.into(),
        json!({
            "type": "apiKey",
            "in": "cookie",
            "name": cookie::REFRESH_SESSION,
            "description": "The refresh session's id, read only by `POST /api/users/refresh` \
                            (and by any service renewing an expired access token in place).",
        }),
    );

    let mut operations = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for (method, operation) in item.iter_mut() {
                if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                    continue;
                }
                shared_answers(operation);
                if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                    operations.push(id.to_owned());
                }
            }
        }
    }
    add_links(doc, &operations);
}

/// The answers an operation gets from the layers every route goes through, added where its
/// handler did not describe them itself.
fn shared_answers(operation: &mut Value) {
    let has_body = operation.get("requestBody").is_some();
    let signed_in_only = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|schemes| {
            !schemes.is_empty()
                && schemes
                    .iter()
                    .all(|s| s.as_object().is_some_and(|s| s.contains_key(SESSION)))
        });
    let responses = object(as_map(operation), "responses");
    if has_body {
        add_error(
            responses,
            "400",
            "The body is not JSON, or a field is invalid (`field` names it)",
        );
        add_error(responses, "413", "The body is over 1 MiB");
        add_error(responses, "415", "The body is not `application/json`");
    }
    if signed_in_only {
        add_error(
            responses,
            "401",
            "No valid `session` cookie (missing, malformed or signed out)",
        );
        add_error(
            responses,
            "403",
            "The account is suspended (`Account suspended`)",
        );
        add_error(
            responses,
            "498",
            "The access token expired and could not be renewed here: `POST /api/users/refresh`, then retry",
        );
        add_error(
            responses,
            "503",
            "The sign-in can't be checked right now; try again shortly",
        );
    }
    // Every error answer is the envelope, whoever described it.
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            let response = response.as_object_mut().expect("a response is an object");
            response.entry("content").or_insert_with(error_content);
        }
    }
}

fn add_error(responses: &mut Map<String, Value>, status: &str, description: &str) {
    responses
        .entry(status)
        .or_insert_with(|| json!({ "description": description, "content": error_content() }));
}

fn error_content() -> Value {
    json!({ media::JSON: { "schema": { "$ref": "#/components/schemas/ErrorBody" } } })
}

/// Adds each of [`LINKS`] whose two operations are both in the document.
fn add_links(doc: &mut Value, operations: &[String]) {
    let has = |id: &str| operations.iter().any(|o| o == id);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for link in LINKS.iter().filter(|l| has(l.from) && has(l.to)) {
        let operation = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .find(|op| op.get("operationId").and_then(Value::as_str) == Some(link.from));
        let Some(response) =
            operation.and_then(|op| op.pointer_mut(&format!("/responses/{}", link.status)))
        else {
            continue;
        };
        let mut value = json!({ "operationId": link.to });
        for (key, pairs) in [("parameters", link.parameters), ("requestBody", link.body)] {
            if !pairs.is_empty() {
                value[key] = pairs
                    .iter()
                    .map(|(name, from)| ((*name).to_owned(), json!(from)))
                    .collect::<Map<_, _>>()
                    .into();
            }
        }
        object(as_map(response), "links").insert(link.name.into(), value);
    }
}

/// `map[key]` as an object, made one if absent.
fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    map.entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .expect("an object")
}

/// A document's object, which the OpenAPI types always serialize as one.
fn as_map(value: &mut Value) -> &mut Map<String, Value> {
    value.as_object_mut().expect("an object")
}

fn schema_json(schema: impl serde::Serialize) -> Value {
    serde_json::to_value(schema).expect("a schema serializes")
}

/// `GET` [`DOCUMENT_PATH`]: `doc`, serialized once.
pub fn router(doc: &Value) -> Router {
    let body = axum::body::Bytes::from(serde_json::to_vec(doc).expect("the document serializes"));
    Router::new().route(
        DOCUMENT_PATH,
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (CONTENT_TYPE, HeaderValue::from_static(media::JSON)),
                        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                    ],
                    body,
                )
                    .into_response()
            }
        }),
    )
}
