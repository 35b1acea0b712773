//! `GET /v1/proof/entry/{index}`: the inclusion proof of one entry as a C2SP
//! `c2sp.org/tlog-proof@v1` text, against the checkpoint `GET /checkpoint` serves (with
//! its cosignatures) when that covers the entry, else against the newest signed one.
//! Anyone can check it with the log's vkey (and the witnesses' vkeys) and the entry
//! bytes alone, e.g. `quorate verify-proof` or any tlog-proof verifier.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use quorate_proto::merkle;

use super::Ctx;
use crate::api::format_tlog_proof;
use crate::store::StoreError;

fn json_error(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) async fn entry_proof(State(ctx): State<Ctx>, Path(index): Path<String>) -> Response {
    let Ok(index) = index.parse::<u64>() else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_index",
            format!("entry index {index:?} is not a non-negative integer"),
        );
    };
    let c = ctx.clone();
    let r = tokio::task::spawn_blocking(move || -> Result<String, StoreError> {
        let snap = c.store.snapshot()?;
        if index >= snap.size() {
            return Err(StoreError::OutOfRange {
                what: format!("entry {index}"),
                size: snap.size(),
            });
        }
        let (mut size, mut note) = c.served_checkpoint(&snap)?;
        // A checkpoint served after this snapshot was taken is newer than the snapshot.
        if index >= size || size > snap.size() {
            (size, note) = c.newest_checkpoint(&snap)?;
        }
        let proof = merkle::prove_record(size, index, &snap).map_err(|e| StoreError::Corrupt {
            table: "hashes",
            key: format!("proof of {index} in {size}"),
            reason: e.to_string(),
        })?;
        let note = String::from_utf8_lossy(&note).into_owned();
        Ok(format_tlog_proof(index, &proof, &note))
    })
    .await;
    match r {
        Ok(Ok(text)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            text,
        )
            .into_response(),
        Ok(Err(e @ StoreError::OutOfRange { .. })) => {
            json_error(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        Ok(Err(e)) => {
            tracing::error!("inclusion proof: {e}");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}
