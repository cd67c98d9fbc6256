//! A small HTTP/1.1 client for the tests' own requests to the server (the
//! browser makes the page's).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::Error;

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body, as text (lossy).
    pub body: String,
}

impl Answer {
    /// The body as JSON; `Err` says what the body was.
    pub fn json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("not JSON ({e}): {} {}", self.status, self.body).into())
    }
}

/// Sends `method url` with `headers` and `body` (empty: none); `Err` when
/// the connection fails or closes without an answer.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Answer, Error> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body.to_owned())))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// `GET url`.
pub async fn get(url: &str) -> Result<Answer, Error> {
    send("GET", url, &[], "").await
}

/// `POST url` with a JSON body and, when given, an `Idempotency-Key`.
pub async fn post_json(url: &str, key: Option<&str>, body: &str) -> Result<Answer, Error> {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    send("POST", url, &headers, body).await
}
