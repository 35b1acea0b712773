//! The witness's HTTP interface (axum).
//!
//! - `POST /add-checkpoint`: C2SP `tlog-witness` (statuses in the crate documentation).
//! - `GET /v1/equivocations`: JSON array of stored `quorate-equivocation/v1` evidence texts.
//! - `POST /v1/equivocations`: submit evidence; 200 `new\n` or `known\n`, 422 if it does
//!   not verify against a configured log key.
//! - `GET /healthz`: `ok\n`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::{MAX_REQUEST_BYTES, Witness, WitnessError};

/// Content type of a 409 body carrying the latest cosigned size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Content type of the 403 that refuses a log this witness holds equivocation evidence
/// against (a Quorate extension of tlog-witness). The body's first line is
/// [`EQUIVOCATING_PREFIX`] followed by the origin; the rest explains in prose. A plain 403
/// means "not signed by the trusted key", so clients need this to tell the two apart.
pub const EQUIVOCATING_CONTENT_TYPE: &str = "text/x.quorate.equivocating";

/// First-line prefix of an [`EQUIVOCATING_CONTENT_TYPE`] body; the origin follows.
pub const EQUIVOCATING_PREFIX: &str = "log equivocated: ";

const TEXT: &str = "text/plain; charset=utf-8";

/// The witness's routes, to serve alone or to nest in a node's router.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route(
            "/v1/equivocations",
            get(list_equivocations).post(post_equivocation),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(witness)
}

/// Reads at most `limit` bytes of body; more is a 400, as is any read error.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        error_response(&WitnessError::Malformed(format!(
            "request body unreadable or over the {limit}-byte limit"
        )))
    })
}

fn error_response(e: &WitnessError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match e {
        WitnessError::Conflict { latest_size } => (
            status,
            [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
            format!("{latest_size}\n"),
        )
            .into_response(),
        WitnessError::Equivocating(origin) => (
            status,
            [(header::CONTENT_TYPE, EQUIVOCATING_CONTENT_TYPE)],
            equivocating_body(origin),
        )
            .into_response(),
        _ => {
            if status.is_server_error() {
                tracing::error!(error = %e, "add-checkpoint failed");
            } else {
                tracing::debug!(error = %e, status = status.as_u16(), "add-checkpoint refused");
            }
            (status, [(header::CONTENT_TYPE, TEXT)], format!("{e}\n")).into_response()
        }
    }
}

/// The body of the 403 for an equivocating log: a line naming it, then the reason.
pub(crate) fn equivocating_body(origin: &str) -> String {
    format!(
        "{EQUIVOCATING_PREFIX}{origin}\n\
         This witness holds evidence (GET /v1/equivocations) that this log signed two \
         inconsistent checkpoints, so it no longer cosigns any checkpoint of it. The log's \
         signature is not the problem: its key is no longer trusted.\n"
    )
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WitnessError> + Send + 'static,
) -> Result<T, WitnessError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WitnessError::Internal(format!("task failed: {e}")))?
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Body) -> Response {
    let bytes = match read_body(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match blocking(move || w.add_checkpoint(&bytes)).await {
        Ok(lines) => (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], lines).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn list_equivocations(State(w): State<Arc<Witness>>) -> Response {
    match blocking(move || w.equivocations()).await {
        Ok(list) => {
            let texts: Vec<String> = list.into_iter().map(|e| e.evidence).collect();
            axum::Json(texts).into_response()
        }
        Err(e) => error_response(&e),
    }
}

async fn post_equivocation(State(w): State<Arc<Witness>>, body: Body) -> Response {
    let limit = quorate_proto::equivocation::MAX_EVIDENCE_BYTES;
    let bytes = match read_body(body, limit).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match blocking(move || w.record_equivocation(&bytes)).await {
        Ok(new) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, TEXT)],
            if new { "new\n" } else { "known\n" },
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}
