//! `quorate-node mirror --from URL --data DIR --listen ADDR --log-vkey VKEY`: follows
//! another institute's log (its node, or a bucket it publishes to), verifies every
//! checkpoint and tile ([`follow`]), keeps what it verified in a store of the node's
//! format, and serves the same C2SP tlog-tiles read path (`/checkpoint`, `/tile/...`),
//! plus `/v1/equivocations` (evidence it found) and `/healthz`. Clients list it as a
//! mirror of that log in their policy and fall back to it when the origin is down; they
//! verify everything it serves exactly as they verify the origin.
//!
//! Data directory: `log.pub` (the followed log's vkey, fixed at the first start),
//! `log.redb` (entries, hashes and the log's checkpoints: `quorate-node verify` audits it
//! like a node's), `checkpoint` (the newest verified note of the held size, which may
//! carry fresher cosignatures than the stored row), `evidence/` (one file per piece).
//! A mirror holding evidence does not follow again: the log proved itself untrustworthy,
//! and the mirror keeps serving the last verified state and the proof.

mod follow;
mod origin;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quorate_proto::note::{Ed25519Verifier, NoteVerifier as _};
use tokio::sync::Notify;

pub use follow::{FollowError, Round};

use crate::api::{ApiError, tile_response};
use crate::datadir::DataDir;
use crate::store::Store;
use follow::{Follower, Shared, evidence_dir, served_path};

/// `quorate-node mirror`'s options.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// The followed log's base URL.
    pub from: String,
    /// The mirror's data directory.
    pub data: PathBuf,
    /// Where to serve.
    pub listen: SocketAddr,
    /// The followed log's vkey.
    pub log_vkey: String,
    /// Its origin, if given (must be the key's name).
    pub origin: Option<String>,
    /// Time between rounds.
    pub poll: Duration,
    /// Largest growth (entry bytes) one round may hold in memory.
    pub max_step_bytes: u64,
}

/// Most evidence files loaded at start (one proves the fork; a few show several).
const MAX_EVIDENCE_FILES: usize = 16;

