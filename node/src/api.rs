//! The HTTP API (axum): the C2SP tlog-tiles read path, submission, lookups and proofs.
//!
//! See `specs/openapi.yaml` for the JSON endpoints and `node/README.md` for an overview.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::merkle::{self, Hash};
use quorate_proto::tile::{self, Tile, TileKind};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::reviewers::ReviewerWatch;
use crate::sequencer::{
    AdmissionError, AdmissionLimits, Sequencer, SubmitError, admit, check_criteria,
};
use crate::store::{Snapshot, Store, StoreError};

/// Content type of a batch: concatenated envelopes, each after a u32 big-endian length.
pub const BATCH_CONTENT_TYPE: &str = "application/x-quorate-batch";

/// Shared state of the HTTP handlers.
#[derive(Debug)]
pub struct AppState {
    store: Arc<Store>,
    seq: Arc<Sequencer>,
    reviewers: Arc<ReviewerWatch>,
    limits: AdmissionLimits,
    accepted_criteria: Option<Arc<[String]>>,
    max_body_bytes: usize,
    max_batch_envelopes: usize,
    queue: Arc<Semaphore>,
    rate: Option<RateLimiter>,
    metrics: Arc<Metrics>,
    shutting_down: AtomicBool,
    federation: Option<Arc<crate::federation::FedShared>>,
    web: Option<Router<Arc<AppState>>>,
    freshness: Option<Arc<crate::health::Freshness>>,
}

impl AppState {
    /// State for a node serving `store`, writing through `seq`.
    pub fn new(
        store: Arc<Store>,
        seq: Arc<Sequencer>,
        reviewers: Arc<ReviewerWatch>,
        config: &Config,
        metrics: Arc<Metrics>,
    ) -> AppState {
        AppState {
            store,
            seq,
            reviewers,
            limits: AdmissionLimits {
                max_envelope_bytes: config.max_envelope_bytes,
            },
            accepted_criteria: config.accepted_criteria.as_deref().map(Arc::from),
            max_body_bytes: config.max_body_bytes,
            max_batch_envelopes: config.max_batch_envelopes,
            queue: Arc::new(Semaphore::new(config.queue_depth)),
            rate: config.rate_limit.map(RateLimiter::new),
            metrics,
            shutting_down: AtomicBool::new(false),
            federation: None,
            web: None,
            freshness: None,
        }
    }

    /// Serve the federation's cosigned checkpoint and metrics.
    pub fn with_federation(mut self, shared: Arc<crate::federation::FedShared>) -> AppState {
        self.federation = Some(shared);
        self
    }

    /// Serve the public web pages ([`crate::web::router`]) beside the API.
    pub fn with_web(mut self, pages: Router<Arc<AppState>>) -> AppState {
        self.web = Some(pages);
        self
    }

    /// `/healthz` fails once `f` goes stale (see [`crate::health`]).
    pub fn with_freshness(mut self, f: Arc<crate::health::Freshness>) -> AppState {
        self.freshness = Some(f);
        self
    }

    /// The federation state `/checkpoint` serves from, if federated.
    pub fn federation(&self) -> Option<Arc<crate::federation::FedShared>> {
        self.federation.clone()
    }

