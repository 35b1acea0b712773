//! Field rules: lengths, counts and character sets shared by every part, and
//! [`Attestation::validate`], which applies them and the rules that tie fields together.

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;

use super::evidence::EvidenceKind;
use super::identity::Ecosystem;
use super::{
    Attestation, AttestationError, Evidence, MAX_ARTIFACT_DIGESTS, MAX_ARTIFACT_NAME_BYTES,
    MAX_ARTIFACTS, MAX_CRITERIA, MAX_CRITERION_BYTES, MAX_LINK_BYTES, MAX_LINKS, MAX_NOTES_BYTES,
    MAX_ORGANISATION_BYTES, MAX_RANGE_BYTES, MAX_REVIEWER_NAME_BYTES, MAX_TIME, Result, Verdict,
    missing,
};

pub(super) fn check_len(field: &str, got: usize, limit: usize) -> Result<()> {
    if got > limit {
        return Err(AttestationError::TooLong {
            field: field.into(),
            limit,
            got,
        });
    }
    Ok(())
}

pub(super) fn check_count(field: &str, got: usize, limit: usize) -> Result<()> {
    if got > limit {
        return Err(AttestationError::TooMany {
            field: field.into(),
            limit,
            got,
        });
    }
    Ok(())
}

/// Checks length (non-empty, within limit) then that every char satisfies `ok`.
pub(super) fn check_chars(
    field: &str,
    s: &str,
    limit: usize,
    ok: impl Fn(usize, char) -> bool,
) -> Result<()> {
    if s.is_empty() {
        return Err(missing(field));
    }
    check_len(field, s.len(), limit)?;
    match s.char_indices().find(|&(i, c)| !ok(i, c)) {
        Some((offset, ch)) => Err(AttestationError::BadChar {
            field: field.into(),
            ch,
            offset,
        }),
        None => Ok(()),
    }
}

/// Printable ASCII without spaces. Every supported registry restricts names and versions to
/// ASCII, and refusing the rest also refuses homoglyph and bidi-override look-alikes.
pub(super) fn validate_token(field: &str, s: &str, limit: usize) -> Result<()> {
    check_chars(field, s, limit, |_, c| c.is_ascii_graphic())
}

/// cargo-vet criteria are TOML bare keys (ASCII letters, digits, `-`, `_`); `:` is also
/// allowed so imported criteria can be namespaced (`peer::name`).
fn validate_criterion(field: &str, s: &str) -> Result<()> {
    check_chars(field, s, MAX_CRITERION_BYTES, |i, c| {
        c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | ':'))
    })
}

/// Version requirements use operators, commas and spaces (`>=1.0, <1.2.3`, npm `||`), so
/// printable ASCII including space; the syntax itself is ecosystem-specific and not parsed.
fn validate_range(s: &str) -> Result<()> {
    check_chars("violation.range", s, MAX_RANGE_BYTES, |_, c| {
        c.is_ascii_graphic() || c == ' '
    })
}

/// Links are shown to users and fetched by tools, so: http(s) only, no whitespace or controls.
pub(super) fn validate_link_as(field: &str, s: &str, limit: usize) -> Result<()> {
    check_chars(field, s, limit, |_, c| {
        !c.is_whitespace() && !is_unsafe_for_display(c)
    })?;
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        return Err(AttestationError::Invalid {
            field: field.into(),
            reason: "must start with https:// or http://",
        });
    }
    Ok(())
}

/// Free text may be empty. It ends up in terminals and web pages, so control characters
/// (terminal escapes) and bidi overrides (text that displays differently than it reads) are
/// refused; `notes` may keep newlines and tabs.
pub(super) fn validate_text(field: &str, s: &str, limit: usize, multiline: bool) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    check_chars(field, s, limit, |_, c| {
        (multiline && matches!(c, '\n' | '\t')) || !is_unsafe_for_display(c)
    })
}

pub(super) fn validate_single_line(field: &str, s: &str, limit: usize) -> Result<()> {
    validate_text(field, s, limit, false)
}

