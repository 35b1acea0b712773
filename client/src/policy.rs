//! The client's trust policy: which logs and witnesses it believes, how many witnesses must
//! cosign a checkpoint, and which review logs belong to which jurisdiction and how many
//! jurisdictions must agree. Format and semantics: `specs/policy.md`.
//!
//! The witness part is C2SP tlog-policy (`witness`, `group`, `quorum`, `log`) unchanged;
//! the review part extends it in the same line-oriented style. A [`Policy`] can only be
//! made by [`Policy::parse`] (or [`PolicyBuilder`], which renders text and parses it), so a
//! value in hand has passed every check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use quorate_proto::checkpoint::{LogKeys, VerifiedCosignature};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::{self, Ed25519Verifier, NoteVerifier};

/// The built-in criterion every policy requires unless it says otherwise.
pub const SAFE_TO_DEPLOY: &str = "safe-to-deploy";
/// cargo-vet's other built-in criterion; `safe-to-deploy` implies it.
pub const SAFE_TO_RUN: &str = "safe-to-run";

/// Implementation limits (tlog-policy recommends supporting at least 32 of each).
pub const MAX_WITNESSES: usize = 256;
pub const MAX_GROUPS: usize = 256;
pub const MAX_LOGS: usize = 256;
pub const MAX_REVIEWERS: usize = 4096;
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// A policy error: the line it is on (0 for the file as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "policy: {}", self.message)
        } else {
            write!(f, "policy line {}: {}", self.line, self.message)
        }
    }
}

fn err(line: usize, message: impl Into<String>) -> PolicyError {
    PolicyError {
        line,
        message: message.into(),
    }
}

/// A witness as the policy names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub name: String,
    pub vkey: String,
    pub url: Option<String>,
    verifier: CosignatureVerifier,
}

impl Witness {
    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }
}

/// A member of a witness group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Witness(usize),
    Group(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    name: String,
    /// As written: `all`, `any` or the decimal k.
    threshold_text: String,
    k: usize,
    members: Vec<Member>,
}

/// A log the policy accepts checkpoints from. `jurisdiction` is `Some` for `review-log`
/// lines: the client, not the log, says which jurisdiction the log's reviews count for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub jurisdiction: Option<String>,
    pub vkey: String,
    pub url: Option<String>,
    verifier: Ed25519Verifier,
    /// Origin and every key that may sign for it (`log-origin`, `log-key` lines).
    keys: LogKeys,
    /// Whether a `log-origin` line set the origin (else it is the key name).
    origin_set: bool,
    /// The vkeys of `log-key` lines, in order.
    extra_vkeys: Vec<String>,
}

impl Log {
    /// The log's origin: its key name, unless a `log-origin` line says otherwise.
    pub fn origin(&self) -> &str {
        self.keys.origin()
    }
    /// The key of the log's own line (the first of [`Log::log_keys`]).
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
    /// The origin and every key accepted for it: verify checkpoints with these.
    pub fn log_keys(&self) -> &LogKeys {
        &self.keys
    }
}

/// A reviewer key the policy restricts a jurisdiction to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedReviewer {
    pub jurisdiction: String,
    pub vkey: String,
    pub name: String,
    pub public_key: [u8; 32],
}

/// What a violation attestation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Veto {
    /// A violation from any trusted jurisdiction blocks the version (default).
    Any,
    /// Violations are reported but do not block.
    None,
}

/// A validated policy. Build it with [`Policy::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    witnesses: Vec<Witness>,
    groups: Vec<Group>,
    quorum: Option<Member>,
    logs: Vec<Log>,
    reviewers: Vec<TrustedReviewer>,
    review_quorum: Option<usize>,
    criteria: String,
    criteria_set: bool,
    implies: Vec<(String, String)>,
    veto: Option<Veto>,
    max_checkpoint_age: Option<u64>,
    delta_across_jurisdictions: Option<bool>,
    accept_unknown_digests: Option<bool>,
    /// Witness name -> the jurisdiction that operates it (`review-witness J NAME`).
    witness_jurisdictions: BTreeMap<String, String>,
}

fn split_ws(line: &str) -> Vec<&str> {
    line.split([' ', '\t']).filter(|s| !s.is_empty()).collect()
}

fn parse_decimal(line: usize, what: &str, s: &str) -> Result<u64, PolicyError> {
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

fn parse_bool(line: usize, kw: &str, s: &str) -> Result<bool, PolicyError> {
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

/// cargo-vet criterion names (TOML bare keys) plus `:` for namespaced imports, as in proto.
pub fn check_criterion(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.char_indices()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | ':')));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "criterion {s:?} must be 1-64 characters of [A-Za-z0-9_:-] starting with a letter or digit"
        ))
    }
}