    /// From now on, submissions get 503 shutting_down and /healthz reports it.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}

type St = Arc<AppState>;

/// The router with all endpoints and layers (body limit, timeout, tracing, metrics).
pub fn router(state: St, config: &Config) -> Router {
    router_with(state, config, None)
}

/// [`router`] plus, when given, the embedded witness's routes (`POST /add-checkpoint`,
/// `GET`/`POST /v1/equivocations`) under the same layers.
pub fn router_with(state: St, config: &Config, witness: Option<Router>) -> Router {
    let mut r = Router::new();
    if let Some(w) = witness {
        r = r
            .route_service("/add-checkpoint", w.clone())
            .route_service("/v1/equivocations", w);
    }
    if let Some(pages) = state.web.clone() {
        r = r.merge(pages);
    }
    r.route("/checkpoint", get(checkpoint))
        .route("/checkpoint/latest", get(checkpoint_latest))
        .route("/tile/{*path}", get(tile_get))
        .route("/v1/attestations", post(submit))
        .route("/v1/reviews/{ecosystem}/{*rest}", get(reviews))
        .route("/v1/bundle/{ecosystem}/{*rest}", get(bundle))
        .route("/v1/proof/inclusion", get(inclusion))
        .route("/v1/proof/consistency", get(consistency))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT_REQUESTS)),
            limit_in_flight,
        ))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(config.request_timeout_ms),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Requests handled at once; more are shed with 503 at once. Each may buffer a body of up
/// to `max_body_bytes`, so this bounds what unauthenticated clients can make the node hold.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 256;

async fn limit_in_flight(
    State(sem): State<Arc<tokio::sync::Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    match sem.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("more than {MAX_IN_FLIGHT_REQUESTS} requests in flight; retry later"),
        )
        .retry(1)
        .into_response(),
    }
}

async fn count_requests(State(st): State<St>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let resp = next.run(req).await;
    st.metrics.request(&method, &route, resp.status().as_u16());
    resp
}

// ---------------------------------------------------------------------------------------
// Errors

/// A JSON error response: `{"error": code, "message": reason[, "item": position]}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    item: Option<usize>,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<usize>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            item: None,
            retry_after: None,
        }
    }
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
    fn retry(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    fn from_admission(e: &AdmissionError) -> Self {
        let code = match e {
            AdmissionError::Empty => "empty",
            AdmissionError::TooLarge { .. } => "too_large",
            AdmissionError::BadSignature(_) => "bad_signature",
            AdmissionError::UnknownReviewer { .. } => "unknown_reviewer",
            AdmissionError::UnacceptedCriterion { .. } => "unaccepted_criteria",
            _ => "malformed",
        };
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error: self.code,
            message: &self.message,
            item: self.item,
        })
        .unwrap_or_default();
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::OutOfRange { .. } => ApiError::not_found(e.to_string()),
        e => ApiError::internal(e),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// Runs a read against a fresh snapshot on a blocking thread.
async fn read<T: Send + 'static>(
    st: &St,
    f: impl FnOnce(Snapshot) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    read_store(&st.store, f).await
}

/// [`read`] on a given store.
async fn read_store<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(Snapshot) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.snapshot().map_err(store_err)?))
        .await
        .map_err(ApiError::internal)?
}

fn b64(h: &[u8]) -> String {
    B64.encode(h)
}

fn b64_all(hs: &[Hash]) -> Vec<String> {
    hs.iter().map(|h| b64(h)).collect()
}

fn note_text(note: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(note).map_err(ApiError::internal)
}

// ---------------------------------------------------------------------------------------
// tlog-tiles read path

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const PARTIAL: &str = "public, max-age=60";
const NO_CACHE: &str = "no-cache";

/// `GET /checkpoint`: the newest checkpoint that reached its cosigning target (see
/// [`crate::federation::FedShared`]), else (no witnesses, or none reached it yet) the
/// newest signed one.
async fn checkpoint(State(st): State<St>) -> Result<Response, ApiError> {
    if let Some((_, note)) = st.federation.as_ref().and_then(|f| f.served()) {
        return Ok(checkpoint_response(note));
    }
    checkpoint_latest(State(st)).await
}

/// `GET /checkpoint/latest`: the newest signed checkpoint with the cosignatures gathered
/// so far, for witnesses and monitors.
async fn checkpoint_latest(State(st): State<St>) -> Result<Response, ApiError> {
    let (size, mut note) = read(&st, |s| s.latest_checkpoint().map_err(store_err)).await?;
    if let Some(c) = st.federation.as_ref().and_then(|f| f.latest_at(size)) {
        note = c;
    }
    Ok(checkpoint_response(note))
}

