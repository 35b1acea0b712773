//! Issue 9, items 1-4 on real processes: three `quorate-node` institutes (DE, FR, JP)
//! cosigned by a real `quorate-witness`, with FR reached through a hostile proxy
//! (client/tests/hostile) that answers `/checkpoint` with an absurd size, garbage, a stall,
//! an endless body, a wrong key, a forged witness line, or a checkpoint stripped of its
//! cosignatures. The real `quorate check` must decide every package from the other
//! jurisdictions, name FR as unproven with the reason before the table, exit as the quorum
//! dictates, never panic, and finish within the per-log budget.

mod hostile;
mod nodes;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostile::{HostileProxy, Mode};
use nodes::*;
use quorate_client::dirnames::origin_dir;
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::{self, Ed25519Verifier, NoteSignature, NoteVerifier, Signer};

struct Setup {
    t: Tmp,
    _witness: WitnessProc,
    w0: CosignatureVerifier,
    insts: Vec<Institute>,
    keys: Vec<(PathBuf, PathBuf)>,
    fr: HostileProxy,
}

const DE: usize = 0;
const FR: usize = 1;
const JP: usize = 2;

impl Setup {
    /// DE, FR, JP nodes asking one real witness to cosign; FR behind a proxy.
    fn new(tag: &str) -> Setup {
        let t = Tmp::new(tag);
        let dir = t.path();
        let mut keys = Vec::new();
        let mut inited = Vec::new();
        for j in ["DE", "FR", "JP"] {
            let k = reviewer(dir, &format!("rev-{}", j.to_lowercase()));
            inited.push(Institute::init(dir, j, &[&k.1]));
            keys.push(k);
        }
        let vkeys: Vec<&str> = inited.iter().map(|i| i.vkey.as_str()).collect();
        let witness = WitnessProc::start(dir, "witness.test/w0", &vkeys);
        let w0 = CosignatureVerifier::from_vkey(&witness.vkey).unwrap();
        let cfg = witness.node_config();
        let insts: Vec<Institute> = inited.into_iter().map(|i| i.serve(Some(&cfg))).collect();
        let fr = HostileProxy::start(&insts[FR].url);
        Setup {
            t,
            _witness: witness,
            w0,
            insts,
            keys,
            fr,
        }
    }

    fn dir(&self) -> &Path {
        self.t.path()
    }

    /// Reviews `pkg@1.0.0` by jurisdiction `i` and submits it straight to its node.
    fn publish(&self, i: usize, pkg: &str, n: u8) {
        let out = self.dir().join(format!("{pkg}-{i}.att"));
        ok(&q(&[
            "review",
            "--key",
            s(&self.keys[i].0),
            "--package",
            &format!("crates.io/{pkg}@1.0.0"),
            "--digest",
            &d(n),
            "--criteria",
            "safe-to-deploy",
            "--out",
            s(&out),
        ]));
        ok(&q(&[
            "submit",
            "--node",
            &self.insts[i].url,
            "--log",
            &self.insts[i].vkey,
            s(&out),
        ]));
    }