fn once<T>(slot: &Option<T>, line: usize, kw: &str) -> Result<(), PolicyError> {
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
                    });
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
        if p.max_checkpoint_age.is_some() && p.quorum.is_none() {
            return Err(err(
                age_line,
                "max-checkpoint-age needs a witness quorum: cosignature timestamps are the only clock a checkpoint has",
            ));
        }
        Ok(p)
    }

    /// The policy as text; [`Policy::parse`] of it gives back an equal policy. Lines come
    /// in a canonical order (witnesses, groups, quorum, logs, review settings).
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        for w in &self.witnesses {
            o.push_str(&format!("witness {} {}", w.name, w.vkey));
            if let Some(u) = &w.url {
                o.push_str(&format!(" {u}"));
            }
            o.push('\n');
        }
        for g in &self.groups {
            o.push_str(&format!("group {} {}", g.name, g.threshold_text));
            for m in &g.members {
                o.push(' ');
                o.push_str(self.member_name(*m));
            }
            o.push('\n');
        }
        match self.quorum {
            None => o.push_str("quorum none\n"),
            Some(m) => o.push_str(&format!("quorum {}\n", self.member_name(m))),
        }
        for l in &self.logs {
            match &l.jurisdiction {
                None => {
                    o.push_str(&format!("log {}", l.vkey));
                    if let Some(u) = &l.url {
                        o.push_str(&format!(" {u}"));
                    }
                    o.push('\n');
                }
                Some(j) => o.push_str(&format!(
                    "review-log {j} {} {}\n",
                    l.vkey,
                    l.url.as_deref().unwrap_or_default()
                )),
            }
            if l.origin_set {
                o.push_str(&format!("log-origin {} {}\n", l.vkey, l.origin()));
            }
            for k in &l.extra_vkeys {
                o.push_str(&format!("log-key {} {k}\n", l.vkey));
            }
        }
        for r in &self.reviewers {
            o.push_str(&format!("reviewer {} {}\n", r.jurisdiction, r.vkey));
        }
        for (w, j) in &self.witness_jurisdictions {
            o.push_str(&format!("review-witness {j} {w}\n"));
        }
        if let Some(k) = self.review_quorum {
            o.push_str(&format!("review-quorum {k}\n"));
        }
        if self.criteria_set {
            o.push_str(&format!("criteria {}\n", self.criteria));
        }
        for (a, b) in &self.implies {
            o.push_str(&format!("implies {a} {b}\n"));
        }
        if let Some(v) = self.veto {
            o.push_str(match v {
                Veto::Any => "veto any\n",
                Veto::None => "veto none\n",
            });
        }
        if let Some(s) = self.max_checkpoint_age {
            o.push_str(&format!("max-checkpoint-age {s}\n"));
        }
        let yn = |b: bool| if b { "yes" } else { "no" };
        if let Some(b) = self.delta_across_jurisdictions {
            o.push_str(&format!("delta-across-jurisdictions {}\n", yn(b)));
        }
        if let Some(b) = self.accept_unknown_digests {
            o.push_str(&format!("accept-unknown-digests {}\n", yn(b)));
        }
        o
    }

    fn member_name(&self, m: Member) -> &str {
        match m {
            Member::Witness(i) => &self.witnesses[i].name,
            Member::Group(i) => &self.groups[i].name,
        }
    }

    /// Whether witnesses with these policy names cosigning satisfies the quorum, by
    /// tlog-policy group semantics. Unknown names count for nothing. `quorum none` is
    /// always satisfied.
    pub fn witnesses_satisfied(&self, cosigners: &[&str]) -> bool {
        let Some(q) = self.quorum else {
            return true;
        };
        let signed: Vec<bool> = self
            .witnesses
            .iter()
            .map(|w| cosigners.contains(&w.name.as_str()))
            .collect();
        // Groups only reference earlier definitions, so one pass in order evaluates all.
        let mut group_ok = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| match **m {
                    Member::Witness(i) => signed[i],
                    Member::Group(i) => group_ok[i],
                })
                .count();
            group_ok.push(count >= g.k);
        }
        match q {
            Member::Witness(i) => signed[i],
            Member::Group(i) => group_ok[i],
        }
    }

    /// The policy name of the witness that made a verified cosignature, matched by key
    /// name and key ID (which commits to the public key).
    pub fn witness_name_for(&self, c: &VerifiedCosignature) -> Option<&str> {
        self.witnesses
            .iter()
            .find(|w| w.verifier.name() == c.name() && w.verifier.key_id() == c.key_id())
            .map(|w| w.name.as_str())
    }

    /// Whether the policy requires any cosignature.
    pub fn requires_witnesses(&self) -> bool {
        self.quorum.is_some()
    }

    pub fn witnesses(&self) -> &[Witness] {
        &self.witnesses
    }

    /// Verifiers of every witness, to pass to checkpoint verification.
    pub fn witness_verifiers(&self) -> Vec<CosignatureVerifier> {
        self.witnesses.iter().map(|w| w.verifier.clone()).collect()
    }

    pub fn logs(&self) -> &[Log] {
        &self.logs
    }

    /// The log with this origin, if the policy lists one.
    pub fn log(&self, origin: &str) -> Option<&Log> {
        self.logs.iter().find(|l| l.origin() == origin)
    }

    /// The jurisdiction the client assigns to the log with this origin (`None` for
    /// unknown logs and for plain `log` lines).
    /// The jurisdiction operating witness `name` (`review-witness`), if the policy says.
    pub fn witness_jurisdiction(&self, name: &str) -> Option<&str> {
        self.witness_jurisdictions.get(name).map(String::as_str)
    }

    /// Whether a cosignature by witness `name` may count for a checkpoint of `origin`:
    /// not when the policy assigns the witness to the log's own jurisdiction.
    pub fn witness_counts_for(&self, name: &str, origin: &str) -> bool {
        match (
            self.witness_jurisdiction(name),
            self.jurisdiction_of(origin),
        ) {
            (Some(w), Some(l)) => w != l,
            _ => true,
        }
    }

    pub fn jurisdiction_of(&self, origin: &str) -> Option<&str> {
        self.log(origin).and_then(|l| l.jurisdiction.as_deref())
    }

    /// Distinct jurisdictions, sorted.
    pub fn jurisdictions(&self) -> Vec<&str> {
        let s: BTreeSet<&str> = self
            .logs
            .iter()
            .filter_map(|l| l.jurisdiction.as_deref())
            .collect();
        s.into_iter().collect()
    }

    pub fn reviewers(&self) -> &[TrustedReviewer] {
        &self.reviewers
    }

    /// Whether `key` may review for `jurisdiction`: listed by a `reviewer` line, or any
    /// key when the jurisdiction has no `reviewer` lines.
    pub fn reviewer_trusted(&self, jurisdiction: &str, key: &[u8; 32]) -> bool {
        let mut restricted = false;
        for r in &self.reviewers {
            if r.jurisdiction == jurisdiction {
                if &r.public_key == key {
                    return true;
                }
                restricted = true;
            }
        }
        !restricted
    }

    /// The jurisdiction a `reviewer` line pins `key` to (a key is on at most one line).
    pub fn reviewer_jurisdiction(&self, key: &[u8; 32]) -> Option<&str> {
        self.reviewers
            .iter()
            .find(|r| &r.public_key == key)
            .map(|r| r.jurisdiction.as_str())
    }

    /// k: how many distinct jurisdictions must certify (0 when there are no review logs).
    pub fn review_quorum(&self) -> usize {
        self.review_quorum.unwrap_or(0)
    }

    /// The criterion a release must be certified for.
    pub fn criteria(&self) -> &str {
        &self.criteria
    }

    /// Custom implications (`implies A B`), not including the built-in one.
    pub fn implications(&self) -> &[(String, String)] {
        &self.implies
    }

    /// Every criterion `c` implies, `c` included (transitive closure, built-ins included).
    pub fn implied_by(&self, c: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![c.to_owned()];
        while let Some(x) = stack.pop() {
            if !out.insert(x.clone()) {
                continue;
            }
            if x == SAFE_TO_DEPLOY {
                stack.push(SAFE_TO_RUN.to_owned());
            }
            for (a, b) in &self.implies {
                if *a == x {
                    stack.push(b.clone());
                }
            }
        }
        out
    }

    pub fn veto(&self) -> Veto {
        self.veto.unwrap_or(Veto::Any)
    }

    pub fn max_checkpoint_age(&self) -> Option<u64> {
        self.max_checkpoint_age
    }

    pub fn delta_across_jurisdictions(&self) -> bool {
        self.delta_across_jurisdictions.unwrap_or(false)
    }

    pub fn accept_unknown_digests(&self) -> bool {
        self.accept_unknown_digests.unwrap_or(false)
    }
}

fn check_new_name(
    line: usize,
    name: &str,
    names: &BTreeMap<String, Member>,
) -> Result<(), PolicyError> {
    if name == "none" {
        return Err(err(line, "`none` is reserved and cannot be defined"));
    }
    if names.contains_key(name) {
        return Err(err(
            line,
            format!("name {name:?} is already defined (witnesses and groups share one namespace)"),
        ));
    }
    Ok(())
}

fn check_token(line: usize, what: &str, s: &str) -> Result<String, PolicyError> {
    if s == "none" || s.starts_with('#') {
        return Err(err(line, format!("{what} {s:?} is reserved")));
    }
    Ok(s.to_owned())
}

fn witness_verifier(line: usize, vkey: &str) -> Result<CosignatureVerifier, PolicyError> {
    let k = note::parse_vkey(vkey).map_err(|e| err(line, format!("bad witness vkey: {e}")))?;
    CosignatureVerifier::from_parsed(&k).map_err(|e| {
        err(
            line,
            format!("bad witness vkey (witness keys are cosignature/v1, type 0x04): {e}"),
        )
    })
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