fn checkpoint_response(note: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        note,
    )
        .into_response()
}

async fn tile_get(
    State(st): State<St>,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    tile_response(st.store.clone(), path, &headers).await
}

/// `GET /tile/<path>` from `store` (shared with `quorate-node mirror`).
pub(crate) async fn tile_response(
    store: Arc<Store>,
    path: String,
    headers: &axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let full = format!("tile/{path}");
    let (kind, t) =
        Tile::parse_path(&full).map_err(|e| ApiError::bad("bad_tile_path", e.to_string()))?;
    let cache = if t.is_full() { IMMUTABLE } else { PARTIAL };
    let body = match kind {
        TileKind::Hash => Body::from(read_store(&store, move |s| hash_tile(&s, &t)).await?),
        TileKind::Entries => {
            let (start, end) = read_store(&store, move |s| entry_tile_range(&s, &t)).await?;
            let body = entry_bundle_stream(store, start, end);
            if crate::gzip::accepts_gzip(headers) {
                return Ok((
                    [
                        (header::CONTENT_TYPE, "application/octet-stream"),
                        (header::CACHE_CONTROL, cache),
                        (header::CONTENT_ENCODING, "gzip"),
                        (header::VARY, "Accept-Encoding"),
                    ],
                    crate::gzip::gzip(body),
                )
                    .into_response());
            }
            body
        }
    };
    if kind == TileKind::Entries {
        return Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, cache),
                (header::VARY, "Accept-Encoding"),
            ],
            body,
        )
            .into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response())
}

/// Entries read from the store at a time while streaming an entry bundle.
pub const ENTRY_STREAM_CHUNK: u64 = 8;

/// A streamed chunk of an entry bundle is cut once it holds this many bytes: reads of
/// [`ENTRY_STREAM_CHUNK`] entries are added until it does, so a chunk holds less than
/// this plus 8 × 64 KiB.
pub const ENTRY_STREAM_BYTES: usize = 64 << 10;

/// An entry bundle can reach 256 × 64 KiB = 16 MiB; built whole for every request, a few
/// hundred concurrent (or slowly read) requests would hold gigabytes. So it is streamed:
/// a chunk of about [`ENTRY_STREAM_BYTES`] is read on a blocking thread only when the
/// connection asks for more body, and no thread waits on a slow reader. Chunks are cut
/// by bytes rather than by a fixed count so that a bundle of typical (~400 B) entries
/// goes out in two chunks, not thirty-two: each chunk costs a blocking-pool hand-off, a
/// store snapshot, a socket write and, compressed, a deflate block (Huffman tables built
/// and flushed), which made small chunks dominate the node's CPU in a cold mirror.
/// Entries never change once logged, so each chunk may come from a fresh snapshot; `end`
/// was checked against the tree size before the response started.
fn entry_bundle_stream(store: Arc<Store>, start: u64, end: u64) -> Body {
    let chunks = futures::stream::unfold(start, move |next| {
        let store = store.clone();
        async move {
            if next >= end {
                return None;
            }
            let chunk = tokio::task::spawn_blocking(move || {
                let snap = store.snapshot().map_err(|e| (next, e.to_string()))?;
                let (mut upto, mut entries, mut bytes) = (next, Vec::new(), 0);
                while upto < end && bytes < ENTRY_STREAM_BYTES {
                    let to = end.min(upto + ENTRY_STREAM_CHUNK);
                    let got = snap.entries(upto, to).map_err(|e| (upto, e.to_string()))?;
                    bytes += got.iter().map(Vec::len).sum::<usize>();
                    entries.extend(got);
                    upto = to;
                }
                let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
                tile::encode_entry_bundle(&refs)
                    .map(|b| (b, upto))
                    .map_err(|e| (upto, e.to_string()))
            })
            .await;
            let (item, upto) = match chunk {
                Ok(Ok((bytes, upto))) => (Ok(axum::body::Bytes::from(bytes)), upto),
                Ok(Err((at, e))) => (
                    Err(std::io::Error::other(format!("entries from {at}: {e}"))),
                    end,
                ),
                Err(e) => (Err(std::io::Error::other(e)), end),
            };
            if let Err(e) = &item {
                // The status line has gone out; aborting the body is all that is left, and
                // a client sees a truncated bundle that cannot verify.
                tracing::error!("entry bundle stream failed: {e}");
            }
            // After an error the stream ends (upto = end).
            Some((item, upto))
        }
    });
    Body::from_stream(chunks)
}

