//! `GET /reviews`: search by ecosystem / package / version (a GET form, so it works
//! without JavaScript and every result has a URL), and `GET /entry/{index}`.
//!
//! - nothing asked: the newest entries, newest first (`?before=INDEX` pages back);
//! - a package (name prefix), any or one ecosystem: the matching releases with their
//!   entry counts, read from the store's `releases` index by range scan (paged with
//!   `after_ecosystem` / `after_package` / `after_version`);
//! - ecosystem, package and version: that release's entries, oldest first (`from=INDEX`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use quorate_proto::attestation::Ecosystem;

use super::card::{CardData, card, cards};
use super::{Ctx, Nav, PageError, html_response, layout, opt_u64, page_limit, with_snapshot};
use crate::store::{ReleaseRow, Snapshot};

/// Longest search field accepted (bytes); longer input cannot match a valid name.
const MAX_FIELD: usize = 512;

/// The search as asked, after normalisation.
#[derive(Debug, Clone, Default)]
struct Search {
    ecosystem: Option<Ecosystem>,
    package: String,
    version: String,
}

fn field<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str, PageError> {
    let v = q.get(name).map_or("", |s| s.trim());
    if v.len() > MAX_FIELD {
        return Err(PageError::BadRequest(format!(
            "{name} is {} bytes, longer than any name ({MAX_FIELD})",
            v.len()
        )));
    }
    Ok(v)
}

fn parse_search(q: &HashMap<String, String>) -> Result<Search, PageError> {
    let eco = field(q, "ecosystem")?;
    let ecosystem = match eco {
        "" | "any" => None,
        e => Some(
            Ecosystem::from_input(e)
                .map_err(|err| PageError::BadRequest(format!("ecosystem {e:?}: {err}")))?,
        ),
    };
    let raw = field(q, "package")?;
    // A full name is normalised as the log stores it (npm lowercase, PyPI's PEP 503
    // form); a prefix that does not normalise is searched as typed.
    let package = match ecosystem {
        Some(e) if !raw.is_empty() => e.normalise_name(raw).unwrap_or_else(|_| raw.to_owned()),
        _ => raw.to_owned(),
    };
    let version = field(q, "version")?.to_owned();
    if !version.is_empty() && (package.is_empty() || ecosystem.is_none()) {
        return Err(PageError::BadRequest(
            "a version needs an ecosystem and a package".into(),
        ));
    }
    Ok(Search {
        ecosystem,
        package,
        version,
    })
}

fn form(s: &Search) -> Markup {
    let selected = |e: Option<Ecosystem>| s.ecosystem == e;
    html! {
        form.search method="get" action="/reviews" role="search" {
            label { "Ecosystem "
                select name="ecosystem" {
                    option value="any" selected[selected(None)] { "any" }
                    @for e in Ecosystem::ALL {
                        option value=(e.as_str()) selected[selected(Some(e))] { (e.as_str()) }
                    }
                }
            }
            label { "Package " input type="search" name="package" value=(s.package) placeholder="name or prefix" maxlength=(MAX_FIELD); }
            label { "Version " input type="text" name="version" value=(s.version) placeholder="exact version" maxlength=(MAX_FIELD); }
            button type="submit" { "Search" }
        }
    }
}

/// What the page shows below the form.
enum Results {
    Latest {
        cards: Vec<CardData>,
        older: Option<u64>,
    },
    Releases {
        rows: Vec<ReleaseRow>,
        more: Option<ReleaseRow>,
    },
    Release {
        cards: Vec<CardData>,
        next: Option<u64>,
    },
}

fn latest(
    c: &super::WebCtx,
    snap: &Snapshot,
    before: Option<u64>,
    limit: usize,
) -> Result<Results, PageError> {
    let end = before.unwrap_or(u64::MAX).min(snap.size());
    let start = end.saturating_sub(limit as u64);
    let mut list = Vec::with_capacity((end - start) as usize);
    for i in (start..end).rev() {
        list.push(CardData::load(snap, &c.index, i)?);
    }
    Ok(Results::Latest {
        cards: list,
        older: (start > 0).then_some(start),
    })
}

fn releases(
    snap: &Snapshot,
    s: &Search,
    q: &HashMap<String, String>,
    limit: usize,
) -> Result<Results, PageError> {
    let after_eco = field(q, "after_ecosystem")?;
    let after_pkg = field(q, "after_package")?;
    let after_ver = field(q, "after_version")?;
    let ecos: Vec<Ecosystem> = match s.ecosystem {
        Some(e) => vec![e],
        None => Ecosystem::ALL.to_vec(),
    };
    // Resume after the last release shown: skip ecosystems before it.
    let resume = ecos.iter().position(|e| e.as_str() == after_eco);
    let mut rows: Vec<ReleaseRow> = Vec::new();
    for (k, e) in ecos.iter().enumerate() {
        if resume.is_some_and(|r| k < r) {
            continue;
        }
        let after = (resume == Some(k)).then_some((after_pkg, after_ver));
        let want = limit + 1 - rows.len();
        let (found, _) = snap.search_releases(e.as_str(), &s.package, false, after, want)?;
        rows.extend(found);
        if rows.len() > limit {
            break;
        }
    }
    // One row beyond the page says more follow; the next page resumes after the last
    // row shown.
    let more = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().cloned()
    } else {
        None
    };
    Ok(Results::Releases { rows, more })
}

