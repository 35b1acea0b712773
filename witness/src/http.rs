//! The witness's HTTP interface (axum).
//!
//! - `POST /add-checkpoint`: C2SP `tlog-witness` (statuses in the crate documentation).
//! - `GET /v1/equivocations[?after=<hex id>][&limit=<n>]`: JSON array of stored
//!   `quorate-equivocation/v1` evidence texts (canonical form), ordered by id (the
//!   SHA-256 of the text); at most `limit` (default and maximum [`PAGE_MAX`]) items and
//!   about [`PAGE_BYTES`] bytes. When more follow, a `Link: <...?after=<id of the last
//!   item>&limit=<n>>; rel="next"` header gives the next page; without parameters this is
//!   the first page.
//! - `POST /v1/equivocations`: submit evidence; 200 `new\n` (stored), `known\n` (its
//!   canonical form is already stored) or `enough\n` (not stored: the origin already has
//!   [`crate::MAX_EVIDENCE_PER_ORIGIN`] items), 422 if it does not verify against a
//!   configured log key.
//! - `GET /healthz`: `ok\n`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::{MAX_REQUEST_BYTES, Recorded, Witness, WitnessError};

/// Most evidence items in one `GET /v1/equivocations` page.
pub const PAGE_MAX: usize = 64;
/// A page stops adding items once it holds this many bytes of evidence (it always holds
/// at least one when any follows).
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

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
    match w.add_checkpoint_async(&bytes).await {
        Ok(lines) => (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], lines).into_response(),
        Err(e) => error_response(&e),
    }
}

/// `after` and `limit` from a `GET /v1/equivocations` query.
fn page_params(
    query: Option<&str>,
) -> Result<(Option<quorate_proto::merkle::Hash>, usize), String> {
    let (mut after, mut limit) = (None, PAGE_MAX);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("after", v)) => after = Some(parse_id(v).ok_or("after must be 64 hex digits")?),
            Some(("limit", v)) => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=PAGE_MAX).contains(n))
                    .ok_or(format!("limit must be in 1..={PAGE_MAX}"))?;
            }
            _ => return Err(format!("unknown query parameter {pair:?} (after, limit)")),
        }
    }
    Ok((after, limit))
}

fn parse_id(hex: &str) -> Option<quorate_proto::merkle::Hash> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut id = [0u8; 32];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

fn hex_id(id: &quorate_proto::merkle::Hash) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

async fn list_equivocations(State(w): State<Arc<Witness>>, RawQuery(q): RawQuery) -> Response {
    let (after, limit) = match page_params(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return error_response(&WitnessError::Malformed(e)),
    };
    match blocking(move || w.equivocations_page(after.as_ref(), limit)).await {
        Ok((list, mut more)) => {
            let mut texts = Vec::with_capacity(list.len());
            let (mut bytes, mut last) = (0usize, None);
            for e in list {
                if bytes >= PAGE_BYTES {
                    more = true;
                    break;
                }
                bytes += e.evidence.len();
                last = Some(e.id);
                texts.push(e.evidence);
            }
            let mut resp = axum::Json(texts).into_response();
            if more && let Some(id) = last {
                let link = format!(
                    "</v1/equivocations?after={}&limit={limit}>; rel=\"next\"",
                    hex_id(&id)
                );
                if let Ok(v) = header::HeaderValue::from_str(&link) {
                    resp.headers_mut().insert(header::LINK, v);
                }
            }
            resp
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
        Ok(outcome) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, TEXT)],
            match outcome {
                Recorded::New => "new\n",
                Recorded::Known => "known\n",
                Recorded::Enough => "enough\n",
            },
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}
