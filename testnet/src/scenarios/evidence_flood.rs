//! `evidence-flood`: after one genuine fork of FR's log, DE is sent 300 copies of the
//! evidence, each with its own junk signature line. Evidence is identified by its
//! canonical form (the two checkpoint bodies and the log's own signatures), so DE stores
//! and serves one, and gossip carries one to FR and JP.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{NOTE, Outcome, federation, files_dir, outcome};
use crate::fed::{Bins, http_post};

const COPIES: usize = 300;

/// `evidence` with a junk signature line (named like FR's witness, garbage bytes)
/// appended to its second checkpoint note.
fn with_junk(evidence: &str, i: usize) -> Result<String> {
    let mut lines: Vec<String> = evidence.lines().map(str::to_owned).collect();
    let b64 = lines
        .get(2)
        .and_then(|l| l.strip_prefix("checkpoint "))
        .context("evidence without a second checkpoint line")?;
    let mut note = B64.decode(b64)?;
    let mut junk = (i as u32).to_be_bytes().to_vec();
    junk.extend((0..64).map(|k| (k as u8) ^ (i as u8)));
    note.extend_from_slice(format!("\u{2014} FR/witness {}\n", B64.encode(junk)).as_bytes());
    lines[2] = format!("checkpoint {}", B64.encode(note));
    Ok(lines.join("\n") + "\n")
}

pub(super) fn evidence_flood(bins: &Bins) -> Result<Outcome> {
    let mut fed = federation(bins, &["DE", "FR", "JP"])?;
    let dir = files_dir(&fed, "att")?;
    // FR's operator shows two views: FR (talking to DE) and FR' (same data, same key,
    // talking to JP), each logging a different entry at the same index.
    let x = 1;
    fed.stop(x);
    let x2 = fed.fork(x, "-fork")?;
    fed.nodes[x].peers = vec![0];
    fed.nodes[x2].peers = vec![2];
    fed.stop(2);
    fed.nodes[2].peers = vec![0, x2];
    fed.start(2)?;
    fed.start(x)?;
    fed.start(x2)?;
    let key = fed.nodes[x].inst.reviewer_key.clone();
    let a = fed.review(&key, "flood-test", "0.0.1", &"a1".repeat(32), NOTE, &dir)?;
    let b = fed.review(&key, "flood-test", "0.0.1", &"b2".repeat(32), NOTE, &dir)?;
    crate::fed::ok(fed.submit(x, &[a])?, "submit to FR")?;
    crate::fed::ok(fed.submit(x2, &[b])?, "submit to FR'")?;
    let evidence = crate::fed::wait_for(60, "evidence of FR's fork at DE", || {
        fed.equivocations(0).into_iter().next()
    })?;
    crate::fed::wait_for(60, "evidence of FR's fork at JP", || {
        (!fed.equivocations(2).is_empty()).then_some(())
    })?;
    fed.say(
        "FR and FR' (one key) logged different entries at one index; DE and JP hold the evidence",
    );

    let url = format!("{}/v1/equivocations", fed.url(0));
    let (mut new, mut known) = (0, 0);
    for i in 0..COPIES {
        let (status, body) = http_post(&url, with_junk(&evidence, i)?.as_bytes())?;
        match (status, body.trim()) {
            (200, "new") => new += 1,
            (200, "known") => known += 1,
            other => bail!("DE answered copy {i} with {other:?}"),
        }
    }
    // The unfixed node had gossiped 75 copies to each peer within 3 s.
    std::thread::sleep(Duration::from_secs(3));
    let held: Vec<usize> = [0, x, 2]
        .iter()
        .map(|&i| fed.equivocations(i).len())
        .collect();
    fed.say(format!(
        "{COPIES} junk copies posted to DE: {new} answered new, {known} known; 3 s later \
         DE, FR, JP serve {held:?} evidence texts"
    ));
    // FR is the equivocator: whether it ever holds the evidence against itself does not
    // matter, only that junk copies do not multiply anywhere.
    outcome(
        new == 0 && held[0] == 1 && held[2] == 1 && held[1] <= 1,
        format!(
            "{new} of {COPIES} junk copies stored; DE serves {}, gossip gave FR {} and JP {} evidence text(s)",
            held[0], held[1], held[2]
        ),
    )
}