/// The entry range of entry tile `t`, or 404 when it reaches beyond the tree.
fn entry_tile_range(s: &Snapshot, t: &Tile) -> Result<(u64, u64), ApiError> {
    let beyond = || {
        ApiError::not_found(format!(
            "{} is beyond the tree of size {}",
            t.entries_path(),
            s.size()
        ))
    };
    let start = t.index().checked_mul(256).ok_or_else(beyond)?;
    let end = start.checked_add(u64::from(t.width())).ok_or_else(beyond)?;
    if end > s.size() {
        return Err(beyond());
    }
    Ok((start, end))
}

fn hash_tile(s: &Snapshot, t: &Tile) -> Result<Vec<u8>, ApiError> {
    let hashes = s
        .tile_hashes(t.level(), t.index(), t.width())
        .map_err(|e| match e {
            StoreError::OutOfRange { .. } => ApiError::not_found(format!(
                "{} is beyond the tree of size {}",
                t.path(),
                s.size()
            )),
            e => store_err(e),
        })?;
    Ok(hashes.concat())
}

// ---------------------------------------------------------------------------------------
// Submission

/// One acknowledged envelope.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubmitResult {
    /// Index of the entry in the log.
    pub index: u64,
    /// RFC 6962 leaf hash of the envelope, base64.
    pub leaf_hash: String,
    /// True if the envelope was already logged (at `index`); nothing was appended.
    pub duplicate: bool,
    /// Tree size of `checkpoint`.
    pub size: u64,
    /// The signed checkpoint note covering the entry.
    pub checkpoint: String,
    /// Inclusion proof of `index` in the tree of `checkpoint`, base64 hashes.
    pub inclusion_proof: Vec<String>,
}

/// Response to a batch submission (`application/x-quorate-batch` or JSON).
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchResult {
    /// One result per submitted envelope, in order.
    pub entries: Vec<SubmitResult>,
}

#[derive(Deserialize)]
struct JsonBatch {
    #[serde(deserialize_with = "capped_strings")]
    envelopes: Vec<String>,
}

/// Most items a batch body is split into before the count check rejects it: splitting
/// stops one past the largest limit a node can be configured with, so a body of empty
/// items can never make the node allocate a million vectors.
pub const MAX_SPLIT_ITEMS: usize = 1 << 16;

/// Deserializes at most [`MAX_SPLIT_ITEMS`] + 1 strings: `{"envelopes":["","",...]}`
/// would otherwise cost far more memory than its body.
fn capped_strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Capped;
    impl<'de> serde::de::Visitor<'de> for Capped {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "an array of at most {MAX_SPLIT_ITEMS} base64 strings")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                if out.len() > MAX_SPLIT_ITEMS {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_SPLIT_ITEMS} envelopes"
                    )));
                }
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Capped)
}

/// Splits an `application/x-quorate-batch` body.
///
/// Splitting stops after `max_items + 1` items (the caller's count check then rejects the
/// batch), and an empty item is malformed: neither can make the node allocate more than
/// the body's size in item headers.
pub fn split_batch(body: &[u8], max_items: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() && out.len() <= max_items {
        let offset = body.len() - rest.len();
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(format!(
                "item {} at byte {offset}: truncated length prefix",
                out.len()
            ));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(format!(
                "item {} at byte {offset}: length {len} runs past the end of the body",
                out.len()
            ));
        }
        if len == 0 {
            return Err(format!(
                "item {} at byte {offset}: empty envelope",
                out.len()
            ));
        }
        let (item, tail) = tail.split_at(len);
        out.push(item.to_vec());
        rest = tail;
    }
    Ok(out)
}