/// A relative path inside a source tree or archive, `/`-separated: no leading `/`, no
/// empty, `.` or `..` components, no backslash, displayable.
pub(super) fn validate_rel_path(field: &str, s: &str, limit: usize) -> Result<()> {
    check_chars(field, s, limit, |_, c| {
        !is_unsafe_for_display(c) && c != '\\'
    })?;
    if s.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(AttestationError::Invalid {
            field: field.into(),
            reason: "must be a relative path without empty, '.' or '..' components",
        });
    }
    Ok(())
}

/// A published file's name: printable ASCII without `/` or `\`, not `.` or `..`.
fn validate_file_name(field: &str, s: &str) -> Result<()> {
    check_chars(field, s, MAX_ARTIFACT_NAME_BYTES, |_, c| {
        c.is_ascii_graphic() && c != '/' && c != '\\'
    })?;
    if s == "." || s == ".." {
        return Err(AttestationError::Invalid {
            field: field.into(),
            reason: "not a file name",
        });
    }
    Ok(())
}

pub(super) fn is_unsafe_for_display(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn invalid(field: &str, reason: &'static str) -> AttestationError {
    AttestationError::Invalid {
        field: field.into(),
        reason,
    }
}

impl Attestation {
    /// Checks every field rule (lengths, counts, character sets, required fields, each
    /// ecosystem's name and version form) and the rules between fields (what a sealed
    /// commitment may carry, which verdicts each evidence kind allows).
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        reviewer_key(&self.reviewer.public_key).map(|_| ())
    }

    /// Every rule of [`Attestation::validate`] except decoding the reviewer key, which
    /// costs a point decompression; [`super::verify_cached`] decodes each key once.
    pub(super) fn validate_fields(&self) -> Result<()> {
        let eco = Ecosystem::parse(&self.ecosystem)?;
        eco.validate_name(&self.package)?;
        match &self.verdict {
            // A violation's `version` is a label (its versions are `range`): a version, or
            // the range without whitespace as cargo-vet imports write it.
            Verdict::Violation { range }
                if self
                    .version
                    .chars()
                    .eq(range.chars().filter(|c| !c.is_whitespace())) =>
            {
                check_chars(
                    "version",
                    &self.version,
                    super::MAX_VERSION_BYTES,
                    |_, c| c.is_ascii_graphic() && c != '/',
                )?
            }
            _ => eco.validate_version("version", &self.version)?,
        }
        if let Some(d) = &self.delta_from {
            eco.validate_version("delta_from.version", &d.version)?;
        }
        let sealed = matches!(self.verdict, Verdict::Sealed { .. });
        if sealed {
            self.validate_commitment_shape()?;
        } else {
            self.validate_artifacts()?;
            // cargo-vet requires criteria on every audit entry, violations included.
            if self.criteria.is_empty() {
                return Err(missing("criteria"));
            }
            match &self.scope {
                None => return Err(missing("scope")),
                Some(s) => s.validate()?,
            }
            match &self.evidence {
                None => return Err(missing("evidence")),
                Some(e) => {
                    e.validate(Some(eco))?;
                    self.validate_evidence_verdict(e)?;
                }
            }
        }
        check_count("criteria", self.criteria.len(), MAX_CRITERIA)?;
        for (i, c) in self.criteria.iter().enumerate() {
            validate_criterion(&format!("criteria[{i}]"), c)?;
            if self.criteria.iter().take(i).any(|p| p == c) {
                return Err(AttestationError::Duplicate {
                    field: "criteria".into(),
                    value: c.clone(),
                });
            }
        }
        if let Verdict::Violation { range } = &self.verdict {
            validate_range(range)?;
        }
        validate_text(
            "reviewer.name",
            &self.reviewer.name,
            MAX_REVIEWER_NAME_BYTES,
            false,
        )?;
        validate_text(
            "organisation",
            &self.organisation,
            MAX_ORGANISATION_BYTES,
            false,
        )?;
        if self.time == 0 {
            return Err(missing("time"));
        }
        if self.time > MAX_TIME {
            return Err(invalid("time", "after year 9999"));
        }
        validate_text("notes", &self.notes, MAX_NOTES_BYTES, true)?;
        check_count("links", self.links.len(), MAX_LINKS)?;
        for (i, l) in self.links.iter().enumerate() {
            validate_link_as(&format!("links[{i}]"), l, MAX_LINK_BYTES)?;
        }
        Ok(())
    }

    /// A commitment shows who sealed something about which release, and nothing else.
    fn validate_commitment_shape(&self) -> Result<()> {
        let hidden = |field: &str, empty: bool| {
            if empty {
                Ok(())
            } else {
                Err(invalid(
                    field,
                    "must be empty in a sealed commitment (content is hidden)",
                ))
            }
        };
        hidden("digest", !self.digest.is_recorded())?;
        hidden("delta_from", self.delta_from.is_none())?;
        hidden("artifacts", self.artifacts.is_empty())?;
        hidden("scope", self.scope.is_none())?;
        hidden("criteria", self.criteria.is_empty())?;
        hidden("evidence", self.evidence.is_none())?;
        hidden("notes", self.notes.is_empty())?;
        hidden("links", self.links.is_empty())?;
        hidden("supersedes", self.supersedes.is_none())?;
        hidden("reveal", self.reveal.is_none())?;
        Ok(())
    }

    fn validate_artifacts(&self) -> Result<()> {
        check_count("artifacts", self.artifacts.len(), MAX_ARTIFACTS)?;
        if !self.artifacts.is_empty() && !self.digest.is_recorded() {
            return Err(invalid(
                "digest",
                "must be recorded when artifacts are listed",
            ));
        }
        let mut names = BTreeSet::new();
        let mut seen = BTreeSet::new();
        seen.insert(self.digest);
        for (i, a) in self.artifacts.iter().enumerate() {
            let f = format!("artifacts[{i}]");
            validate_file_name(&format!("{f}.name"), &a.name)?;
            if !names.insert(a.name.as_str()) {
                return Err(AttestationError::Duplicate {
                    field: "artifacts.name".into(),
                    value: a.name.clone(),
                });
            }
            if a.digests.is_empty() {
                return Err(missing(&format!("{f}.digests")));
            }
            check_count(
                &format!("{f}.digests"),
                a.digests.len(),
                MAX_ARTIFACT_DIGESTS,
            )?;
            for (j, d) in a.digests.iter().enumerate() {
                if !d.is_recorded() {
                    return Err(invalid(
                        &format!("{f}.digests[{j}]"),
                        "must be a recorded digest",
                    ));
                }
                if j > 0 && a.digests[j - 1].algorithm() >= d.algorithm() {
                    return Err(invalid(
                        &format!("{f}.digests"),
                        "one digest per algorithm, in ascending algorithm order",
                    ));
                }
                if !seen.insert(*d) {
                    return Err(AttestationError::Duplicate {
                        field: format!("{f}.digests"),
                        value: d.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    fn validate_evidence_verdict(&self, e: &Evidence) -> Result<()> {
        let informational = matches!(self.verdict, Verdict::Informational);
        match e {
            Evidence::MaintainerChange(_) if !informational => Err(invalid(
                "verdict",
                "maintainer-change evidence is informational only",
            )),
            Evidence::ArchiveMatchesSource(a)
                if !a.matches() && matches!(self.verdict, Verdict::Certify) =>
            {
                Err(invalid(
                    "verdict",
                    "an archive that differs from its source cannot certify",
                ))
            }
            Evidence::ReproducibleBuild(_) if !self.digest.is_recorded() => Err(invalid(
                "digest",
                "reproducible-build evidence names the rebuilt artifact's digest",
            )),
            _ if informational && e.kind() == EvidenceKind::SourceReview => Err(invalid(
                "verdict",
                "a source review certifies or reports a violation",
            )),
            _ => Ok(()),
        }
    }
}

/// Decodes a reviewer key. Small-order keys are refused here as `verify_strict` would
/// refuse their signatures later.
pub(super) fn reviewer_key(bytes: &[u8; 32]) -> Result<VerifyingKey> {
    match VerifyingKey::from_bytes(bytes) {
        Ok(k) if !k.is_weak() => Ok(k),
        _ => Err(AttestationError::BadPublicKey),
    }
}
