//! `GET /reviewers`: the registered reviewer keys and what each has logged (and keys that
//! logged entries but are no longer registered); `GET /reviewers/{key}`: one key's
//! entries, newest first. Keys are named by the hex of their raw Ed25519 public key, as
//! attestations carry it.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::card::{CardData, cards};
use super::{
    Ctx, Nav, PageError, fmt_date, hex, html_response, layout, opt_u64, page_limit, parse_hex32,
    with_snapshot,
};
use crate::reviewers::{ReviewerKey, read_list};

/// One row of the reviewers table.
struct Row {
    key: [u8; 32],
    vkey: Option<String>,
    name: String,
    organisation: String,
    entries: usize,
    last_time: Option<u64>,
}

pub(crate) async fn page(
    State(ctx): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let parsed = (|| {
        let limit = page_limit(q.get("limit").map(String::as_str))?;
        let skip = opt_u64(q.get("skip").map(String::as_str), "skip")?.unwrap_or(0);
        Ok::<_, PageError>((limit, skip))
    })();
    let (limit, skip) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_page(&ctx),
    };
    let data = with_snapshot(&ctx, move |c, _snap| {
        let keys: Vec<ReviewerKey> = read_list(&c.reviewers_path)
            .map_err(|e| PageError::Internal(format!("reading the reviewer list: {e:#}")))?;
        let registered: HashSet<[u8; 32]> = keys.iter().map(|k| k.public_key).collect();
        let total = keys.len();
        let rows: Vec<Row> = keys
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(limit)
            .map(|k| {
                let s = c.index.reviewer_summary(&k.public_key);
                Row {
                    key: k.public_key,
                    name: k.name,
                    vkey: Some(k.vkey),
                    organisation: s.as_ref().map(|s| s.2.clone()).unwrap_or_default(),
                    entries: s.as_ref().map_or(0, |s| s.0),
                    last_time: s.map(|s| s.3),
                }
            })
            .collect();
        // Keys that logged entries but are not registered now (removed since).
        let former: Vec<Row> = c
            .index
            .reviewer_keys()
            .into_iter()
            .filter(|(k, ..)| !registered.contains(k))
            .take(super::MAX_PAGE)
            .map(|(key, entries, name, organisation)| Row {
                key,
                vkey: None,
                name,
                organisation,
                entries,
                last_time: None,
            })
            .collect();
        Ok::<_, PageError>((rows, total, former))
    })
    .await;
    let (rows, total, former) = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let shown_end = skip.saturating_add(rows.len() as u64);
    let table = |rows: &[Row], id: &str| {
        html! {
            table id=(id) {
                thead { tr { th { "Reviewer" } th { "Organisation" } th { "Entries logged" } th { "Latest review" } th { "Key" } } }
                tbody { @for r in rows {
                    tr.reviewer data-key=(hex(&r.key)) {
                        td { a href={"/reviewers/" (hex(&r.key))} { (r.name) } }
                        td { (r.organisation) }
                        td.count { (r.entries) }
                        td { @if let Some(t) = r.last_time { (fmt_date(t)) } }
                        td { @match &r.vkey { Some(v) => code.vkey { (v) }, None => code { (hex(&r.key)) } } }
                    }
                } }
            }
        }
    };
    let content = html! {
        p { (total) " reviewer key(s) may log entries here (the node's " code { "reviewers.txt" } ")." }
        @if rows.is_empty() { p.empty { "No registered reviewer on this page." } } @else { (table(&rows, "reviewers")) }
        @if shown_end < total as u64 {
            p.pager { a rel="next" href={"/reviewers?skip=" (shown_end) "&limit=" (limit)} { "More reviewers" } }
        }
        @if !former.is_empty() {
            h2 { "No longer registered" }
            p { "These keys logged entries and have since been removed from the list; their entries stay in the log." }
            (table(&former, "former-reviewers"))
        }
    };
    html_response(
        StatusCode::OK,
        layout(&ctx, Nav::Reviewers, "Reviewers", content),
    )
}

pub(crate) async fn reviewer_page(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let parsed = (|| {
        let k = parse_hex32(&key).ok_or_else(|| {
            PageError::BadRequest(format!(
                "reviewer key {key:?} is not 64 hex digits (a raw Ed25519 public key)"
            ))
        })?;
        let limit = page_limit(q.get("limit").map(String::as_str))?;
        let before = opt_u64(q.get("before").map(String::as_str), "before")?;
        Ok::<_, PageError>((k, limit, before))
    })();
    let (k, limit, before) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_page(&ctx),
    };
    let data = with_snapshot(&ctx, move |c, snap| {
        let vkey = read_list(&c.reviewers_path)
            .ok()
            .and_then(|l| l.into_iter().find(|r| r.public_key == k))
            .map(|r| r.vkey);
        let summary = c.index.reviewer_summary(&k);
        let (page, older) = c.index.reviewer_page(&k, before, limit);
        let list = page
            .into_iter()
            .map(|i| CardData::load(&snap, &c.index, i))
            .collect::<Result<Vec<_>, _>>()?;
        if vkey.is_none() && summary.is_none() {
            return Err(PageError::NotFound(format!(
                "no registered reviewer key {} and no entry logged by it",
                hex(&k)
            )));
        }
        Ok((vkey, summary, list, older))
    })
    .await;
    let (vkey, summary, list, older) = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let name = summary
        .as_ref()
        .map(|s| s.1.clone())
        .or_else(|| {
            vkey.as_ref()
                .and_then(|v| v.split('+').next().map(str::to_owned))
        })
        .unwrap_or_default();
    let title = format!("Reviewer {name}");
    let content = html! {
        dl {
            dt { "Key" } dd { code { (hex(&k)) } }
            dt { "Registered" } dd #registered { @match &vkey { Some(v) => { "yes: " code.vkey { (v) } }, None => "no (removed, or never registered here)" } }
            @if let Some(s) = &summary {
                dt { "Organisation" } dd { (s.2) }
                dt { "Entries logged" } dd #entry-count { (s.0) }
            } @else {
                dt { "Entries logged" } dd #entry-count { "0" }
            }
        }
        h2 { "Entries, newest first" }
        (cards(&list))
        @if let Some(b) = older {
            p.pager { a rel="next" href={"/reviewers/" (hex(&k)) "?before=" (b) "&limit=" (limit)} { "Older entries" } }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&ctx, Nav::Reviewers, &title, content),
    )
}
