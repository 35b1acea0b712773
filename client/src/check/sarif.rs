//! `check --format sarif`: SARIF 2.1.0 for code-scanning UIs. One result per entry that
//! fails (rule `quorate/no-quorum`, level error) with its reason, and one per entry that
//! cannot be reviewed (rule `quorate/not-reviewable`, level warning), each located in the
//! lockfile at the entry's line where the format lets us find it.

use serde_json::json;

use super::Report;
use crate::policy::Policy;

pub const NO_QUORUM: &str = "quorate/no-quorum";
pub const NOT_REVIEWABLE: &str = "quorate/not-reviewable";

/// The 1-based line an entry's locator points at in `text`: `line N` as given; an npm
/// install path's key; the Nth `[[package]]`/`[[packages]]` table of a TOML lockfile.
pub fn line_of(text: &str, locator: &str) -> Option<usize> {
    if let Some(n) = locator.strip_prefix("line ") {
        return n.parse().ok();
    }
    if let Some(key) = locator
        .strip_prefix("packages[\"")
        .and_then(|k| k.strip_suffix("\"]"))
    {
        let needle = format!("\"{key}\":");
        return text
            .lines()
            .position(|l| l.trim_start().starts_with(&needle))
            .map(|i| i + 1);
    }
    let n: usize = locator
        .strip_prefix("package #")
        .or_else(|| locator.strip_prefix("packages #"))?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| matches!(l.trim(), "[[package]]" | "[[packages]]"))
        .nth(n.checked_sub(1)?)
        .map(|(i, _)| i + 1)
}

fn location(uri: &str, line: Option<usize>) -> serde_json::Value {
    let mut phys = json!({ "artifactLocation": { "uri": uri } });
    if let Some(l) = line {
        phys["region"] = json!({ "startLine": l });
    }
    json!([{ "physicalLocation": phys }])
}

/// The SARIF log. `uri` names the lockfile as the scanning UI should show it (relative to
/// the repository root); `text` is its content, for line numbers.
pub fn render_sarif(r: &Report, policy: &Policy, uri: &str, text: &str) -> serde_json::Value {
    let mut results = Vec::new();
    for e in r.entries.iter().filter(|e| !e.pass) {
        let purl = e.entry.id.purl();
        let v = e.shown().map(|i| &r.verdicts[i]);
        results.push(json!({
            "ruleId": NO_QUORUM,
            "ruleIndex": 0,
            "level": "error",
            "message": { "text": format!(
                "{purl} lacks a quorum of {} of {} jurisdictions for {}: {}",
                policy.review_quorum().max(1),
                policy.jurisdictions().len(),
                policy.criteria(),
                e.reason.as_deref().unwrap_or("no quorum"),
            )},
            "locations": location(uri, line_of(text, &e.entry.locator)),
            "partialFingerprints": { "purl": purl },
            "properties": {
                "purl": purl,
                "certifiedBy": v.map(|v| v.certified_by.clone()).unwrap_or_default(),
                "missing": v.map(|v| v.missing.iter().map(|m| m.jurisdiction.clone()).collect::<Vec<_>>()).unwrap_or_default(),
                "failedRequirements": v.map(|v| v.failed_requirements().map(ToString::to_string).collect::<Vec<_>>()).unwrap_or_default(),
                "sealedUnrevealed": v.map(|v| v.sealed_unrevealed.len()).unwrap_or_default(),
                "filesCovered": e.covered(),
                "files": e.files.len(),
            },
        }));
    }
    for (e, n) in &r.not_checkable {
        let purl = e.id.purl();
        results.push(json!({
            "ruleId": NOT_REVIEWABLE,
            "ruleIndex": 1,
            "level": "warning",
            "message": { "text": format!("{purl} is not reviewable: {n}") },
            "locations": location(uri, line_of(text, &e.locator)),
            "partialFingerprints": { "purl": purl },
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "quorate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/quorate",
                "rules": [
                    {
                        "id": NO_QUORUM,
                        "name": "NoQuorum",
                        "shortDescription": { "text": "Package lacks a review quorum" },
                        "fullDescription": { "text": "Not every file this lockfile entry allows the installer to use is covered by reviews from a quorum of independent jurisdictions under the policy." },
                        "defaultConfiguration": { "level": "error" },
                    },
                    {
                        "id": NOT_REVIEWABLE,
                        "name": "NotReviewable",
                        "shortDescription": { "text": "Package cannot be checked against reviews" },
                        "fullDescription": { "text": "A git, path, workspace, editable, linked or bundled entry is not registry bytes that reviews can name." },
                        "defaultConfiguration": { "level": "warning" },
                    },
                ],
            }},
            "results": results,
        }],
    })
}
