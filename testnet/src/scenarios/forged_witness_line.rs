//! `forged-witness-line`: a proxy in front of FR's real node appends to `/checkpoint` a
//! line with DE's witness name and key ID and garbage bytes (what a CDN or anyone on an
//! `http://` path can do). Every package needs FR's vote. `quorate check` must drop the
//! line, keep FR's genuinely cosigned checkpoint, decide every package, never cache the
//! line, and decide the same offline.

use anyhow::{Context, Result};

use super::proxy::{Mode, Proxy, base64, check, policy_via, reviewed_federation};
use super::{Outcome, out_text, outcome};
use crate::fed::Bins;

pub fn run(bins: &Bins) -> Result<Outcome> {
    // Package k is certified by FR and one other: without FR nothing reaches 2 of 3.
    let (fed, n, lock) = reviewed_federation(bins, |k| vec![1, if k % 2 == 0 { 0 } else { 2 }])?;
    let de_witness = &fed.nodes[0].inst.witness_vkey;
    let mut parts = de_witness.split('+');
    let name = parts.next().context("witness vkey")?;
    let id = parts.next().context("witness vkey key ID")?;
    let mut sig = (0..4)
        .map(|i| u8::from_str_radix(id.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .context("witness key ID")?;
    sig.extend_from_slice(&[0xAB; 72]);
    let forged = format!("\u{2014} {name} {}\n", base64(&sig));
    let proxy = Proxy::start(&fed.url(1), Mode::AppendLine(forged.clone()))?;
    fed.say(format!(
        "FR's /checkpoint (via {}) carries an extra line by DE's witness key with garbage bytes",
        proxy.url
    ));
    let policy = policy_via(&fed, 1, &proxy.url)?;
    let cache = fed.root.join("cache");
    let check = |extra: &[&str]| check(&fed, &lock, &policy, extra);
    let (online, took) = check(&[])?;
    let out = out_text(&online);
    let with_fr = out.matches("needed): DE, FR;").count() + out.matches("needed): FR, JP;").count();
    let dropped = out.contains("dropped 1 signature line");
    fed.say(format!(
        "check online: exit {:?}, {with_fr}/{n} packages certified with FR's vote, forged line dropped: {dropped}",
        online.status.code()
    ));
    let (offline, _) = check(&["--offline"])?;
    let off = out_text(&offline);
    let with_fr_off =
        off.matches("needed): DE, FR;").count() + off.matches("needed): FR, JP;").count();
    fed.say(format!(
        "check --offline: exit {:?}, {with_fr_off}/{n} with FR",
        offline.status.code()
    ));
    // No cached checkpoint holds the forged line.
    let mut cached_forged = false;
    for e in std::fs::read_dir(&cache)?.flatten() {
        if let Ok(t) = std::fs::read_to_string(e.path().join("checkpoint")) {
            cached_forged |= t.contains(forged.trim_end());
        }
    }
    outcome(
        online.status.success()
            && offline.status.success()
            && with_fr == n
            && with_fr_off == n
            && dropped
            && !cached_forged,
        format!(
            "forged witness line dropped, never cached; check decided {with_fr}/{n} packages with FR's vote in {:.0} ms (exit {}), and {with_fr_off}/{n} offline (exit {})",
            took * 1000.0,
            online.status.code().unwrap_or(-1),
            offline.status.code().unwrap_or(-1)
        ),
    )
}
