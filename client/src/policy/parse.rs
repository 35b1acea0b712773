//! [`Policy::parse`]: the line-oriented policy file, every rule checked, each error naming
//! its line.

use std::collections::{BTreeMap, BTreeSet};

use quorate_proto::checkpoint::LogKeys;
use quorate_proto::note::{self, Ed25519Verifier, NoteVerifier};

use super::evidence::EvidencePolicy;
use super::witnesses::{Group, Member, Witness, check_new_name, witness_verifier};
use super::{
    Log, MAX_GROUPS, MAX_LOGS, MAX_MIRRORS_PER_LOG, MAX_POLICY_BYTES, MAX_REVIEWERS, MAX_WITNESSES,
    Policy, PolicyError, SAFE_TO_DEPLOY, SAFE_TO_RUN, TrustedReviewer, Veto, check_criterion, err,
};

pub(super) fn split_ws(line: &str) -> Vec<&str> {
    line.split([' ', '\t']).filter(|s| !s.is_empty()).collect()
}

pub(super) fn parse_decimal(line: usize, what: &str, s: &str) -> Result<u64, PolicyError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(err(
            line,
            format!("{what} must be a decimal number without leading zeros, got {s:?}"),
        ));
    }
    s.parse()
        .map_err(|_| err(line, format!("{what} {s:?} is too large")))
}

pub(super) fn parse_bool(line: usize, kw: &str, s: &str) -> Result<bool, PolicyError> {
    match s {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(err(line, format!("{kw} must be `yes` or `no`, got {s:?}"))),
    }
}

fn check_url(line: usize, url: &str, required_scheme: bool) -> Result<(), PolicyError> {
    if required_scheme && !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(err(
            line,
            format!("URL {url:?} must start with https:// or http://"),
        ));
    }
    Ok(())
}

pub(super) fn once<T>(slot: &Option<T>, line: usize, kw: &str) -> Result<(), PolicyError> {
    if slot.is_some() {
        return Err(err(
            line,
            format!("duplicate `{kw}` line (at most one allowed)"),
        ));
    }
    Ok(())
}

