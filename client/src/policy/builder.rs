//! `quorate policy new`: a policy rendered from command-line flags, then parsed.

use std::collections::BTreeMap;

use super::{Policy, PolicyError, err};

/// Inputs of `quorate policy new`: renders policy text, which is then parsed, so the
/// result obeys every rule of [`Policy::parse`].
#[derive(Debug, Clone, Default)]
pub struct PolicyBuilder {
    /// (jurisdiction, log vkey, URL)
    pub logs: Vec<(String, String, String)>,
    /// (jurisdiction, witness vkey)
    pub witnesses: Vec<(String, String)>,
    /// Threshold over all witnesses; default: all of them.
    pub min_witnesses: Option<usize>,
    pub quorum: usize,
    pub criteria: Option<String>,
    pub accept_unknown_digests: bool,
}

impl PolicyBuilder {
    /// Parses `JURISDICTION=VKEY@URL` (a vkey never contains '@').
    pub fn parse_log_arg(s: &str) -> Result<(String, String, String), String> {
        let (j, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected JURISDICTION=VKEY@URL"))?;
        let (vkey, url) = rest
            .split_once('@')
            .ok_or_else(|| format!("{s:?}: expected JURISDICTION=VKEY@URL (no '@')"))?;
        if j.is_empty() || vkey.is_empty() || url.is_empty() {
            return Err(format!("{s:?}: empty jurisdiction, vkey or URL"));
        }
        Ok((j.to_owned(), vkey.to_owned(), url.to_owned()))
    }

    /// Parses `JURISDICTION=VKEY`.
    pub fn parse_witness_arg(s: &str) -> Result<(String, String), String> {
        let (j, vkey) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected JURISDICTION=VKEY"))?;
        if j.is_empty() || vkey.is_empty() {
            return Err(format!("{s:?}: empty jurisdiction or vkey"));
        }
        Ok((j.to_owned(), vkey.to_owned()))
    }

    /// The policy text. Witness names are `JURISDICTION-wN` (N counting from 1 within the
    /// jurisdiction); all witnesses form the group `witnesses`.
    pub fn to_text(&self) -> String {
        self.to_text_with_flags().0
    }

    /// The policy text and, per line (index 0 is line 1), the command-line flag and value
    /// it was written from, so an error names what the user typed rather than a line of a
    /// file they never saw.
    fn to_text_with_flags(&self) -> (String, Vec<Option<String>>) {
        let mut flags = vec![None];
        let mut o = String::from("# Quorate client policy (specs/policy.md)\n");
        let mut push = |o: &mut String, line: String, flag: Option<String>| {
            o.push_str(&line);
            flags.push(flag);
        };
        let mut names = Vec::new();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (j, vkey) in &self.witnesses {
            let c = counts.entry(j).or_default();
            *c += 1;
            let name = format!("{j}-w{c}");
            push(
                &mut o,
                format!("witness {name} {vkey}\n"),
                Some(format!("--witness {j}={vkey}")),
            );
            names.push(name);
        }
        if names.is_empty() {
            push(&mut o, "quorum none\n".into(), None);
        } else {
            let k = self
                .min_witnesses
                .map_or_else(|| "all".to_owned(), |k| k.to_string());
            let flag = self.min_witnesses.map(|k| format!("--min-witnesses {k}"));
            push(
                &mut o,
                format!("group witnesses {k} {}\n", names.join(" ")),
                flag,
            );
            push(&mut o, "quorum witnesses\n".into(), None);
        }
        for (j, vkey, url) in &self.logs {
            push(
                &mut o,
                format!("review-log {j} {vkey} {url}\n"),
                Some(format!("--log {j}={vkey}@{url}")),
            );
        }
        // A witness run by a log's own jurisdiction never counts for that log.
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (j, _) in &self.witnesses {
            let c = seen.entry(j).or_default();
            *c += 1;
            if self.logs.iter().any(|(lj, _, _)| lj == j) {
                push(&mut o, format!("review-witness {j} {j}-w{c}\n"), None);
            }
        }
        push(
            &mut o,
            format!("review-quorum {}\n", self.quorum),
            Some(format!("--quorum {}", self.quorum)),
        );
        if let Some(c) = &self.criteria {
            push(
                &mut o,
                format!("criteria {c}\n"),
                Some(format!("--criteria {c}")),
            );
        }
        if self.accept_unknown_digests {
            push(&mut o, "accept-unknown-digests yes\n".into(), None);
        }
        (o, flags)
    }

    /// Renders and validates.
    pub fn build(&self) -> Result<(String, Policy), PolicyError> {
        if self.min_witnesses.is_some() && self.witnesses.is_empty() {
            return Err(err(0, "--min-witnesses given but no --witness"));
        }
        let (text, flags) = self.to_text_with_flags();
        let p = Policy::parse(&text).map_err(|e| {
            match flags.get(e.line.wrapping_sub(1)).cloned().flatten() {
                Some(flag) => err(0, format!("{flag}: {}", e.message)),
                None => e,
            }
        })?;
        Ok((text, p))
    }
}
