//! `GET /`: what this log is (origin, vkeys), its latest checkpoint with each cosigner and
//! the cosignature's age, the evidence status, and links to the raw C2SP read path.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{Ctx, Nav, PageError, b64, html_response, layout, now, time_with_age, with_snapshot};
use crate::federation::LogInfo;

/// The C2SP path of the first tile (hash level 0 or entries) of a tree of `size` entries.
fn first_tile(kind: &str, size: u64) -> String {
    if size >= 256 {
        format!("/tile/{kind}/000")
    } else {
        format!("/tile/{kind}/000.p/{size}")
    }
}

pub(crate) async fn page(State(ctx): State<Ctx>) -> Response {
    let data = with_snapshot(&ctx, |c, snap| {
        let (size, note) = c.served_checkpoint(&snap)?;
        let newest = snap.size();
        let logs: Vec<LogInfo> = c
            .fed
            .as_ref()
            .map(|f| f.logs(Some((size, note.clone()))))
            .unwrap_or_default();
        let witness_vkey = c.fed.as_ref().map(|f| f.own_witness_vkey());
        let evidence_total = c.fed.as_ref().map(|_| {
            logs.iter().fold((0, 0), |(n, e), l| {
                (
                    n + l.evidence,
                    e + u64::from(l.evidence > 0 || l.equivocating),
                )
            })
        });
        let own = logs.into_iter().next();
        Ok::<_, PageError>((
            size,
            note,
            newest,
            own,
            witness_vkey,
            evidence_total,
            snap.root(),
        ))
    })
    .await;
    let (size, note, newest, own, witness_vkey, evidence, root) = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let t = now();
    let note_text = String::from_utf8_lossy(&note).into_owned();
    let indexed = ctx.index.indexed();
    let content = html! {
        section.identity {
            h2 { "This log" }
            dl {
                dt { "Origin" } dd #origin { code { (ctx.origin) } }
                dt { "Log key (vkey)" } dd #vkey { code.vkey { (ctx.log_vkey) } }
                @if let Some(w) = &witness_vkey {
                    dt { "Embedded witness key" } dd #witness-vkey { code.vkey { (w) } }
                }
                dt { "Entries" } dd #size { (newest) }
                dt { "Root of the newest tree" } dd { code { (b64(&root)) } }
            }
        }
        section.checkpoint {
            h2 { "Latest checkpoint" }
            p { "The checkpoint " a href="/checkpoint" { code { "/checkpoint" } }
                " serves: tree size " strong #checkpoint-size { (size) } "."
                @if size < newest { " Newer entries wait for their witnesses' cosignatures." } }
            pre #checkpoint-note { (note_text) }
            @match &own {
                Some(info) => {
                    h3 { "Cosigners" }
                    @if info.cosignatures.is_empty() {
                        p #no-cosigners { "No witness has cosigned this checkpoint yet." }
                    } @else {
                        table #cosigners {
                            thead { tr { th { "Witness" } th { "Cosigned at (age)" } } }
                            tbody { @for c in &info.cosignatures {
                                tr.cosigner { td { code { (c.witness) } } td { (time_with_age(c.timestamp, t)) } }
                            } }
                        }
                    }
                }
                None => p #no-cosigners { "This node runs without witnesses: its checkpoints carry the log's signature only." }
            }
        }
        section.evidence {
            h2 { "Evidence" }
            @match (evidence, &own) {
                (Some((0, _)), Some(info)) if !info.equivocating => {
                    p #evidence-status .ok { "No equivocation evidence is held against any log this node follows." }
                }
                (Some((n, logs)), Some(info)) => {
                    p #evidence-status .alert role="alert" {
                        (n) " item(s) of equivocation evidence held, against " (logs) " log(s)."
                        @if info.equivocating { strong { " This log itself is among them." } }
                        " See " a href="/v1/equivocations" { code { "/v1/equivocations" } } " and the "
                        a href="/federation" { "federation page" } "."
                    }
                }
                _ => p #evidence-status { "This node follows no other log (no federation configured), so it holds no evidence." }
            }
        }
        section.raw {
            h2 { "Raw C2SP read path" }
            ul #raw-links {
                li { a href="/checkpoint" { code { "/checkpoint" } } " — the cosigned checkpoint (tlog-checkpoint)" }
                li { a href="/checkpoint/latest" { code { "/checkpoint/latest" } } " — the newest signed checkpoint" }
                @if newest > 0 {
                    li { a href=(first_tile("0", newest)) { code { (first_tile("0", newest)) } } " — first hash tile (tlog-tiles)" }
                    li { a href=(first_tile("entries", newest)) { code { (first_tile("entries", newest)) } } " — first entry bundle" }
                }
                @if ctx.fed.is_some() {
                    li { a href="/v1/equivocations" { code { "/v1/equivocations" } } " — evidence held" }
                }
                li { a href="/healthz" { code { "/healthz" } } " and " a href="/metrics" { code { "/metrics" } } }
            }
            @if indexed < newest {
                p.note { "The pages' index has read " (indexed) " of " (newest) " entries so far." }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&ctx, Nav::Home, "Quorate log", content),
    )
}