impl Policy {
    /// Parses and validates a policy file (see `specs/policy.md`).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(err(
                0,
                format!(
                    "file is {} bytes, over the {MAX_POLICY_BYTES}-byte limit",
                    text.len()
                ),
            ));
        }
        let mut p = Policy {
            witnesses: Vec::new(),
            groups: Vec::new(),
            quorum: None,
            logs: Vec::new(),
            reviewers: Vec::new(),
            review_quorum: None,
            criteria: SAFE_TO_DEPLOY.to_owned(),
            criteria_set: false,
            implies: Vec::new(),
            veto: None,
            max_checkpoint_age: None,
            delta_across_jurisdictions: None,
            accept_unknown_digests: None,
            witness_jurisdictions: BTreeMap::new(),
            evidence: EvidencePolicy::default(),
        };
        // Witnesses and groups share one namespace.
        let mut names: BTreeMap<String, Member> = BTreeMap::new();
        let mut witness_keys: BTreeMap<[u8; 32], usize> = BTreeMap::new();
        let mut log_keys: BTreeMap<[u8; 32], usize> = BTreeMap::new();
        let mut origins: BTreeMap<String, usize> = BTreeMap::new();
        let mut reviewer_keys: BTreeMap<[u8; 32], usize> = BTreeMap::new();
        let mut quorum_line = 0;
        let mut review_quorum_line = 0;
        let mut age_line = 0;

        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            if let Some((off, c)) = raw
                .char_indices()
                .find(|&(_, c)| c.is_ascii_control() && c != '\t')
            {
                return Err(err(
                    n,
                    format!(
                        "control character {c:?} at column {} is not allowed",
                        off + 1
                    ),
                ));
            }
            let trimmed = raw.trim_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let f = split_ws(trimmed);
            let (kw, args) = (f[0], &f[1..]);
            let arity = |min: usize, max: usize, usage: &str| -> Result<(), PolicyError> {
                if args.len() < min || args.len() > max {
                    Err(err(
                        n,
                        format!("`{kw}` takes {usage}; got {} argument(s)", args.len()),
                    ))
                } else {
                    Ok(())
                }
            };
            match kw {
                "witness" => {
                    arity(2, 3, "NAME VKEY [URL]")?;
                    let name = args[0];
                    check_new_name(n, name, &names)?;
                    let verifier = witness_verifier(n, args[1])?;
                    let key = verifier.public_key_bytes();
                    if let Some(prev) = witness_keys.get(&key) {
                        return Err(err(
                            n,
                            format!("witness key duplicates the key of witness on line {prev}"),
                        ));
                    }
                    if let Some(u) = args.get(2) {
                        check_url(n, u, false)?;
                    }
                    if p.witnesses.len() == MAX_WITNESSES {
                        return Err(err(n, format!("more than {MAX_WITNESSES} witnesses")));
                    }
                    witness_keys.insert(key, n);
                    names.insert(name.to_owned(), Member::Witness(p.witnesses.len()));
                    p.witnesses.push(Witness {
                        name: name.to_owned(),
                        vkey: args[1].to_owned(),
                        url: args.get(2).map(|s| (*s).to_owned()),
                        verifier,
                    });
                }
                "group" => {
                    if args.len() < 3 {
                        return Err(err(
                            n,
                            "`group` takes NAME all|any|K MEMBER...; at least one member is required",
                        ));
                    }
                    let name = args[0];
                    check_new_name(n, name, &names)?;
                    let mut members = Vec::new();
                    let mut seen = BTreeSet::new();
                    for m in &args[2..] {
                        if *m == "none" {
                            return Err(err(n, "`none` cannot be a group member"));
                        }
                        let Some(&member) = names.get(*m) else {
                            return Err(err(
                                n,
                                format!(
                                    "group member {m:?} is not a witness or group defined on a preceding line"
                                ),
                            ));
                        };
                        if !seen.insert(*m) {
                            return Err(err(n, format!("group member {m:?} is listed twice")));
                        }
                        members.push(member);
                    }
                    let total = members.len();
                    let k = match args[1] {
                        "all" => total,
                        "any" => 1,
                        t => {
                            let k = parse_decimal(n, "group threshold", t)?;
                            if k < 1 || k > total as u64 {
                                return Err(err(
                                    n,
                                    format!(
                                        "group threshold {k} is out of range: must be 1..={total} (the number of members)"
                                    ),
                                ));
                            }
                            k as usize
                        }
                    };
                    if p.groups.len() == MAX_GROUPS {
                        return Err(err(n, format!("more than {MAX_GROUPS} groups")));
                    }
                    names.insert(name.to_owned(), Member::Group(p.groups.len()));
                    p.groups.push(Group {
                        name: name.to_owned(),
                        threshold_text: args[1].to_owned(),
                        k,
                        members,
                    });
                }
                "quorum" => {
                    arity(1, 1, "NAME|none")?;
                    if quorum_line != 0 {
                        return Err(err(
                            n,
                            format!("duplicate `quorum` line (first on line {quorum_line})"),
                        ));
                    }
                    quorum_line = n;
                    if args[0] != "none" {
                        let Some(&m) = names.get(args[0]) else {
                            return Err(err(
                                n,
                                format!(
                                    "quorum {:?} is not a witness or group defined on a preceding line",
                                    args[0]
                                ),
                            ));
                        };
                        p.quorum = Some(m);
                    }
                }
                "log" | "review-log" => {
                    let jurisdiction = if kw == "log" {
                        arity(1, 2, "VKEY [URL]")?;
                        None
                    } else {
                        arity(3, 3, "JURISDICTION VKEY URL")?;
                        Some(check_token(n, "jurisdiction", args[0])?)
                    };
                    let (vk, url) = if kw == "log" {
                        (args[0], args.get(1).copied())
                    } else {
                        (args[1], Some(args[2]))
                    };
                    let verifier = log_verifier(n, vk)?;
                    let key = verifier.public_key_bytes();
                    if let Some(prev) = log_keys.get(&key) {
                        return Err(err(
                            n,
                            format!("log key duplicates the key of the log on line {prev}"),
                        ));
                    }
                    if let Some(prev) = origins.get(verifier.name()) {
                        return Err(err(
                            n,
                            format!(
                                "log origin {:?} is already used by the log on line {prev}",
                                verifier.name()
                            ),
                        ));
                    }
                    if let Some(u) = url {
                        check_url(n, u, jurisdiction.is_some())?;
                    }
                    if p.logs.len() == MAX_LOGS {
                        return Err(err(n, format!("more than {MAX_LOGS} logs")));
                    }
                    log_keys.insert(key, n);
                    origins.insert(verifier.name().to_owned(), n);
                    p.logs.push(Log {
                        jurisdiction,
                        vkey: vk.to_owned(),
                        url: url.map(str::to_owned),
                        keys: LogKeys::single(verifier.clone()),
                        verifier,
                        origin_set: false,
                        extra_vkeys: Vec::new(),
                        mirrors: Vec::new(),
                    });
                }
                "log-mirror" => {
                    arity(2, 2, "ORIGIN URL")?;
                    let Some(log) = p.logs.iter_mut().find(|l| l.origin() == args[0]) else {
                        return Err(err(
                            n,
                            format!(
                                "{:?} is not the origin of a log on a preceding line",
                                args[0]
                            ),
                        ));
                    };
                    check_url(n, args[1], true)?;
                    if log.mirrors.iter().any(|m| m == args[1])
                        || log.url.as_deref() == Some(args[1])
                    {
                        return Err(err(
                            n,
                            format!("URL {:?} is already listed for this log", args[1]),
                        ));
                    }
                    if log.mirrors.len() == MAX_MIRRORS_PER_LOG {
                        return Err(err(
                            n,
                            format!("more than {MAX_MIRRORS_PER_LOG} mirrors for one log"),
                        ));
                    }
                    log.mirrors.push(args[1].to_owned());
                }
                "log-origin" | "log-key" => {
                    let usage = if kw == "log-origin" {
                        "LOG_VKEY ORIGIN"
                    } else {
                        "LOG_VKEY VKEY"
                    };
                    if kw == "log-origin" {
                        arity(2, usize::MAX, usage)?;
                    } else {
                        arity(2, 2, usage)?;
                    }
                    let Some(li) = p.logs.iter().position(|l| l.vkey == args[0]) else {
                        return Err(err(
                            n,
                            format!(
                                "`{kw}` names no log: {:?} is not the key of a `log` or `review-log` line above",
                                args[0]
                            ),
                        ));
                    };
                    if kw == "log-origin" {
                        // The origin is the rest of the line: origins may hold spaces
                        // (Go's checksum database: `go.sum database tree`).
                        let rest = trimmed[kw.len()..].trim_start_matches([' ', '\t']);
                        let origin = rest[args[0].len()..].trim_start_matches([' ', '\t']);
                        let log = &mut p.logs[li];
                        if log.origin_set {
                            return Err(err(
                                n,
                                "this log's origin is already set by a `log-origin` line"
                                    .to_owned(),
                            ));
                        }
                        if let Some(prev) = origins.get(origin).filter(|_| origin != log.origin()) {
                            return Err(err(
                                n,
                                format!(
                                    "log origin {origin:?} is already used by the log on line {prev}"
                                ),
                            ));
                        }
                        let keys = LogKeys::new(origin, log.keys.keys().to_vec())
                            .map_err(|e| err(n, e.to_string()))?;
                        origins.remove(log.origin());
                        origins.insert(origin.to_owned(), n);
                        log.keys = keys;
                        log.origin_set = true;
                    } else {
                        let v = log_verifier(n, args[1])?;
                        let key = v.public_key_bytes();
                        if let Some(prev) = log_keys.get(&key) {
                            return Err(err(
                                n,
                                format!("log key duplicates the key of the log on line {prev}"),
                            ));
                        }
                        let log = &mut p.logs[li];
                        log.keys.add_key(v).map_err(|e| err(n, e.to_string()))?;
                        log.extra_vkeys.push(args[1].to_owned());
                        log_keys.insert(key, n);
                    }
                }
                "reviewer" => {
                    arity(2, 2, "JURISDICTION VKEY")?;
                    let j = args[0];
                    if !p.logs.iter().any(|l| l.jurisdiction.as_deref() == Some(j)) {
                        return Err(err(
                            n,
                            format!("jurisdiction {j:?} has no `review-log` on a preceding line"),
                        ));
                    }
                    let k = note::parse_vkey(args[1])
                        .map_err(|e| err(n, format!("bad reviewer vkey: {e}")))?;
                    let v = Ed25519Verifier::from_parsed(&k)
                        .map_err(|e| err(n, format!("bad reviewer vkey: {e}")))?;
                    let key = v.public_key_bytes();
                    if let Some(prev) = reviewer_keys.get(&key) {
                        return Err(err(
                            n,
                            format!(
                                "reviewer key duplicates the reviewer on line {prev} (a key belongs to one jurisdiction, once)"
                            ),
                        ));
                    }
                    if p.reviewers.len() == MAX_REVIEWERS {
                        return Err(err(n, format!("more than {MAX_REVIEWERS} reviewers")));
                    }
                    reviewer_keys.insert(key, n);
                    p.reviewers.push(TrustedReviewer {
                        jurisdiction: j.to_owned(),
                        vkey: args[1].to_owned(),
                        name: k.name,
                        public_key: key,
                    });
                }
                "review-witness" => {
                    // The jurisdiction that operates a witness: its cosignatures never
                    // count for that jurisdiction's own logs, since one operator holding
                    // both keys could fork its log and cosign the fork itself.
                    arity(2, 2, "JURISDICTION WITNESS")?;
                    let (j, w) = (args[0], args[1]);
                    if !p.logs.iter().any(|l| l.jurisdiction.as_deref() == Some(j)) {
                        return Err(err(
                            n,
                            format!("jurisdiction {j:?} has no `review-log` on a preceding line"),
                        ));
                    }
                    if !p.witnesses.iter().any(|x| x.name == w) {
                        return Err(err(
                            n,
                            format!("{w:?} is not a witness defined on a preceding line"),
                        ));
                    }
                    if let Some(prev) = p.witness_jurisdictions.get(w) {
                        return Err(err(
                            n,
                            format!("witness {w:?} is already assigned to jurisdiction {prev:?}"),
                        ));
                    }
                    p.witness_jurisdictions.insert(w.to_owned(), j.to_owned());
                }
                "review-quorum" => {
                    arity(1, 1, "K")?;
                    if review_quorum_line != 0 {
                        return Err(err(
                            n,
                            format!(
                                "duplicate `review-quorum` line (first on line {review_quorum_line})"
                            ),
                        ));
                    }
                    review_quorum_line = n;
                    let k = parse_decimal(n, "review-quorum", args[0])?;
                    if k == 0 {
                        return Err(err(n, "review-quorum must be at least 1"));
                    }
                    p.review_quorum = Some(usize::try_from(k).unwrap_or(usize::MAX));
                }
                "criteria" => {
                    arity(1, 1, "NAME")?;
                    if p.criteria_set {
                        return Err(err(n, "duplicate `criteria` line (at most one allowed)"));
                    }
                    check_criterion(args[0]).map_err(|m| err(n, m))?;
                    p.criteria = args[0].to_owned();
                    p.criteria_set = true;
                }
                "implies" => {
                    arity(2, 2, "CRITERION IMPLIED-CRITERION")?;
                    for c in args.iter() {
                        check_criterion(c).map_err(|m| err(n, m))?;
                    }
                    if args[0] == args[1] {
                        return Err(err(n, format!("criterion {:?} implies itself", args[0])));
                    }
                    let pair = (args[0].to_owned(), args[1].to_owned());
                    if p.implies.contains(&pair)
                        || (pair.0 == SAFE_TO_DEPLOY && pair.1 == SAFE_TO_RUN)
                    {
                        return Err(err(
                            n,
                            format!("duplicate implication {} -> {}", pair.0, pair.1),
                        ));
                    }
                    p.implies.push(pair);
                }
                "veto" => {
                    arity(1, 1, "any|none")?;
                    once(&p.veto, n, kw)?;
                    p.veto = Some(match args[0] {
                        "any" => Veto::Any,
                        "none" => Veto::None,
                        o => {
                            return Err(err(n, format!("veto must be `any` or `none`, got {o:?}")));
                        }
                    });
                }
                "max-checkpoint-age" => {
                    arity(1, 1, "SECONDS")?;
                    once(&p.max_checkpoint_age, n, kw)?;
                    let s = parse_decimal(n, "max-checkpoint-age", args[0])?;
                    if s == 0 {
                        return Err(err(n, "max-checkpoint-age must be at least 1 second"));
                    }
                    age_line = n;
                    p.max_checkpoint_age = Some(s);
                }
                "delta-across-jurisdictions" => {
                    arity(1, 1, "no|yes")?;
                    once(&p.delta_across_jurisdictions, n, kw)?;
                    p.delta_across_jurisdictions = Some(parse_bool(n, kw, args[0])?);
                }
                "accept-unknown-digests" => {
                    arity(1, 1, "no|yes")?;
                    once(&p.accept_unknown_digests, n, kw)?;
                    p.accept_unknown_digests = Some(parse_bool(n, kw, args[0])?);
                }
                other => {
                    if p.evidence.parse_line(n, other, args)? {
                        continue;
                    }
                    return Err(err(n, format!("unknown keyword {other:?}")));
                }
            }
        }
        if quorum_line == 0 {
            return Err(err(
                0,
                "missing the `quorum` line (use `quorum none` for no witnesses)",
            ));
        }
        let jurisdictions = p.jurisdictions().len();
        match p.review_quorum {
            Some(k) if k > jurisdictions => {
                return Err(err(
                    review_quorum_line,
                    format!(
                        "review-quorum {k} is out of range: the policy defines {jurisdictions} jurisdiction(s)"
                    ),
                ));
            }
            None if jurisdictions > 0 => {
                return Err(err(
                    0,
                    "review logs are defined but there is no `review-quorum` line",
                ));
            }
            _ => {}
        }
        p.evidence.finish(jurisdictions)?;
        if p.max_checkpoint_age.is_some() && p.quorum.is_none() {
            return Err(err(
                age_line,
                "max-checkpoint-age needs a witness quorum: cosignature timestamps are the only clock a checkpoint has",
            ));
        }
        Ok(p)
    }
}

pub(super) fn check_token(line: usize, what: &str, s: &str) -> Result<String, PolicyError> {
    if s == "none" || s.starts_with('#') {
        return Err(err(line, format!("{what} {s:?} is reserved")));
    }
    Ok(s.to_owned())
}

fn log_verifier(line: usize, vkey: &str) -> Result<Ed25519Verifier, PolicyError> {
    let k = note::parse_vkey(vkey).map_err(|e| err(line, format!("bad log vkey: {e}")))?;
    Ed25519Verifier::from_parsed(&k).map_err(|e| {
        err(
            line,
            format!("bad log vkey (log keys are Ed25519, type 0x01): {e}"),
        )
    })
}
