//! One logged attestation as an HTML card: every field a reader needs to judge it, its
//! withdrawn/replaced state, its index and a link to its inclusion proof.
//!
//! Every string here comes from a reviewer's signed payload: maud escapes it, and links
//! are made only of `http(s)` URLs ([`super::safe_link`]).

use maud::{Markup, html};
use quorate_proto::attestation::{Attestation, Evidence, Scope, SupersedeKind, Verdict};

use super::index::{Supersession, WebIndex, decode_entry};
use super::{b64, fmt_time, hex, safe_link};
use crate::store::{Snapshot, StoreError};

/// What a card shows, read from the store and the index.
#[derive(Debug, Clone)]
pub struct CardData {
    pub index: u64,
    pub leaf: [u8; 32],
    /// `None` if the entry does not decode (never for entries this node admitted).
    pub attestation: Option<Attestation>,
    /// A later entry by the same reviewer key that withdrew or replaced this one.
    pub superseded: Option<Supersession>,
    /// The index of the entry this one withdraws or replaces, if it is in this log.
    pub supersedes_index: Option<u64>,
}

impl CardData {
    /// Reads entry `index` and what the index knows about it.
    pub fn load(snap: &Snapshot, ix: &WebIndex, index: u64) -> Result<CardData, StoreError> {
        let entry = snap.entry(index)?;
        let leaf = quorate_proto::merkle::leaf_hash(&entry);
        let attestation = decode_entry(&entry);
        let superseded = attestation
            .as_ref()
            .and_then(|a| ix.superseded(&leaf, &a.reviewer.public_key));
        let supersedes_index = match attestation.as_ref().and_then(|a| a.supersedes.as_ref()) {
            Some(s) => snap.lookup_leaf(&s.leaf_hash)?,
            None => None,
        };
        Ok(CardData {
            index,
            leaf,
            attestation,
            superseded,
            supersedes_index,
        })
    }
}

fn verdict(v: &Verdict) -> Markup {
    match v {
        Verdict::Certify => html! { span.verdict.certify { "certify" } },
        Verdict::Violation { range } => {
            html! { span.verdict.violation { "violation" } " of versions " code { (range) } }
        }
        Verdict::Informational => html! { span.verdict.info { "informational" } },
        Verdict::Sealed { commitment } => {
            html! { span.verdict.sealed { "sealed commitment" } " " code { (hex(commitment)) } }
        }
    }
}

fn supersede_word(k: SupersedeKind) -> &'static str {
    match k {
        SupersedeKind::Withdraw => "withdrawn",
        SupersedeKind::Replace => "replaced",
    }
}

fn evidence_kind(e: &Evidence) -> &'static str {
    e.kind().as_str()
}

/// The card of one entry.
pub fn card(d: &CardData) -> Markup {
    let id = format!("entry-{}", d.index);
    let Some(a) = &d.attestation else {
        return html! {
            article.card id=(id) data-index=(d.index) {
                h3 { a href={"/entry/" (d.index)} { "Entry " (d.index) } }
                p.error { "This entry does not decode as a review attestation." }
                (proof_links(d))
            }
        };
    };
    let state_class = match d.superseded {
        Some(s) => supersede_word(s.kind),
        None => "current",
    };
    html! {
        article.card id=(id) data-index=(d.index) data-state=(state_class) {
            h3 {
                a href={"/entry/" (d.index)} { "#" (d.index) } " "
                span.package { (a.ecosystem) "/" (a.package) } " "
                span.version { (a.version) }
            }
            @if let Some(s) = d.superseded {
                p.state.superseded role="status" {
                    "This review was " strong { (supersede_word(s.kind)) }
                    " by its reviewer in entry "
                    a href={"/entry/" (s.by)} { "#" (s.by) } "."
                }
            }
            dl {
                dt { "Reviewer" }
                dd.reviewer {
                    a href={"/reviewers/" (hex(&a.reviewer.public_key))} { (a.reviewer.name) }
                    " (" (a.reviewer.kind.as_str()) ")"
                }
                @if !a.organisation.is_empty() {
                    dt { "Organisation" }
                    dd.organisation { (a.organisation) }
                }
                dt { "Verdict" }
                dd { (verdict(&a.verdict)) }
                @if !a.criteria.is_empty() {
                    dt { "Criteria" }
                    dd.criteria { @for (i, c) in a.criteria.iter().enumerate() {
                        @if i > 0 { ", " } code { (c) }
                    } }
                }
                dt { "Digest" }
                dd.digest { code { (a.digest.to_string()) } }
                @for art in &a.artifacts {
                    dt { "Artifact" }
                    dd { code { (art.name) } @for dg in &art.digests { " " code { (dg.to_string()) } } }
                }
                @if let Some(base) = &a.delta_from {
                    dt { "Delta from" }
                    dd { (base.version) " " code { (base.digest.to_string()) } }
                }
                @if let Some(scope) = &a.scope {
                    dt { "Scope" }
                    dd { @match scope {
                        Scope::Full => "full",
                        Scope::Partial { omitted, reason } => {
                            "partial: omitted " @for (i, o) in omitted.iter().enumerate() {
                                @if i > 0 { ", " } code { (o) }
                            } " (" (reason) ")"
                        }
                    } }
                }
                @if let Some(e) = &a.evidence {
                    dt { "Evidence" }
                    dd { (evidence_kind(e)) }
                }
                dt { "Reviewed" }
                dd { time datetime=(a.time) { (fmt_time(a.time)) } " (the reviewer's claim)" }
                @if let Some(s) = &a.supersedes {
                    dt { "Supersedes" }
                    dd.supersedes {
                        (match s.kind { SupersedeKind::Withdraw => "withdraws", SupersedeKind::Replace => "replaces" })
                        " "
                        @match d.supersedes_index {
                            Some(i) => a href={"/entry/" (i)} { "entry #" (i) },
                            None => { "leaf " code { (hex(&s.leaf_hash)) } " (not in this log)" },
                        }
                    }
                }
                @if !a.notes.is_empty() {
                    dt { "Notes" }
                    dd { pre.notes { (a.notes) } }
                }
                @if !a.links.is_empty() {
                    dt { "Links" }
                    dd { ul.links { @for l in &a.links { li {
                        @match safe_link(l) {
                            Some(u) => a href=(u) rel="nofollow noopener noreferrer" { (u) },
                            None => code { (l) },
                        }
                    } } } }
                }
            }
            (proof_links(d))
        }
    }
}

fn proof_links(d: &CardData) -> Markup {
    html! {
        p.proof {
            "Index " strong.index { (d.index) } " · leaf hash " code { (b64(&d.leaf)) } " · "
            a.proof-link href={"/v1/proof/entry/" (d.index)} { "inclusion proof (C2SP tlog-proof)" }
        }
    }
}

/// Cards of `indexes`, or a line saying there are none.
pub fn cards(list: &[CardData]) -> Markup {
    html! {
        @if list.is_empty() {
            p.empty { "No entries." }
        } @else {
            div.cards { @for d in list { (card(d)) } }
        }
    }
}