/// Runs the mirror until SIGTERM/SIGINT. Prints `listening on ADDR` once bound.
pub async fn run(opts: MirrorOptions) -> anyhow::Result<()> {
    let verifier = Ed25519Verifier::from_vkey(&opts.log_vkey)
        .map_err(|e| anyhow::anyhow!("--log-vkey: {e}"))?;
    if let Some(o) = &opts.origin {
        anyhow::ensure!(
            o == verifier.name(),
            "--origin {o:?} is not the log key's name {:?} (Quorate checks origin == key name)",
            verifier.name()
        );
    }
    let dir = DataDir::new(&opts.data);
    std::fs::create_dir_all(dir.root())
        .with_context(|| format!("creating {}", dir.root().display()))?;
    let pub_path = dir.pub_path();
    match std::fs::read_to_string(&pub_path) {
        Ok(held) => anyhow::ensure!(
            held.trim() == opts.log_vkey.trim(),
            "{} mirrors the log {} , not {} (use another --data directory)",
            dir.root().display(),
            held.trim(),
            opts.log_vkey
        ),
        Err(_) => {
            crate::datadir::write_atomic(&pub_path, format!("{}\n", opts.log_vkey).as_bytes())?
        }
    }
    let store_path = dir.store_path();
    let store = Arc::new(
        tokio::task::spawn_blocking(move || {
            if store_path.exists() {
                Store::open(&store_path)
            } else {
                Store::create_mirror(&store_path)
            }
        })
        .await
        .context("opening the store")??,
    );
    let shared = Arc::new(Shared::default());
    if let Ok(n) = std::fs::read(served_path(dir.root()))
        && let Ok(mut g) = shared.served.write()
    {
        *g = Some(n);
    }
    let held_evidence = load_evidence(&evidence_dir(dir.root()));
    let evidence_held = !held_evidence.is_empty();
    if let Ok(mut g) = shared.evidence.write() {
        *g = held_evidence;
    }
    let follower = Arc::new(Follower {
        origin: origin::Origin::new(&opts.from, Duration::from_secs(60)),
        verifier,
        store: store.clone(),
        dir: dir.root().to_path_buf(),
        max_step_bytes: opts.max_step_bytes,
        shared: shared.clone(),
    });
    // Serve the held note at once (the stored row when the file does not match), and
    // nothing before the store holds a checkpoint.
    let held = follower.held()?.map(|h| h.note_bytes().to_vec());
    if let Ok(mut g) = shared.served.write() {
        *g = held;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let follow_thread = if evidence_held {
        tracing::error!("this mirror holds evidence that the log forked: not following it");
        None
    } else {
        let (f, stop) = (follower.clone(), stop.clone());
        let poll = opts.poll;
        Some(std::thread::spawn(move || follow_loop(&f, &stop, poll)))
    };

    let state = Arc::new(MirrorHttp {
        store: store.clone(),
        shared,
        from: opts.from.clone(),
    });
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, from = opts.from, "quorate-node mirror listening");
    println!("listening on {addr}");
    {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
    let notify = Arc::new(Notify::new());
    let n2 = notify.clone();
    let limits = crate::config::Config::default().conn_limits();
    let server = tokio::spawn(async move {
        quorate_witness::server::serve(listener, app, limits, async move { n2.notified().await })
            .await
    });
    let sig = crate::server::wait_for_signal().await;
    tracing::info!("received {sig}: shutting down");
    notify.notify_one();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    stop.store(true, Ordering::SeqCst);
    if let Some(t) = follow_thread {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    drop(follower);
    drop(store);
    Ok(())
}

fn follow_loop(f: &Follower, stop: &AtomicBool, poll: Duration) {
    while !stop.load(Ordering::SeqCst) {
        let r = f.round();
        let err = match &r {
            Ok(Round::Grew { from, to }) => {
                tracing::info!(from, to, "verified and stored");
                None
            }
            Ok(Round::Stale { size }) => {
                tracing::warn!(size, "origin serves an older (consistent) checkpoint");
                None
            }
            Ok(Round::Evidence) => {
                tracing::error!(
                    "the log signed two inconsistent checkpoints: evidence stored and served at \
                     /v1/equivocations; no longer following"
                );
                None
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("mirror round failed (retrying): {e}");
                Some(e.to_string())
            }
        };
        if let Ok(mut g) = f.shared.last_error.write() {
            *g = err;
        }
        if matches!(r, Ok(Round::Evidence)) {
            return;
        }
        // Sleep in small steps so shutdown is prompt.
        let mut left = poll;
        while !left.is_zero() && !stop.load(Ordering::SeqCst) {
            let s = left.min(Duration::from_millis(100));
            std::thread::sleep(s);
            left -= s;
        }
    }
}

fn load_evidence(dir: &std::path::Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    names
        .into_iter()
        .take(MAX_EVIDENCE_FILES)
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

struct MirrorHttp {
    store: Arc<Store>,
    shared: Arc<Shared>,
    from: String,
}

type St = Arc<MirrorHttp>;

fn router(state: St) -> Router {
    Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/v1/equivocations", get(equivocations))
        .route("/healthz", get(healthz))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
}

async fn checkpoint(State(st): State<St>) -> Result<Response, ApiError> {
    let note = st.shared.served.read().ok().and_then(|g| g.clone());
    match note {
        Some(n) => Ok((
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            n,
        )
            .into_response()),
        None => Err(ApiError::not_found(
            "this mirror has not verified a checkpoint of the log yet",
        )),
    }
}

async fn tile(
    State(st): State<St>,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    tile_response(st.store.clone(), path, &headers).await
}

async fn equivocations(State(st): State<St>) -> Response {
    let list = st
        .shared
        .evidence
        .read()
        .map(|g| g.clone())
        .unwrap_or_default();
    axum::Json(list).into_response()
}

async fn healthz(State(st): State<St>) -> Response {
    let size = st.store.size().unwrap_or(0);
    let evidence = st.shared.evidence.read().map(|g| g.len()).unwrap_or(0);
    let last_error = st.shared.last_error.read().ok().and_then(|g| g.clone());
    let status = if evidence > 0 { "evidence" } else { "ok" };
    axum::Json(serde_json::json!({
        "status": status,
        "size": size,
        "from": st.from,
        "evidence": evidence,
        "last_error": last_error,
    }))
    .into_response()
}