/// Frames envelopes as an `application/x-quorate-batch` body.
pub fn join_batch<T: AsRef<[u8]>>(envelopes: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in envelopes {
        let e = e.as_ref();
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

async fn read_body(st: &St, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = st.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body is over the limit of {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b.to_vec()),
        Err(_) => Err(too_large()),
    }
}

async fn submit(
    State(st): State<St>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let r = submit_inner(&st, &headers, body).await;
    if let Err(e) = &r {
        st.metrics.reject(e.code);
        // An operator answering "why was my review refused?" needs who and why.
        let client = client.map_or_else(|| "unknown".to_owned(), |c| c.0.0.to_string());
        tracing::info!(
            %client,
            status = e.status.as_u16(),
            code = e.code,
            "submission refused: {}",
            e.message
        );
    }
    r
}

async fn submit_inner(st: &St, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    if st.shutting_down.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down; retry later",
        )
        .retry(5));
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body = read_body(st, headers, body).await?;
    let (envelopes, batch) = match ctype.as_str() {
        "application/x-protobuf" | "application/octet-stream" => (vec![body], false),
        BATCH_CONTENT_TYPE => (
            split_batch(&body, st.max_batch_envelopes)
                .map_err(|m| ApiError::bad("malformed_batch", m))?,
            true,
        ),
        "application/json" => {
            let j: JsonBatch = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad("malformed_batch", format!("JSON body: {e}")))?;
            let mut out = Vec::with_capacity(j.envelopes.len());
            for (i, s) in j.envelopes.iter().enumerate() {
                out.push(B64.decode(s).map_err(|e| {
                    let mut err = ApiError::bad(
                        "malformed_batch",
                        format!("envelopes[{i}] is not base64: {e}"),
                    );
                    err.item = Some(i);
                    err
                })?);
            }
            (out, true)
        }
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type {other:?} is not one of application/x-protobuf, \
                     application/octet-stream, {BATCH_CONTENT_TYPE}, application/json"
                ),
            ));
        }
    };
    let n = envelopes.len();
    if n == 0 {
        return Err(ApiError::bad("empty", "the batch holds no envelope"));
    }
    if n > st.max_batch_envelopes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_envelopes",
            format!(
                "the batch holds {n} envelopes, over the limit of {}",
                st.max_batch_envelopes
            ),
        ));
    }
    st.metrics.request_batch.observe(n as f64);

    // Validate everything before queueing anything: one bad envelope rejects the batch.
    let reviewers = st.reviewers.current();
    let limits = st.limits;
    let accepted = st.accepted_criteria.clone();
    let admitted = tokio::task::spawn_blocking(move || {
        envelopes
            .iter()
            .enumerate()
            .map(|(i, e)| {
                admit(e, &reviewers, &limits)
                    .and_then(|a| check_criteria(&a, accepted.as_deref()).map(|()| a))
                    .map_err(|err| (i, err))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|(i, e)| {
        let mut err = ApiError::from_admission(&e);
        if batch {
            err.message = format!("envelope {i}: {}", err.message);
            err.item = Some(i);
        }
        err
    })?;

    if let Some(rate) = &st.rate
        && let Err(wait) = rate.check(admitted.iter().map(|a| *a.verified().reviewer_key()))
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "reviewer submission rate limit exceeded",
        )
        .retry(wait.as_secs().max(1)));
    }

    // Reserve queue room for the whole batch first, so it is queued entirely or not at all.
    let permits = u32::try_from(n)
        .ok()
        .and_then(|k| st.queue.clone().try_acquire_many_owned(k).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                "the sequencer queue is full; retry later",
            )
            .retry(1)
        })?;
    let start = Instant::now();
    let leaves: Vec<_> = admitted.iter().map(|a| *a.verified().leaf_hash()).collect();
    // All or nothing: the sequencer reserves channel room for the whole batch, so a batch
    // answered `queue_full` had no entry queued (the HTTP permits above can be released
    // early by a dropped request while its entries still sit in the channel).
    let to_api = |e: SubmitError| match e {
        SubmitError::QueueFull => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            "the sequencer queue is full; retry later",
        )
        .retry(1),
        SubmitError::ShutDown => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down; retry later",
        )
        .retry(5),
        e => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "integration_failed",
            format!("{e} (the envelope may or may not be logged; resubmitting is safe)"),
        ),
    };
    let pending = st.seq.submit_many(admitted).map_err(to_api)?;
    let mut results = Vec::with_capacity(n);
    for (leaf, fut) in leaves.into_iter().zip(pending) {
        let ack = fut.await.map_err(to_api)?;
        st.metrics.ack(ack.duplicate, ack.size, start.elapsed());
        results.push(SubmitResult {
            index: ack.index,
            leaf_hash: b64(&leaf),
            duplicate: ack.duplicate,
            size: ack.size,
            checkpoint: note_text(ack.checkpoint)?,
            inclusion_proof: b64_all(&ack.proof),
        });
    }
    drop(permits);
    let any_new = results.iter().any(|r| !r.duplicate);
    let status = if any_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if batch {
        Ok((status, axum::Json(BatchResult { entries: results })).into_response())
    } else {
        let one = results
            .pop()
            .ok_or_else(|| ApiError::internal("no result"))?;
        Ok((status, axum::Json(one)).into_response())
    }
}