    /// The node's checkpoint size once the witness has cosigned it at `size` or more.
    fn wait_cosigned(&self, i: usize, size: u64) {
        let log = Ed25519Verifier::from_vkey(&self.insts[i].vkey).unwrap();
        let url = format!("{}/checkpoint", self.insts[i].url);
        let t = Instant::now();
        loop {
            let body = ureq::get(&url)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_vec().ok());
            if let Some(b) = body
                && let Ok(v) = verify_checkpoint(&b, &log, std::slice::from_ref(&self.w0))
                && v.checkpoint().size() >= size
                && v.cosignatures().len() == 1
            {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{} not cosigned at size {size}",
                self.insts[i].origin
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `quorum w0` (or none), FR's URL the proxy's, 2 of 3 jurisdictions.
    fn policy(&self, witnessed: bool) -> PathBuf {
        let mut t = if witnessed {
            format!("witness w0 {}\nquorum w0\n", self.w0.vkey())
        } else {
            "quorum none\n".to_owned()
        };
        for (i, inst) in self.insts.iter().enumerate() {
            let url = if i == FR { &self.fr.url } else { &inst.url };
            t.push_str(&format!(
                "review-log {} {} {url}\n",
                inst.jurisdiction, inst.vkey
            ));
        }
        t.push_str("review-quorum 2\n");
        let p = self.dir().join(format!("w{witnessed}.policy"));
        std::fs::write(&p, t).unwrap();
        p
    }

    fn lock(&self, pkgs: &[(&str, u8)]) -> PathBuf {
        let rows: Vec<(&str, &str, String)> =
            pkgs.iter().map(|(p, n)| (*p, "1.0.0", d(*n))).collect();
        let rows: Vec<(&str, &str, &str)> =
            rows.iter().map(|(a, b, c)| (*a, *b, c.as_str())).collect();
        let p = self.dir().join(format!("Cargo-{}.lock", pkgs.len()));
        std::fs::write(&p, lockfile(&rows)).unwrap();
        p
    }

    /// FR's log signing key, as a hostile operator holds it.
    fn fr_signer(&self) -> Signer {
        let k = std::fs::read_to_string(self.insts[FR].data.join("log.key")).unwrap();
        Signer::from_skey(k.trim()).unwrap()
    }

    fn fr_origin(&self) -> &str {
        &self.insts[FR].origin
    }
}

/// `quorate check` with a short per-log budget; the output and how long it took.
fn check(
    lock: &Path,
    policy: &Path,
    cache: &Path,
    extra: &[&str],
) -> (std::process::Output, Duration) {
    let mut a = vec![
        "check",
        s(lock),
        "--policy",
        s(policy),
        "--cache",
        s(cache),
        "--log-timeout",
        "3",
    ];
    a.extend_from_slice(extra);
    let t = Instant::now();
    let o = q(&a);
    (o, t.elapsed())
}

/// Asserts: exit `code`, no panic, FR named unproven with `reason` before the first row.
fn assert_fr_unproven(o: &std::process::Output, code: i32, reason: &str) {
    let out = stdout(o);
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(code), "{out}\n{err}");
    let warn = out
        .lines()
        .position(|l| l.contains("log fr.test/quorate/log (FR) is unproven") && l.contains(reason))
        .unwrap_or_else(|| panic!("FR not named unproven with {reason:?}:\n{out}"));
    let first_row = out
        .lines()
        .position(|l| l.contains(" certify ("))
        .unwrap_or_else(|| panic!("no rows:\n{out}"));
    assert!(warn < first_row, "reason named after the table:\n{out}");
}

#[test]
fn one_hostile_log_costs_only_its_own_vote() {
    let f = Setup::new("hostile");
    for i in [DE, FR, JP] {
        for (pkg, n) in [("alpha", 1), ("beta", 2), ("gamma", 3)] {
            f.publish(i, pkg, n);
        }
    }
    for i in [DE, FR, JP] {
        f.wait_cosigned(i, 3);
    }
    let lock = f.lock(&[("alpha", 1), ("beta", 2), ("gamma", 3)]);
    let (pw, pn) = (f.policy(true), f.policy(false));
    // Honest: all three jurisdictions certify.
    let honest = f.dir().join("cache-honest");
    let (o, _) = check(&lock, &pw, &honest, &[]);
    let out = ok(&o);
    assert_eq!(
        out.matches("3 jurisdictions certify (2 needed): DE, FR, JP")
            .count(),
        3,
        "{out}"
    );

    let signer = f.fr_signer();
    let absurd = {
        let cp = Checkpoint::new(f.fr_origin(), 1 << 62, [7; 32], vec![]).unwrap();
        note::sign(&cp.to_text(), &[&signer]).unwrap().into_bytes()
    };
    let wrong_key = {
        let other = Signer::generate(f.fr_origin(), [9; 32]).unwrap();
        let cp = Checkpoint::new(f.fr_origin(), 3, [7; 32], vec![]).unwrap();
        note::sign(&cp.to_text(), &[&other]).unwrap().into_bytes()
    };
    let cases: Vec<(&str, Mode, &Path, &str)> = vec![
        (
            "absurd size",
            Mode::Fixed(absurd.clone()),
            &pw,
            "checkpoint of size 4611686018427387904 is cosigned by too few of the policy's witnesses (cosigned: none)",
        ),
        (
            "absurd size, no witnesses required",
            Mode::Fixed(absurd.clone()),
            &pn,
            "cannot read the log's tiles",
        ),
        (
            "garbage",
            Mode::Fixed(b"\x00\xffnot a checkpoint\n".repeat(500)),
            &pw,
            "node's checkpoint does not verify",
        ),
        (
            "wrong key",
            Mode::Fixed(wrong_key),
            &pw,
            "node's checkpoint does not verify",
        ),
        ("stall", Mode::Stall, &pw, "cannot fetch checkpoint"),
        (
            "endless body",
            Mode::Endless,
            &pw,
            "response longer than 65536 bytes",
        ),
    ];
    for (label, mode, policy, reason) in cases {
        f.fr.set(mode);
        let cache = f
            .dir()
            .join(format!("cache-{}", label.replace([' ', ','], "-")));
        let (o, took) = check(&lock, policy, &cache, &[]);
        eprintln!("{label}: check took {:.2} s", took.as_secs_f64());
        assert_fr_unproven(&o, 0, reason);
        let out = stdout(&o);
        assert_eq!(
            out.matches("2 jurisdictions certify (2 needed): DE, JP; missing FR")
                .count(),
            3,
            "{label}:\n{out}"
        );
        assert!(
            out.contains("Checked 3 packages: all pass"),
            "{label}:\n{out}"
        );
    }

    // With a cosigned checkpoint already mirrored, an absurd new one is refused and FR
    // keeps its vote from the checkpoint the witness cosigned.
    f.fr.set(Mode::Fixed(absurd));
    let (o, _) = check(&lock, &pw, &honest, &[]);
    let out = ok(&o);
    assert_eq!(
        out.matches("3 jurisdictions certify (2 needed): DE, FR, JP")
            .count(),
        3,
        "{out}"
    );
    assert!(
        out.contains("cosigned by too few of the policy's witnesses"),
        "{out}"
    );
    assert!(
        out.contains("using the cached checkpoint of size 3"),
        "{out}"
    );
}

#[test]
fn forged_witness_line_is_dropped_and_the_cosigned_checkpoint_kept() {
    let f = Setup::new("forged-line");
    for i in [DE, FR, JP] {
        f.publish(i, "alpha", 1);
    }
    f.publish(DE, "delta", 4);
    f.publish(FR, "delta", 4);
    f.wait_cosigned(DE, 2);
    f.wait_cosigned(FR, 2);
    f.wait_cosigned(JP, 1);
    let lock = f.lock(&[("alpha", 1), ("delta", 4)]);
    let pw = f.policy(true);
    let forged = NoteSignature::new(f.w0.name(), f.w0.key_id(), vec![0xAB; 72])
        .unwrap()
        .to_line();
    f.fr.set(Mode::AppendLine(forged.clone()));

    // Online: the forged line is dropped and FR's vote counts (delta needs it).
    let cache = f.dir().join("cache");
    let (o, _) = check(&lock, &pw, &cache, &[]);
    let out = ok(&o);
    assert!(
        out.contains("delta 1.0.0  2 jurisdictions certify (2 needed): DE, FR"),
        "{out}"
    );
    assert!(out.contains("dropped 1 signature line(s)"), "{out}");
    let cached = cache.join(origin_dir(f.fr_origin())).join("checkpoint");
    let text = std::fs::read_to_string(&cached).unwrap();
    assert!(
        !text.contains(forged.trim_end()),
        "unverified line cached:\n{text}"
    );
    // Offline from that cache.
    let (o, _) = check(&lock, &pw, &cache, &["--offline"]);
    assert!(ok(&o).contains("delta 1.0.0  2 jurisdictions certify (2 needed): DE, FR"));
    // A cache an older version wrote, forged line included, does not abort either.
    std::fs::write(&cached, format!("{text}{forged}")).unwrap();
    let (o, _) = check(&lock, &pw, &cache, &["--offline"]);
    assert!(ok(&o).contains("delta 1.0.0  2 jurisdictions certify (2 needed): DE, FR"));

    // FR grows, and its newest checkpoint is served before any witness cosigned it (the
    // proxy strips the cosignatures): the mirror keeps the cosigned one, FR keeps its vote.
    f.fr.set(Mode::OnlySignedBy(f.fr_origin().to_owned()));
    f.publish(FR, "epsilon", 5);
    f.wait_cosigned(FR, 3);
    let (o, _) = check(&lock, &pw, &cache, &[]);
    let out = ok(&o);
    assert!(
        out.contains("delta 1.0.0  2 jurisdictions certify (2 needed): DE, FR"),
        "{out}"
    );
    assert!(
        out.contains("checkpoint of size 3 is cosigned by too few")
            && out.contains("using the cached checkpoint of size 2"),
        "{out}"
    );
    // With nothing cosigned mirrored yet, FR is unproven and the quorum decides: delta
    // (DE and FR) fails, alpha (DE and JP) passes.
    let (o, _) = check(&lock, &pw, &f.dir().join("cache-fresh"), &[]);
    assert_fr_unproven(&o, 1, "cosigned by too few of the policy's witnesses");
    let out = stdout(&o);
    assert!(
        out.contains("alpha 1.0.0  2 jurisdictions certify (2 needed): DE, JP; missing FR"),
        "{out}"
    );
    assert!(
        out.contains("delta 1.0.0  1 jurisdiction certifies (2 needed): DE; missing FR, JP"),
        "{out}"
    );
}
