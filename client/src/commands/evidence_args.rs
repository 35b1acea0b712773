//! `quorate review --evidence KIND` and the flags of each kind's typed body. A flag that
//! belongs to another kind is refused by name, so nothing given is silently dropped.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use quorate_proto::attestation::{
    BenchmarkDelta, Digest, Evidence, EvidenceKind, Fuzzing, MaintainerChange,
    MaintainerChangeKind, ReproducibleBuild,
};

#[derive(Args, Default)]
pub struct EvidenceArgs {
    /// Kind of evidence: source-review, reproducible-build, fuzzing, benchmark-delta,
    /// maintainer-change (archive-matches-source: `quorate evidence archive-vs-source`)
    #[arg(long, value_name = "KIND", default_value = "source-review")]
    pub evidence: String,
    /// reproducible-build: the source revision (commit id or tag) rebuilt from
    #[arg(long, value_name = "REV")]
    pub source_revision: Option<String>,
    /// reproducible-build: where that source lives (https://, http:// or git+https:// URL)
    #[arg(long, value_name = "URL")]
    pub source_uri: Option<String>,
    /// reproducible-build: who or what rebuilt it (a builder identity)
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    /// reproducible-build: digest of the build environment (container image, Nix closure)
    #[arg(long, value_name = "DIGEST")]
    pub build_env: Option<String>,
    /// fuzzing: a harness that was run; repeat for several
    #[arg(long = "harness", value_name = "NAME")]
    pub harnesses: Vec<String>,
    /// fuzzing: how long, in seconds or with a unit (90s, 30m, 12h, 7d)
    #[arg(long, value_name = "DURATION")]
    pub fuzz_duration: Option<String>,
    /// fuzzing: how many findings (crashes, hangs) the run produced
    #[arg(long, value_name = "N")]
    pub findings: Option<u64>,
    /// benchmark-delta: the benchmark's name
    #[arg(long, value_name = "NAME")]
    pub benchmark: Option<String>,
    /// benchmark-delta: the previous release it was measured against
    #[arg(long, value_name = "VERSION")]
    pub baseline_version: Option<String>,
    /// benchmark-delta: this version's measurement over the baseline's, as a decimal
    /// (1.35 = 35% more time), up to six decimal places
    #[arg(long, value_name = "RATIO")]
    pub ratio: Option<String>,
    /// maintainer-change: new-maintainer, ownership-transfer or publisher-key-change
    /// (always informational)
    #[arg(long, value_name = "KIND")]
    pub maintainer_change: Option<String>,
    /// maintainer-change: who (the new maintainer, owner or key)
    #[arg(long, value_name = "NAME")]
    pub subject: Option<String>,
    /// maintainer-change: where it was seen (an https:// or http:// URL)
    #[arg(long, value_name = "URL")]
    pub change_source: Option<String>,
}

impl EvidenceArgs {
    /// The flags given, by kind, so a flag of another kind can be refused by name.
    fn given(&self) -> Vec<(&'static str, EvidenceKind)> {
        use EvidenceKind::*;
        let mut g = Vec::new();
        let mut add = |set: bool, flag, kind| {
            if set {
                g.push((flag, kind));
            }
        };
        add(
            self.source_revision.is_some(),
            "--source-revision",
            ReproducibleBuild,
        );
        add(self.source_uri.is_some(), "--source-uri", ReproducibleBuild);
        add(self.builder.is_some(), "--builder", ReproducibleBuild);
        add(self.build_env.is_some(), "--build-env", ReproducibleBuild);
        add(!self.harnesses.is_empty(), "--harness", Fuzzing);
        add(self.fuzz_duration.is_some(), "--fuzz-duration", Fuzzing);
        add(self.findings.is_some(), "--findings", Fuzzing);
        add(self.benchmark.is_some(), "--benchmark", BenchmarkDelta);
        add(
            self.baseline_version.is_some(),
            "--baseline-version",
            BenchmarkDelta,
        );
        add(self.ratio.is_some(), "--ratio", BenchmarkDelta);
        add(
            self.maintainer_change.is_some(),
            "--maintainer-change",
            MaintainerChange,
        );
        add(self.subject.is_some(), "--subject", MaintainerChange);
        add(
            self.change_source.is_some(),
            "--change-source",
            MaintainerChange,
        );
        g
    }