// ---------------------------------------------------------------------------------------
// Lookups and proofs

fn split_package(rest: &str) -> Result<(String, String), ApiError> {
    match rest.rsplit_once('/') {
        Some((p, v)) if !p.is_empty() && !v.is_empty() => Ok((p.to_owned(), v.to_owned())),
        _ => Err(ApiError::bad(
            "bad_package",
            "expected /{ecosystem}/{package}/{version} (package may contain '/')",
        )),
    }
}

/// An entry of a package, proven against the response's checkpoint.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReviewEntry {
    /// Index in the log.
    pub index: u64,
    /// The envelope bytes, base64.
    pub envelope: String,
    /// RFC 6962 leaf hash, base64.
    pub leaf_hash: String,
    /// Inclusion proof in the tree of `checkpoint`, base64 hashes.
    pub inclusion_proof: Vec<String>,
}

/// `GET /v1/reviews/...` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReviewsResponse {
    /// Ecosystem asked for.
    pub ecosystem: String,
    /// Package asked for.
    pub package: String,
    /// Version asked for.
    pub version: String,
    /// Tree size of `checkpoint`.
    pub size: u64,
    /// The signed checkpoint every proof is relative to.
    pub checkpoint: String,
    /// Matching entries, ascending by index: one page of at most `limit`.
    pub entries: Vec<ReviewEntry>,
    /// Present when more entries match: pass it as `from` to get the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// Entries per `/v1/reviews` or `/v1/bundle` page unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 100;
/// Largest `limit`: an envelope is at most 64 KiB, so a page stays within ~25 MiB of JSON.
pub const MAX_PAGE: usize = 256;

/// `?from=INDEX&limit=N`: entries with log index >= `from` (default 0), at most `limit`
/// (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]).
fn page_params(q: &std::collections::HashMap<String, String>) -> Result<(u64, usize), ApiError> {
    let from = if q.contains_key("from") {
        param(q, "from")?
    } else {
        0
    };
    let limit = if q.contains_key("limit") {
        param(q, "limit")?
    } else {
        DEFAULT_PAGE as u64
    };
    if limit == 0 || limit > MAX_PAGE as u64 {
        return Err(ApiError::bad(
            "bad_parameter",
            format!("limit={limit} is not in 1..={MAX_PAGE}"),
        ));
    }
    Ok((from, limit as usize))
}

