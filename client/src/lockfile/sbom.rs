//! Software bills of materials in JSON: CycloneDX 1.5 and later, and SPDX 2.3. Each
//! component/package is named by its purl and pinned by the hashes the SBOM gives for it
//! (all of one component's hashes describe the same file). The SBOM's own subject (CycloneDX
//! `metadata.component`, the SPDX packages the document DESCRIBES) is the product, not a
//! dependency, and is not an entry.

use std::collections::HashSet;

use serde::Deserialize;

use super::{
    Collector, Ecosystem, FileDigest, Format, LockEntry, LockedFile, NotReviewable, PackageId,
    ParseError, ParsedLockfile, Resolution,
};

fn json_err(format: Format) -> impl Fn(serde_json::Error) -> ParseError {
    move |e| ParseError::Syntax {
        format,
        syntax: "JSON",
        reason: e.to_string(),
    }
}

/// The entry for a component: by its purl when it has a supported one; otherwise a
/// `generic` identity that is reported as not reviewable with the reason.
fn identify(
    c: &Collector,
    at: &str,
    name: &str,
    version: Option<&str>,
    purl: Option<&str>,
    digests: Vec<FileDigest>,
) -> Result<(PackageId, Resolution), ParseError> {
    let fallback = |n: NotReviewable| -> Result<(PackageId, Resolution), ParseError> {
        let safe: String = name
            .chars()
            .map(|ch| {
                if ch == '/' || ch.is_whitespace() {
                    '_'
                } else {
                    ch
                }
            })
            .collect();
        let id = PackageId::new(
            Ecosystem::Generic,
            if safe.is_empty() { "unnamed" } else { &safe },
            version.unwrap_or(super::python::UNVERSIONED),
        )
        .map_err(|e| c.err(at, e))?;
        Ok((id, Resolution::NotReviewable(n)))
    };
    let Some(purl) = purl else {
        return fallback(NotReviewable::NoPurl(name.to_owned()));
    };
    let id = match PackageId::from_purl(purl) {
        Ok(id) => id,
        Err(e) => {
            // A type Quorate has no reviews for (nuget, deb, github...) is not an error in
            // the SBOM, but it cannot pass either.
            let known = purl
                .strip_prefix("pkg:")
                .and_then(|r| r.split('/').next())
                .and_then(Ecosystem::from_name)
                .is_some();
            if known {
                return Err(c.err(at, e));
            }
            return fallback(NotReviewable::OtherSource(purl.to_owned()));
        }
    };
    let resolution = if digests.is_empty() {
        Resolution::UnknownDigest
    } else {
        Resolution::Files(vec![LockedFile {
            name: None,
            digests,
        }])
    };
    Ok((id, resolution))
}