    /// The evidence the flags describe, with its typed body.
    pub fn evidence(&self) -> Result<Evidence> {
        let kind = EvidenceKind::parse(&self.evidence).ok_or_else(|| {
            anyhow!(
                "--evidence {:?} is not an evidence kind; known: {}",
                self.evidence,
                EvidenceKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if let Some((flag, k)) = self.given().into_iter().find(|(_, k)| *k != kind) {
            bail!("{flag} belongs to --evidence {k}, not --evidence {kind}");
        }
        let need = |v: &Option<String>, flag: &str| {
            v.clone()
                .ok_or_else(|| anyhow!("--evidence {kind} needs {flag}"))
        };
        Ok(match kind {
            EvidenceKind::SourceReview => Evidence::SourceReview,
            EvidenceKind::ArchiveMatchesSource => bail!(
                "--evidence archive-matches-source is written by `quorate evidence archive-vs-source \
                 --archive FILE --source DIR`, which compares the trees itself"
            ),
            EvidenceKind::ReproducibleBuild => Evidence::ReproducibleBuild(ReproducibleBuild {
                source_revision: need(&self.source_revision, "--source-revision REV")?,
                source_uri: need(&self.source_uri, "--source-uri URL")?,
                builder: need(&self.builder, "--builder NAME")?,
                build_environment: parse_env_digest(&need(&self.build_env, "--build-env DIGEST")?)?,
            }),
            EvidenceKind::Fuzzing => {
                if self.harnesses.is_empty() {
                    bail!("--evidence fuzzing needs at least one --harness NAME");
                }
                Evidence::Fuzzing(Fuzzing {
                    harnesses: self.harnesses.clone(),
                    duration_seconds: parse_duration(&need(
                        &self.fuzz_duration,
                        "--fuzz-duration DURATION",
                    )?)?,
                    findings: self
                        .findings
                        .ok_or_else(|| anyhow!("--evidence fuzzing needs --findings N"))?,
                })
            }
            EvidenceKind::BenchmarkDelta => Evidence::BenchmarkDelta(BenchmarkDelta {
                benchmark: need(&self.benchmark, "--benchmark NAME")?,
                baseline_version: need(&self.baseline_version, "--baseline-version VERSION")?,
                ratio_ppm: parse_ratio_ppm(&need(&self.ratio, "--ratio RATIO")?)?,
            }),
            EvidenceKind::MaintainerChange => {
                let k = need(&self.maintainer_change, "--maintainer-change KIND")?;
                Evidence::MaintainerChange(MaintainerChange {
                    kind: MaintainerChangeKind::parse(&k).ok_or_else(|| {
                        anyhow!(
                            "--maintainer-change {k:?}: expected new-maintainer, ownership-transfer \
                             or publisher-key-change"
                        )
                    })?,
                    subject: need(&self.subject, "--subject NAME")?,
                    source: need(&self.change_source, "--change-source URL")?,
                })
            }
        })
    }
}

/// A build environment digest in any notation the client reads; it must be recorded.
pub fn parse_env_digest(s: &str) -> Result<Digest> {
    let d = Digest::parse(s).map_err(|e| anyhow!("--build-env {s:?}: {e}"))?;
    if d.is_weak() {
        bail!("--build-env {s:?} is SHA-1, too weak; give a sha256 or sha512 digest");
    }
    Ok(d)
}

/// `90`, `90s`, `30m`, `12h`, `7d`: seconds, at least one.
pub fn parse_duration(s: &str) -> Result<u64> {
    let bad = || anyhow!("--fuzz-duration {s:?}: expected seconds or a number with s, m, h or d");
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    if secs == 0 {
        bail!("--fuzz-duration {s:?}: a fuzzing run of zero seconds is no evidence");
    }
    Ok(secs)
}

/// A positive decimal ratio (`1.35`, `0.8`, `2`) in parts per million, exactly.
pub fn parse_ratio_ppm(s: &str) -> Result<u64> {
    let bad = |why: &str| anyhow!("--ratio {s:?}: {why}");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("expected a decimal number such as 1.35"));
    }
    if frac.len() > 6 {
        return Err(bad("at most six decimal places"));
    }
    let i: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad("too large"))?
    };
    let f: u64 = format!("{frac:0<6}")
        .parse()
        .map_err(|_| bad("bad fraction"))?;
    let ppm = i
        .checked_mul(1_000_000)
        .and_then(|x| x.checked_add(f))
        .ok_or_else(|| bad("too large"))?;
    if ppm == 0 {
        return Err(bad("must be more than zero"));
    }
    Ok(ppm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_exact_and_bad_ones_say_why() {
        assert_eq!(parse_ratio_ppm("1.35").unwrap(), 1_350_000);
        assert_eq!(parse_ratio_ppm("2").unwrap(), 2_000_000);
        assert_eq!(parse_ratio_ppm(".5").unwrap(), 500_000);
        assert_eq!(parse_ratio_ppm("0.000001").unwrap(), 1);
        for (bad, why) in [
            ("0", "more than zero"),
            ("1.0000001", "six decimal"),
            ("-1", "decimal number"),
            ("1,5", "decimal number"),
            (".", "decimal number"),
            ("99999999999999999999", "too large"),
        ] {
            let e = parse_ratio_ppm(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("12h").unwrap(), 43_200);
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn a_flag_of_another_kind_is_refused_by_name() {
        let a = EvidenceArgs {
            evidence: "fuzzing".into(),
            harnesses: vec!["parse".into()],
            fuzz_duration: Some("1h".into()),
            findings: Some(0),
            benchmark: Some("decompress".into()),
            ..Default::default()
        };
        let e = a.evidence().unwrap_err().to_string();
        assert!(
            e.contains("--benchmark belongs to --evidence benchmark-delta"),
            "{e}"
        );
        let a = EvidenceArgs {
            evidence: "fuzzing".into(),
            harnesses: vec!["parse".into()],
            fuzz_duration: Some("1h".into()),
            ..Default::default()
        };
        let e = a.evidence().unwrap_err().to_string();
        assert!(e.contains("needs --findings"), "{e}");
        let a = EvidenceArgs {
            evidence: "gut-feeling".into(),
            ..Default::default()
        };
        let e = a.evidence().unwrap_err().to_string();
        assert!(e.contains("not an evidence kind"), "{e}");
    }
}