/// One page of `indexes` (ascending): those >= `from`, at most `limit`, and the index to
/// continue from when more remain.
fn page_of(indexes: Vec<u64>, from: u64, limit: usize) -> (Vec<u64>, Option<u64>) {
    let mut rest = indexes.into_iter().filter(|&i| i >= from);
    let page: Vec<u64> = rest.by_ref().take(limit).collect();
    (page, rest.next())
}

async fn reviews(
    State(st): State<St>,
    Path((ecosystem, rest)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (package, version) = split_package(&rest)?;
    let (from, limit) = page_params(&q)?;
    let resp = read(&st, move |s| {
        let (size, cp) = s.latest_checkpoint().map_err(store_err)?;
        let mut entries = Vec::new();
        let all = s
            .lookup_package(&ecosystem, &package, &version)
            .map_err(store_err)?;
        let (page, next) = page_of(all, from, limit);
        for index in page {
            let data = s.entry(index).map_err(store_err)?;
            let proof = merkle::prove_record(size, index, &s).map_err(ApiError::internal)?;
            entries.push(ReviewEntry {
                index,
                leaf_hash: b64(&merkle::leaf_hash(&data)),
                envelope: b64(&data),
                inclusion_proof: b64_all(&proof),
            });
        }
        Ok(ReviewsResponse {
            ecosystem,
            package,
            version,
            size,
            checkpoint: note_text(cp)?,
            entries,
            next,
        })
    })
    .await?;
    Ok(([(header::CACHE_CONTROL, NO_CACHE)], axum::Json(resp)).into_response())
}

/// One entry of a `GET /v1/bundle/...` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct BundleEntry {
    /// Index in the log.
    pub index: u64,
    /// The envelope bytes, base64.
    pub envelope: String,
    /// C2SP tlog-proof (`c2sp.org/tlog-proof@v1`) text for the entry.
    pub proof: String,
}

/// `GET /v1/bundle/...` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct BundleResponse {
    /// The signed checkpoint every proof embeds.
    pub checkpoint: String,
    /// One per entry, ascending by index: one page of at most `limit`.
    pub entries: Vec<BundleEntry>,
    /// Present when more entries match: pass it as `from` to get the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// Formats a C2SP tlog-proof (no `extra` line).