fn release(
    c: &super::WebCtx,
    snap: &Snapshot,
    s: &Search,
    from: u64,
    limit: usize,
) -> Result<Results, PageError> {
    let eco = s.ecosystem.map_or("", |e| e.as_str());
    let (page, next) = snap.lookup_package_page(eco, &s.package, &s.version, from, limit)?;
    let list = page
        .into_iter()
        .map(|i| CardData::load(snap, &c.index, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Results::Release { cards: list, next })
}

fn qs(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&percent(v));
    }
    out
}

/// Percent-encodes a query value (everything but unreserved characters).
fn percent(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

pub(crate) async fn page(
    State(ctx): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let parsed = (|| {
        let s = parse_search(&q)?;
        let limit = page_limit(q.get("limit").map(String::as_str))?;
        let from = opt_u64(q.get("from").map(String::as_str), "from")?.unwrap_or(0);
        let before = opt_u64(q.get("before").map(String::as_str), "before")?;
        Ok::<_, PageError>((s, limit, from, before))
    })();
    let (s, limit, from, before) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_page(&ctx),
    };
    let s2 = s.clone();
    let results = with_snapshot(&ctx, move |c, snap| {
        if !s2.version.is_empty() {
            release(c, &snap, &s2, from, limit)
        } else if !s2.package.is_empty() || s2.ecosystem.is_some() {
            releases(&snap, &s2, &q, limit)
        } else {
            latest(c, &snap, before, limit)
        }
    })
    .await;
    let results = match results {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let eco = s.ecosystem.map_or("", |e| e.as_str());
    let limit_s = if limit == super::PAGE {
        String::new()
    } else {
        limit.to_string()
    };
    let content = html! {
        (form(&s))
        @match &results {
            Results::Latest { cards: list, older } => {
                h2 { "Newest entries" }
                (cards(list))
                @if let Some(b) = older {
                    p.pager { a rel="next" href={"/reviews" (qs(&[("before", &b.to_string()), ("limit", &limit_s)]))} { "Older entries" } }
                }
            }
            Results::Releases { rows, more } => {
                h2 { "Releases" }
                @if rows.is_empty() {
                    p.empty { "No release matches." }
                } @else {
                    table #releases {
                        thead { tr { th { "Ecosystem" } th { "Package" } th { "Version" } th { "Entries" } } }
                        tbody { @for r in rows {
                            tr.release {
                                td { (r.ecosystem) }
                                td.package { (r.package) }
                                td { a href={"/reviews" (qs(&[("ecosystem", &r.ecosystem), ("package", &r.package), ("version", &r.version)]))} { (r.version) } }
                                td { (r.entries) }
                            }
                        } }
                    }
                }
                @if let Some(last) = more {
                    p.pager { a rel="next" href={"/reviews" (qs(&[("ecosystem", eco), ("package", &s.package), ("after_ecosystem", &last.ecosystem), ("after_package", &last.package), ("after_version", &last.version), ("limit", &limit_s)]))} { "More releases" } }
                }
            }
            Results::Release { cards: list, next } => {
                h2 { (eco) "/" (s.package) " " (s.version) }
                p { "JSON with inclusion proofs: "
                    a href={"/v1/reviews/" (eco) "/" (s.package) "/" (s.version)} { code { "/v1/reviews/…" } }
                    "; offline bundle: "
                    a href={"/v1/bundle/" (eco) "/" (s.package) "/" (s.version)} { code { "/v1/bundle/…" } } }
                (cards(list))
                @if let Some(n) = next {
                    p.pager { a rel="next" href={"/reviews" (qs(&[("ecosystem", eco), ("package", &s.package), ("version", &s.version), ("from", &n.to_string()), ("limit", &limit_s)]))} { "More entries" } }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&ctx, Nav::Reviews, "Reviews", content),
    )
}

/// `GET /entry/{index}`: one entry.
pub(crate) async fn entry_page(State(ctx): State<Ctx>, Path(index): Path<String>) -> Response {
    let index = match index.parse::<u64>() {
        Ok(i) => i,
        Err(_) => {
            return PageError::BadRequest(format!(
                "entry index {index:?} is not a non-negative integer"
            ))
            .into_page(&ctx);
        }
    };
    let d = match with_snapshot(&ctx, move |c, snap| {
        CardData::load(&snap, &c.index, index).map_err(PageError::from)
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let title = format!("Entry {index}");
    html_response(
        StatusCode::OK,
        layout(&ctx, Nav::Reviews, &title, html! { (card(&d)) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_encoded() {
        assert_eq!(
            qs(&[("package", "@s/p q&x"), ("version", ""), ("from", "3")]),
            "?package=%40s%2Fp%20q%26x&from=3"
        );
    }

    #[test]
    fn a_version_alone_is_refused_with_a_reason() {
        let mut q = HashMap::new();
        q.insert("version".to_owned(), "1.0.0".to_owned());
        let e = parse_search(&q).unwrap_err();
        assert!(e.to_string().contains("needs an ecosystem and a package"));
        q.insert("ecosystem".to_owned(), "nope".to_owned());
        assert!(parse_search(&q).unwrap_err().to_string().contains("nope"));
    }
}
