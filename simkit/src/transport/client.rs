//! Making HTTP requests over a [`Network`], with keep-alive connection reuse and timeouts.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::net::{NetStream, Network};

/// How long a pooled connection may sit idle before the client closes it: shorter than a
/// server's [`super::IDLE_TIMEOUT`], so the client ends an idle connection first.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a new TCP connection.
    pub connect: Duration,
    /// The whole exchange: connect, send, and read the full response body.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(30),
        }
    }
}

/// A complete response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// A header's value as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a request produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The connection could not be opened in time.
    ConnectTimeout,
    /// The exchange did not complete within the total timeout: it may or may not have happened.
    Timeout,
    /// The connection could not be opened (refused, unreachable, partitioned).
    Connect(String),
    /// The connection broke before a complete response arrived (reset, closed).
    Closed(String),
    /// A response arrived but could not be read as expected.
    Malformed(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::ConnectTimeout => f.write_str("connect timed out"),
            ClientError::Timeout => f.write_str("request timed out"),
            ClientError::Connect(e) => write!(f, "connect failed: {e}"),
            ClientError::Closed(e) => write!(f, "connection closed: {e}"),
            ClientError::Malformed(e) => write!(f, "malformed response: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// An HTTP/1.1 client over either network. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    timeouts: Timeouts,
}

impl HttpClient {
    pub fn new(network: Network, timeouts: Timeouts) -> Self {
        let client = Client::builder(TokioExecutor::new())
            // The pool's idle clock must be tokio's (virtual in the simulation), not std's.
            .pool_timer(crate::time::HyperTimer)
            .timer(crate::time::HyperTimer)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(Connector {
                network,
                connect_timeout: timeouts.connect,
            });
        Self { client, timeouts }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Sends `request` and reads the whole response, all within the total timeout.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<HttpResponse, ClientError> {
        match crate::time::timeout(self.timeouts.total, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout),
        }
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<HttpResponse, ClientError> {
        let response = self.client.request(request).await.map_err(classify)?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| ClientError::Closed(e.to_string()))?
            .to_bytes();
        Ok(HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

fn classify(err: hyper_util::client::legacy::Error) -> ClientError {
    if err.is_connect() {
        let text =
            std::error::Error::source(&err).map_or_else(|| err.to_string(), ToString::to_string);
        if text.contains(CONNECT_TIMEOUT) {
            return ClientError::ConnectTimeout;
        }
        return ClientError::Connect(text);
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    ClientError::Closed(text)
}

const CONNECT_TIMEOUT: &str = "connect timed out";

/// hyper-util's pluggable connector: a `tower::Service<Uri>` that opens a [`NetStream`].
#[derive(Clone)]
struct Connector {
    network: Network,
    connect_timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<NetStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let network = self.network;
        let timeout = self.connect_timeout;
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URL has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            match crate::time::timeout(timeout, network.connect(&host, port)).await {
                Ok(stream) => Ok(TokioIo::new(stream?)),
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, CONNECT_TIMEOUT)),
            }
        })
    }
}
