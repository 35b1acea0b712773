//! `quorate-node serve`: wires store, sequencer, reviewer list and HTTP API together and
//! shuts down gracefully on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::api::{AppState, router_with};
use crate::config::Config;
use crate::datadir::DataDir;
use crate::federation::Federation;
use crate::metrics::Metrics;
use crate::reviewers::ReviewerWatch;
use crate::sequencer::Sequencer;

/// Runs the node until SIGTERM/SIGINT: stop accepting, let in-flight requests finish
/// (at most `shutdown_grace_ms`), drain the sequencer, close the store.
///
/// Prints `listening on ADDR` on stdout once the socket is bound.
pub async fn serve(data: DataDir, config: Config) -> anyhow::Result<()> {
    serve_with(data, config, Reload::default())
        .await
        .map(|_| ())
}

/// SIGHUP handling for [`serve_with`] (see [`crate::reload`]).
#[derive(Default)]
pub struct Reload {
    /// A listening socket handed over by the previous image of this process.
    pub inherited: Option<std::net::TcpListener>,
    /// Validates the configuration to reload; `None`: SIGHUP is ignored (logged).
    pub check: Option<Box<dyn Fn() -> anyhow::Result<()> + Send + Sync>>,
}

/// How [`serve_with`] ended.
#[derive(Debug)]
pub enum Exit {
    /// SIGTERM/SIGINT (or the server stopped): the process should exit.
    Stopped,
    /// SIGHUP with a valid configuration: everything is closed except this listening
    /// socket, to hand to [`crate::reload::reexec`].
    Reload(std::os::fd::OwnedFd),
}

/// As [`serve`], and on SIGHUP (when `reload.check` accepts the configuration) shuts down
/// as on SIGTERM but returns [`Exit::Reload`] with the listening socket kept open.
pub async fn serve_with(data: DataDir, config: Config, reload: Reload) -> anyhow::Result<Exit> {
    let key = data.load_key()?;
    let origin = key.origin().to_owned();
    let log_verifier = key.signer().verifier();
    let log_vkey = log_verifier.vkey();
    let d = data.clone();
    let cache = config.store_cache_bytes();
    let store = Arc::new(
        tokio::task::spawn_blocking(move || d.open_store_with_cache(cache))
            .await
            .context("opening the store")??,
    );
    let size = store.size()?;
    let backups =
        crate::backup::BackupSocket::start(crate::backup::socket_path(&data), store.clone())?;
    let reviewers = Arc::new(ReviewerWatch::open(data.reviewers_path())?);
    let seq = Arc::new(
        Sequencer::start(store.clone(), key, config.sequencer())
            .map_err(|e| anyhow::anyhow!("starting the sequencer: {e}"))?,
    );
    let metrics = Arc::new(Metrics::default());
    let mut state = AppState::new(
        store.clone(),
        seq.clone(),
        reviewers.clone(),
        &config,
        metrics,
    );
    let mut federation = None;
    let mut witness_router = None;
    let mut fed_shared = None;
    if config.gossip.is_some() || !config.external_witness.is_empty() {
        let started = Federation::start(
            data.clone(),
            &config,
            store.clone(),
            log_verifier,
            Some(seq.committed()),
        )
        .await
        .context("starting the federation")?;
        fed_shared = Some(started.shared.clone());
        state = state.with_federation(started.shared.clone());
        witness_router = Some(started.witness_router);
        federation = Some(started.federation);
    }
    if let Some(ms) = config.healthz_max_age_ms {
        state = state.with_freshness(crate::health::watch(
            Duration::from_millis(ms),
            seq.committed(),
            fed_shared.as_deref(),
        ));
    }
    let pages = crate::web::WebCtx::start(
        store.clone(),
        origin.clone(),
        log_vkey,
        data.reviewers_path(),
        fed_shared.zip(federation.as_ref().map(Federation::view)),
    );
    state = state.with_web(crate::web::router(pages));
    // The bucket is configured before the socket is bound, so a bad URL or environment
    // stops the node at start rather than being retried for ever.
    let publisher = match &config.publish_s3_url {
        Some(url) => Some(crate::publish::Publisher::start(
            crate::publish::Bucket::from_url(url)?,
            store.clone(),
            state.federation(),
            seq.committed(),
            data.root().join("publish-s3.json"),
        )),
        None => None,
    };
    let state = Arc::new(state);
    let app = router_with(state.clone(), &config, witness_router);
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(
            quorate_witness::tls::server_config(c, k).context("loading tls_cert and tls_key")?,
        ),
        _ => None,
    };
    let listener = match reload.inherited {
        Some(l) => TcpListener::from_std(l).context("adopting the inherited socket")?,
        None => TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?,
    };
    let addr = listener.local_addr()?;
    // A duplicate of the socket outlives the server loop, for a reload to hand over.
    let kept = {
        use std::os::fd::AsFd as _;
        listener.as_fd().try_clone_to_owned()?
    };
    tracing::info!(
        %addr,
        origin,
        size,
        reviewers = reviewers.current().len(),
        tls = tls.is_some(),
        "quorate-node listening"
    );
    println!("listening on {addr}");
    if let Some(f) = &federation {
        tracing::info!(peer_id = f.peer_id(), addrs = ?f.listen_addrs(), "gossip listening");
        for a in f.listen_addrs() {
            println!("gossip listening on {a}");
        }
    }
    {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }

    let stop = Arc::new(Notify::new());
    let stop2 = stop.clone();
    let limits = config.conn_limits();
    let mut server = tokio::spawn(async move {
        quorate_witness::server::serve_tls(listener, app, limits, tls, async move {
            stop2.notified().await
        })
        .await
    });
    let mut exit = Exit::Stopped;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("listening for SIGHUP")?;
    loop {
        tokio::select! {
            r = &mut server => {
                r.context("server task")?;
                break;
            }
            Some(()) = hup.recv() => {
                let Some(check) = &reload.check else {
                    tracing::warn!("SIGHUP: reload is not available here; ignored");
                    continue;
                };
                if let Err(e) = check() {
                    tracing::error!("SIGHUP: the new configuration is refused, the node keeps running as it was: {e:#}");
                    continue;
                }
                tracing::info!("SIGHUP: configuration valid; restarting in place (state and socket kept)");
                exit = Exit::Reload(kept.try_clone()?);
                state.begin_shutdown();
                stop.notify_one();
                let grace = Duration::from_millis(config.shutdown_grace_ms);
                if tokio::time::timeout(grace, &mut server).await.is_err() {
                    tracing::warn!("in-flight requests did not finish within {grace:?}; closing");
                    server.abort();
                }
                break;
            }
            sig = wait_for_signal() => {
            tracing::info!("received {sig}: shutting down");
            state.begin_shutdown();
            stop.notify_one();
            let grace = Duration::from_millis(config.shutdown_grace_ms);
            match tokio::time::timeout(grace, &mut server).await {
                Ok(r) => r.context("server task")?,
                Err(_) => {
                    tracing::warn!("in-flight requests did not finish within {grace:?}; closing");
                    server.abort();
                }
            }
            break;
        }
        }
    }
    drop(kept);
    if let Some(f) = federation {
        f.shutdown().await;
    }
    if let Some(p) = publisher {
        p.shutdown().await;
    }
    backups.stop();
    tracing::info!("draining the sequencer");
    seq.shutdown().await;
    drop(state);
    drop(seq);
    let size = store.size()?;
    drop(store);
    tracing::info!(size, "store closed; bye");
    Ok(exit)
}

pub(crate) async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
