//! `GET /federation`: every peer log this node witnesses (latest size, what this node's
//! witness last cosigned and when, evidence held), every witness of this log, and the
//! picture of who witnesses whom and how fresh it is (`GET /federation.svg`, also inline).
//!
//! Freshness comes from cosignature timestamps that verify on each log's latest known
//! checkpoint (the federation re-verifies them for every view, [`FedView::logs`]).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::svg::{self, Edge, Freshness, Vertex};
use super::{Ctx, Nav, PageError, fmt_age, html_response, layout, now, raw, svg_response};
use super::{time_with_age, with_snapshot};
use crate::federation::{FedView, LogInfo, WitnessInfo, WitnessOperator};

/// Everything the page and the picture show.
struct View {
    logs: Vec<LogInfo>,
    witnesses: Vec<WitnessInfo>,
}

async fn load(ctx: &Ctx) -> Result<Option<View>, Response> {
    with_snapshot(ctx, |c, snap| {
        let Some(f) = &c.fed else {
            return Ok::<_, PageError>(None);
        };
        let own = c.newest_checkpoint(&snap)?;
        Ok(Some(collect(f, own)))
    })
    .await
}

fn collect(f: &FedView, own: (u64, Vec<u8>)) -> View {
    View {
        logs: f.logs(Some(own)),
        witnesses: f.witnesses(),
    }
}

/// The graph's vertices (logs, then external witnesses) and edges.
fn graph_of(v: &View, now: u64) -> (Vec<Vertex>, Vec<Edge>) {
    let mut vertices: Vec<Vertex> = v
        .logs
        .iter()
        .map(|l| Vertex {
            label: l.origin.clone(),
            own: l.own,
            external: false,
            equivocating: l.equivocating || l.evidence > 0,
            size: l.latest.as_ref().map(|x| x.0),
        })
        .collect();
    let mut ext_urls: Vec<&str> = Vec::new();
    for w in &v.witnesses {
        if let WitnessOperator::External(url) = &w.operator {
            ext_urls.push(url);
            vertices.push(Vertex {
                label: w.name.clone(),
                own: false,
                external: true,
                equivocating: false,
                size: None,
            });
        }
    }
    let vertex_of_witness = |name: &str| -> Option<usize> {
        let w = v.witnesses.iter().find(|w| w.name == name)?;
        match &w.operator {
            WitnessOperator::Log(origin) => v.logs.iter().position(|l| &l.origin == origin),
            WitnessOperator::External(url) => ext_urls
                .iter()
                .position(|u| u == url)
                .map(|k| v.logs.len() + k),
        }
    };
    let mut edges = Vec::new();
    let mut seen: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (to, l) in v.logs.iter().enumerate() {
        for c in &l.cosignatures {
            let Some(from) = vertex_of_witness(&c.witness) else {
                continue;
            };
            if from == to || !seen.insert((from, to)) {
                continue;
            }
            edges.push(Edge {
                from,
                to,
                age: Some(now.saturating_sub(c.timestamp)),
            });
        }
    }
    // This node's own witness knows when it last cosigned each peer (the copy of a
    // peer's checkpoint heard over gossip may carry an older cosignature of ours).
    let own = v.logs.iter().position(|l| l.own);
    if let Some(own) = own {
        for (to, l) in v.logs.iter().enumerate() {
            let Some(at) = l.witnessed_at else { continue };
            let age = now.saturating_sub(at);
            match edges.iter_mut().find(|e| e.from == own && e.to == to) {
                Some(e) => e.age = Some(e.age.map_or(age, |a| a.min(age))),
                None => {
                    seen.insert((own, to));
                    edges.push(Edge {
                        from: own,
                        to,
                        age: Some(age),
                    });
                }
            }
        }
    }
    // Configured relations with no cosignature seen: this node's witness follows every
    // peer; every peer and external witness is asked to cosign this log.
    if let Some(own) = own {
        for i in 0..vertices.len() {
            if i == own {
                continue;
            }
            if i < v.logs.len() && seen.insert((own, i)) {
                edges.push(Edge {
                    from: own,
                    to: i,
                    age: None,
                });
            }
            if seen.insert((i, own)) {
                edges.push(Edge {
                    from: i,
                    to: own,
                    age: None,
                });
            }
        }
    }
    (vertices, edges)
}

