//! `hostile-size`: FR's operator signs a checkpoint of size 2^62 with FR's real log key
//! and serves it (through a proxy in front of FR's real node). `quorate check` must not
//! believe the size before the policy's witnesses cosigned it: no panic, no allocation,
//! no loop; FR is reported unproven and DE and JP decide every package.

use anyhow::Result;

use super::proxy::{Mode, Proxy, check, policy_via, reviewed_federation};
use super::{Outcome, out_text, outcome};
use crate::fed::{Bins, ok};

pub fn run(bins: &Bins) -> Result<Outcome> {
    let (fed, n, lock) = reviewed_federation(bins, |_| vec![0, 1, 2])?;
    let fr = &fed.nodes[1].inst;
    let origin = fr.log_vkey.split('+').next().unwrap_or_default().to_owned();
    let text = fed.root.join("absurd-checkpoint.txt");
    std::fs::write(
        &text,
        format!("{origin}\n4611686018427387904\n{}=\n", "A".repeat(43)),
    )?;
    let key = fr.data.join("log.key");
    let note = ok(
        fed.q(&[
            "note",
            "sign",
            "--key",
            key.to_str().unwrap_or_default(),
            text.to_str().unwrap_or_default(),
        ])?,
        "quorate note sign",
    )?;
    let proxy = Proxy::start(&fr.url(), Mode::Fixed(note.into_bytes()))?;
    fed.say(format!(
        "FR's /checkpoint (via {}) now serves size 4611686018427387904, signed by FR's log key",
        proxy.url
    ));
    let policy = policy_via(&fed, 1, &proxy.url)?;
    let (o, took) = check(&fed, &lock, &policy, &["--log-timeout", "20"])?;
    let out = out_text(&o);
    let decided = out.contains(&format!("Checked {n} packages: all pass"));
    let by_others = out.matches("needed): DE, JP; missing FR").count();
    let reason = out
        .lines()
        .find(|l| l.contains("is unproven"))
        .and_then(|l| l.split_once("its vote is missing: "))
        .map(|(_, r)| r.trim().to_owned())
        .unwrap_or_default();
    fed.say(format!("check: exit {:?}; FR: {reason}", o.status.code()));
    outcome(
        o.status.success()
            && decided
            && by_others == n
            && reason.contains("cosigned by too few")
            && !out.contains("panicked"),
        format!(
            "check decided {by_others}/{n} packages from 2 other jurisdictions in {:.0} ms (exit {}); FR reported unproven: {}",
            took * 1000.0,
            o.status.code().unwrap_or(-1),
            reason.split(';').next().unwrap_or_default()
        ),
    )
}
