//! The HTTP client side of every bench: keep-alive HTTP/1.1 connections (hyper, no pool) to a
//! node the bench started, one request at a time on each, and how the answer to a batch of
//! CloudEvents is read: the events it accepted, or a failure to count by kind.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::failures::Failures;
use tokio::net::TcpStream;

/// The content type of every batch the benches send.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";
/// Pause before a sender reconnects after a connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// The sending half of one keep-alive connection.
pub type Connection = SendRequest<Full<Bytes>>;

/// Opens a keep-alive HTTP/1.1 connection; its driver runs on its own task until it closes.
pub async fn connect(address: SocketAddr) -> anyhow::Result<Connection> {
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "bench connection closed");
        }
    });
    Ok(sender)
}

/// The open `connection`, or a new one to `address` if there is none (it was never opened,
/// or was dropped after an error).
pub async fn reuse_or_connect(
    connection: &mut Option<Connection>,
    address: SocketAddr,
) -> anyhow::Result<&mut Connection> {
    Ok(match connection {
        Some(sender) => sender,
        None => connection.insert(connect(address).await?),
    })
}

/// The open `connection` or a new one, as [`reuse_or_connect`]. A failure to connect is
/// recorded in `failures` and answered with `None` after [`RECONNECT_PAUSE`], for the sender
/// to try again.
pub async fn connection_or_pause<'a>(
    connection: &'a mut Option<Connection>,
    address: SocketAddr,
    failures: &mut Failures,
) -> Option<&'a mut Connection> {
    match reuse_or_connect(connection, address).await {
        Ok(sender) => Some(sender),
        Err(error) => {
            failures.record("cannot connect", format!("{error:#}"));
            tokio::time::sleep(RECONNECT_PAUSE).await;
            None
        }
    }
}

/// Sends one request and reads the whole answer.
pub async fn send(
    connection: &mut Connection,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), hyper::Error> {
    connection.ready().await?;
    let response = connection.send_request(request).await?;
    let status = response.status();
    let answer = response.into_body().collect().await?.to_bytes();
    Ok((status, answer))
}

/// Answers `GET path` with its status and body, on a connection of its own.
pub async fn get(address: SocketAddr, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut connection = connect(address).await?;
    let request = Request::get(path)
        .header(HOST, address.to_string())
        .body(Full::new(Bytes::new()))?;
    Ok(send(&mut connection, request).await?)
}

/// Answers `GET path` with its status, on a connection of its own.
pub async fn get_status(address: SocketAddr, path: &str) -> anyhow::Result<StatusCode> {
    let (status, _) = get(address, path).await?;
    Ok(status)
}

/// The part of a 2xx answer to a batch the benches read.
#[derive(Deserialize)]
pub struct Accepted {
    /// Events of the batch that ingest accepted.
    pub accepted: u64,
}

/// Why a batch request failed.
pub struct RequestFailure {
    /// What went wrong, to count failures by: `HTTP 503 Service Unavailable`.
    pub kind: String,
    /// The first line of the answer, or the error.
    pub example: String,
    /// Whether the connection broke, so the sender must open another.
    pub connection_lost: bool,
}

/// The events a batch request's answer says were accepted: a 2xx answer with an accepted
/// count; anything else is a failure.
pub fn accepted_events(
    outcome: Result<(StatusCode, Bytes), hyper::Error>,
) -> Result<u64, RequestFailure> {
    let failure = |kind: String, example: String, connection_lost: bool| RequestFailure {
        kind,
        example,
        connection_lost,
    };
    match outcome {
        Ok((status, answer)) if status.is_success() => {
            match serde_json::from_slice::<Accepted>(&answer) {
                Ok(Accepted { accepted }) => Ok(accepted),
                Err(_) => Err(failure(
                    format!("HTTP {status} without an accepted count"),
                    excerpt(&answer),
                    false,
                )),
            }
        }
        Ok((status, answer)) => Err(failure(format!("HTTP {status}"), excerpt(&answer), false)),
        Err(error) => Err(failure(
            "connection error".to_owned(),
            error.to_string(),
            true,
        )),
    }
}

/// The events a batch request's answer says were accepted, as [`accepted_events`] reads them;
/// a failure is recorded in `failures` instead, and a broken connection dropped so that the
/// sender opens another.
pub fn accepted_or_record(
    outcome: Result<(StatusCode, Bytes), hyper::Error>,
    connection: &mut Option<Connection>,
    failures: &mut Failures,
) -> Option<u64> {
    match accepted_events(outcome) {
        Ok(accepted) => Some(accepted),
        Err(failure) => {
            if failure.connection_lost {
                *connection = None;
            }
            failures.record(&failure.kind, failure.example);
            None
        }
    }
}

/// The start of an answer, on one line, for error reports.
pub fn excerpt(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}