fn standalone(ctx: &Ctx) -> (Vec<Vertex>, Vec<Edge>) {
    (
        vec![Vertex {
            label: ctx.origin.clone(),
            own: true,
            external: false,
            equivocating: false,
            size: None,
        }],
        Vec::new(),
    )
}

pub(crate) async fn svg(State(ctx): State<Ctx>) -> Response {
    let (vertices, edges) = match load(&ctx).await {
        Ok(Some(v)) => graph_of(&v, now()),
        Ok(None) => standalone(&ctx),
        Err(r) => return r,
    };
    svg_response(svg::graph(&vertices, &edges))
}

pub(crate) async fn page(State(ctx): State<Ctx>) -> Response {
    let view = match load(&ctx).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = now();
    let Some(view) = view else {
        let (v, e) = standalone(&ctx);
        let content = html! {
            p #standalone { "This node runs a standalone log: it has no " code { "[gossip]" }
                " peers and no external witnesses configured, so it witnesses no other log." }
            figure { (raw(svg::graph(&v, &e))) }
        };
        return html_response(
            StatusCode::OK,
            layout(&ctx, Nav::Federation, "Federation", content),
        );
    };
    let (vertices, edges) = graph_of(&view, t);
    let own_witness = view
        .witnesses
        .first()
        .map(|w| w.name.clone())
        .unwrap_or_default();
    let content = html! {
        figure #graph {
            (raw(svg::graph(&vertices, &edges)))
            figcaption { "Who witnesses whom. Arrows go from a witness to the log it cosigned, coloured by the age of the newest cosignature seen on that log's latest checkpoint. Also at "
                a href="/federation.svg" { code { "/federation.svg" } } "." }
        }
        h2 { "Logs" }
        table #logs {
            thead { tr { th { "Log" } th { "Latest size" } th { "Witnessed here" } th { "Cosignatures on its latest checkpoint" } th { "Evidence" } } }
            tbody { @for l in &view.logs {
                tr.log data-origin=(l.origin) data-own=(l.own) {
                    td { code { (l.origin) } @if l.own { " (this log)" } }
                    td.size { @match &l.latest { Some((s, _)) => (s), None => "unknown" } }
                    td.witnessed {
                        @if l.own { "—" } @else {
                            @match l.witnessed_size { Some(s) => { "size " (s) }, None => "not yet" }
                            @if let Some(at) = l.witnessed_at.or_else(|| l.cosignatures.iter().find(|c| c.witness == own_witness).map(|c| c.timestamp)) {
                                br; "last cosigned " span.age data-ts=(at) { (fmt_age(at, t)) } " ago"
                            }
                        }
                    }
                    td { @if l.cosignatures.is_empty() { "none seen" } @else { ul.cosigs { @for c in &l.cosignatures {
                        li class=(Freshness::of(Some(t.saturating_sub(c.timestamp))).class()) { code { (c.witness) } " " (time_with_age(c.timestamp, t)) }
                    } } } }
                    td.evidence { @if l.equivocating || l.evidence > 0 {
                        strong.alert { (l.evidence) " item(s): this log forked" } " (" a href="/v1/equivocations" { "evidence" } ")"
                    } @else { "none" } }
                }
            } }
        }
        h2 { "Witnesses" }
        table #witnesses {
            thead { tr { th { "Witness" } th { "Run by" } th { "Key" } } }
            tbody { @for w in &view.witnesses {
                tr.witness {
                    td { code { (w.name) } }
                    td { @match &w.operator {
                        WitnessOperator::Log(o) => { "the node of " code { (o) } },
                        WitnessOperator::External(u) => { "external witness at " code { (u) } },
                    } }
                    td { code.vkey { (w.vkey) } }
                }
            } }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&ctx, Nav::Federation, "Federation", content),
    )
}