// ---------------------------------------------------------------- CycloneDX

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: String,
    spec_version: String,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Component {
    name: String,
    version: Option<String>,
    purl: Option<String>,
    bom_ref: Option<String>,
    #[serde(default)]
    hashes: Vec<CdxHash>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct CdxHash {
    alg: String,
    content: String,
}

pub(crate) fn parse_cyclonedx(text: &str) -> Result<ParsedLockfile, ParseError> {
    let bom: Bom = serde_json::from_str(text).map_err(json_err(Format::CycloneDx))?;
    let doc = |reason: String| ParseError::Document {
        format: Format::CycloneDx,
        reason,
    };
    if bom.bom_format != "CycloneDX" {
        return Err(doc(format!(
            "bomFormat is {:?}, not \"CycloneDX\"",
            bom.bom_format
        )));
    }
    let minor = bom
        .spec_version
        .strip_prefix("1.")
        .and_then(|m| m.parse::<u32>().ok());
    if minor.is_none_or(|m| m < 5) {
        return Err(doc(format!(
            "specVersion {:?} is not supported (1.5 or later: earlier ones lack the hash and purl rules relied on)",
            bom.spec_version
        )));
    }
    let mut c = Collector::new(Format::CycloneDx);
    let mut stack: Vec<(String, &Component)> = bom
        .components
        .iter()
        .enumerate()
        .map(|(i, x)| (format!("components[{i}]"), x))
        .rev()
        .collect();
    while let Some((at, comp)) = stack.pop() {
        let at = format!("{at} ({})", comp.name);
        let mut digests = Vec::new();
        for h in &comp.hashes {
            let alg = match h.alg.as_str() {
                "SHA-256" => "sha256",
                "SHA-512" => "sha512",
                "SHA-1" => "sha1",
                _ => continue, // MD5, SHA-384, SHA3, BLAKE: not digests reviews carry
            };
            digests.push(
                FileDigest::parse(&format!("{alg}:{}", h.content)).map_err(|e| c.err(&at, e))?,
            );
        }
        let (id, resolution) = identify(
            &c,
            &at,
            &comp.name,
            comp.version.as_deref(),
            comp.purl.as_deref(),
            digests,
        )?;
        let key = comp
            .bom_ref
            .clone()
            .unwrap_or_else(|| comp.purl.clone().unwrap_or_else(|| at.clone()));
        for (j, sub) in comp.components.iter().enumerate().rev() {
            stack.push((format!("{at}.components[{j}]"), sub));
        }
        c.push(
            key,
            LockEntry {
                id,
                resolution,
                locator: at,
                relation: None,
            },
        )?;
    }
    Ok(c.finish(Vec::new()))
}

// ---------------------------------------------------------------- SPDX

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxDoc {
    spdx_version: String,
    #[serde(default)]
    document_describes: Vec<String>,
    #[serde(default)]
    packages: Vec<SpdxPackage>,
    #[serde(default)]
    relationships: Vec<SpdxRelationship>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    version_info: Option<String>,
    #[serde(default)]
    external_refs: Vec<SpdxRef>,
    #[serde(default)]
    checksums: Vec<SpdxChecksum>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxRef {
    reference_category: String,
    reference_type: String,
    reference_locator: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxChecksum {
    algorithm: String,
    checksum_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxRelationship {
    spdx_element_id: String,
    relationship_type: String,
    related_spdx_element: String,
}

pub(crate) fn parse_spdx(text: &str) -> Result<ParsedLockfile, ParseError> {
    let doc: SpdxDoc = serde_json::from_str(text).map_err(json_err(Format::Spdx))?;
    if doc.spdx_version != "SPDX-2.3" {
        return Err(ParseError::Document {
            format: Format::Spdx,
            reason: format!(
                "spdxVersion {:?} is not supported (SPDX-2.3)",
                doc.spdx_version
            ),
        });
    }
    let subjects: HashSet<&str> = doc
        .document_describes
        .iter()
        .map(String::as_str)
        .chain(
            doc.relationships
                .iter()
                .filter(|r| {
                    r.spdx_element_id == "SPDXRef-DOCUMENT" && r.relationship_type == "DESCRIBES"
                })
                .map(|r| r.related_spdx_element.as_str()),
        )
        .collect();
    let mut c = Collector::new(Format::Spdx);
    for (i, p) in doc.packages.iter().enumerate() {
        if subjects.contains(p.spdx_id.as_str()) {
            continue;
        }
        let at = format!("packages[{i}] ({})", p.spdx_id);
        let purls: Vec<&str> = p
            .external_refs
            .iter()
            .filter(|r| {
                matches!(
                    r.reference_category.as_str(),
                    "PACKAGE-MANAGER" | "PACKAGE_MANAGER"
                ) && r.reference_type == "purl"
            })
            .map(|r| r.reference_locator.as_str())
            .collect();
        if purls.len() > 1 {
            return Err(c.err(
                &at,
                format!("{} purls: which one names it is ambiguous", purls.len()),
            ));
        }
        let mut digests = Vec::new();
        for h in &p.checksums {
            let alg = match h.algorithm.as_str() {
                "SHA256" => "sha256",
                "SHA512" => "sha512",
                "SHA1" => "sha1",
                _ => continue,
            };
            digests.push(
                FileDigest::parse(&format!("{alg}:{}", h.checksum_value))
                    .map_err(|e| c.err(&at, e))?,
            );
        }
        let (id, resolution) = identify(
            &c,
            &at,
            &p.name,
            p.version_info.as_deref(),
            purls.first().copied(),
            digests,
        )?;
        c.push(
            p.spdx_id.clone(),
            LockEntry {
                id,
                resolution,
                locator: at,
                relation: None,
            },
        )?;
    }
    Ok(c.finish(Vec::new()))
}
