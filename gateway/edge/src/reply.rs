//! Answers made here: the body every answer has, RFC 9457 problems, local answers.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::Full;
use std::pin::Pin;
use std::task::{Context, Poll};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Resp = Response<Body>;

const PROBLEM_PREFIX: &str = "https://smeclustergrowth.eu/problems/";

/// An answer's body: made here, whole, or a service's, passed on as it is read. (An enum rather than a
/// boxed body: no allocation and no dynamic call per answer.)
pub enum Body {
    Whole(Full<Bytes>),
    Service(crate::proxy::FromService),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Whole(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
            Body::Service(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Whole(b) => http_body::Body::is_end_stream(b),
            Body::Service(b) => http_body::Body::is_end_stream(b),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Body::Whole(b) => http_body::Body::size_hint(b),
            Body::Service(b) => http_body::Body::size_hint(b),
        }
    }
}

pub fn full(data: impl Into<Bytes>) -> Body {
    Body::Whole(Full::new(data.into()))
}

#[cfg(test)]
pub fn empty() -> Body {
    full(Bytes::new())
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