pub fn format_tlog_proof(index: u64, proof: &[Hash], checkpoint: &str) -> String {
    let mut s = String::with_capacity(64 + 45 * proof.len() + checkpoint.len());
    s.push_str("c2sp.org/tlog-proof@v1\n");
    s.push_str(&format!("index {index}\n"));
    for h in proof {
        s.push_str(&b64(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(checkpoint);
    s
}

async fn bundle(
    State(st): State<St>,
    Path((ecosystem, rest)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (package, version) = split_package(&rest)?;
    let (from, limit) = page_params(&q)?;
    let resp = read(&st, move |s| {
        let (size, cp) = s.latest_checkpoint().map_err(store_err)?;
        let cp = note_text(cp)?;
        let mut entries = Vec::new();
        let all = s
            .lookup_package(&ecosystem, &package, &version)
            .map_err(store_err)?;
        let (page, next) = page_of(all, from, limit);
        for index in page {
            let data = s.entry(index).map_err(store_err)?;
            let proof = merkle::prove_record(size, index, &s).map_err(ApiError::internal)?;
            entries.push(BundleEntry {
                index,
                envelope: b64(&data),
                proof: format_tlog_proof(index, &proof, &cp),
            });
        }
        Ok(BundleResponse {
            checkpoint: cp,
            entries,
            next,
        })
    })
    .await?;
    Ok(([(header::CACHE_CONTROL, NO_CACHE)], axum::Json(resp)).into_response())
}

fn param(q: &std::collections::HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    let v = q
        .get(name)
        .ok_or_else(|| ApiError::bad("bad_parameter", format!("missing query parameter {name}")))?;
    v.parse::<u64>().map_err(|_| {
        ApiError::bad(
            "bad_parameter",
            format!("query parameter {name}={v:?} is not a non-negative integer"),
        )
    })
}

/// `GET /v1/proof/inclusion` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct InclusionResponse {
    /// Entry index.
    pub index: u64,
    /// Tree size the proof is for.
    pub size: u64,
    /// The entry's leaf hash, base64.
    pub leaf_hash: String,
    /// The proof, base64 hashes.
    pub inclusion_proof: Vec<String>,
    /// The checkpoint signed at `size`, if the log signed one at exactly that size.
    pub checkpoint: Option<String>,
}

async fn inclusion(
    State(st): State<St>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let index = param(&q, "index")?;
    let size = param(&q, "size")?;
    let resp = read(&st, move |s| {
        if size > s.size() {
            return Err(ApiError::bad(
                "bad_size",
                format!("size {size} is beyond the current tree size {}", s.size()),
            ));
        }
        if index >= size {
            return Err(ApiError::bad(
                "bad_index",
                format!("index {index} is not below size {size}"),
            ));
        }
        let data = s.entry(index).map_err(store_err)?;
        let proof = merkle::prove_record(size, index, &s).map_err(ApiError::internal)?;
        let cp = s.checkpoint_at(size).map_err(store_err)?;
        Ok(InclusionResponse {
            index,
            size,
            leaf_hash: b64(&merkle::leaf_hash(&data)),
            inclusion_proof: b64_all(&proof),
            checkpoint: cp.map(note_text).transpose()?,
        })
    })
    .await?;
    Ok(axum::Json(resp).into_response())
}

/// `GET /v1/proof/consistency` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsistencyResponse {
    /// Older tree size.
    pub old: u64,
    /// Newer tree size.
    pub new: u64,
    /// The proof, base64 hashes (empty if `old == new`).
    pub consistency_proof: Vec<String>,
}

async fn consistency(
    State(st): State<St>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let old = param(&q, "old")?;
    let new = param(&q, "new")?;
    let resp = read(&st, move |s| {
        if new > s.size() {
            return Err(ApiError::bad(
                "bad_size",
                format!("new {new} is beyond the current tree size {}", s.size()),
            ));
        }
        if old == 0 || old > new {
            return Err(ApiError::bad(
                "bad_size",
                format!("need 1 <= old <= new, got old {old}, new {new}"),
            ));
        }
        let proof = merkle::prove_tree(new, old, &s).map_err(ApiError::internal)?;
        Ok(ConsistencyResponse {
            old,
            new,
            consistency_proof: b64_all(&proof),
        })
    })
    .await?;
    Ok(axum::Json(resp).into_response())
}

// ---------------------------------------------------------------------------------------
// Operations

async fn healthz(State(st): State<St>) -> Response {
    let size = read(&st, |s| Ok(s.size())).await;
    match size {
        Ok(_)
            if !st.shutting_down.load(Ordering::SeqCst)
                && let Some(Err(stale)) = st.freshness.as_ref().map(|f| f.check()) =>
        {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stale", stale.to_string())
                .into_response()
        }
        Ok(size) if !st.shutting_down.load(Ordering::SeqCst) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "size": size})),
        )
            .into_response(),
        Ok(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn metrics(State(st): State<St>) -> Result<Response, ApiError> {
    let size = read(&st, |s| Ok(s.size())).await?;
    let reviewers = st.reviewers.current().len();
    let mut text = st.metrics.render(size, size, reviewers);
    if let Some(f) = &st.federation {
        text.push_str(&f.render());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
