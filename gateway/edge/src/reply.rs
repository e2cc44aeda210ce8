//! Answers made here: the body type every rule passes on, RFC 9457 problems, local answers.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;
pub type Resp = Response<Body>;

const PROBLEM_PREFIX: &str = "https://smeclustergrowth.eu/problems/";

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A whole local answer.
pub fn local(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An RFC 9457 problem; `extra` members are added to the body. A 503 says when to retry (1 s unless
/// the caller sets Retry-After itself afterwards).
pub fn problem(status: u16, suffix: &str, title: &str, detail: &str, extra: &[(&str, &str)]) -> Resp {
    let mut body = serde_json::Map::new();
    body.insert("type".into(), format!("{PROBLEM_PREFIX}{suffix}").into());
    body.insert("title".into(), title.into());
    body.insert("status".into(), status.into());
    body.insert("detail".into(), detail.into());
    for (k, v) in extra {
        body.insert((*k).into(), (*v).into());
    }
    let mut r = local(status, "application/problem+json", serde_json::Value::Object(body).to_string());
    if status == 503 {
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// As `problem`, and the connection closes after it (its request could not be read to its end).
pub fn closing(status: u16, suffix: &str, title: &str, detail: &str) -> Resp {
    let mut r = problem(status, suffix, title, detail, &[]);
    r.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    r
}
