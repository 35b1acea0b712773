//! `busy-log`: an honest log under sustained submissions keeps its vote. FR takes 100
//! sequential submissions while `quorate check` runs in a tight loop on a package that
//! needs all three jurisdictions (quorum 3, two witnesses each): a check that adopted a
//! checkpoint whose cosigning round had not finished would lose FR's vote.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use super::{
    NOTE, Outcome, certified_by_all, federation, files_dir, first_line_with, out_text, outcome,
};
use crate::fed::{Bins, lockfile};

const SUBMISSIONS: u64 = 100;

pub(super) fn busy_log(bins: &Bins) -> Result<Outcome> {
    let fed = federation(bins, &["DE", "FR", "JP"])?;
    let dir = files_dir(&fed, "att")?;
    let (name, ver, sum) = certified_by_all(&fed, 5, &dir)?;
    let policy = fed.root.join("all3.policy");
    fed.policy(&[0, 1, 2], 3, 2, &policy)?;
    let lock = fed.root.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&[(name.clone(), ver, sum)]))?;
    let cache = fed.root.join("cache");
    let check = || {
        fed.q(&[
            "check",
            lock.to_str().unwrap_or_default(),
            "--policy",
            policy.to_str().unwrap_or_default(),
            "--cache",
            cache.to_str().unwrap_or_default(),
            "-v",
        ])
    };
    let first = check()?;
    if !first.status.success() {
        bail!(
            "the package is not certified before the load: {}",
            out_text(&first)
        );
    }
    let x = 1;
    let key = fed.nodes[x].inst.reviewer_key.clone();
    let files: Vec<PathBuf> = (0..SUBMISSIONS)
        .map(|k| {
            fed.review(
                &key,
                "busy-log",
                &format!("0.0.{k}"),
                &format!("{:064x}", k + 1),
                NOTE,
                &dir,
            )
        })
        .collect::<Result<_>>()?;
    fed.say(format!(
        "DE, FR, JP each certify {name}; policy needs all three; {SUBMISSIONS} reviews ready for FR"
    ));
    let (cli, url, vkey) = (
        fed.bins.cli.clone(),
        fed.url(x),
        fed.nodes[x].inst.log_vkey.clone(),
    );
    let submitter = std::thread::spawn(move || {
        files
            .iter()
            .filter(|f| {
                Command::new(&cli)
                    .args(["submit", "--node", &url, "--log", &vkey])
                    .arg(f)
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .count()
    });
    let (mut checks, mut lost, mut why) = (0, 0, String::new());
    let size_before = fed.size(x).unwrap_or(0);
    while !submitter.is_finished() {
        let o = check()?;
        checks += 1;
        if !o.status.success() {
            lost += 1;
            if why.is_empty() {
                why = first_line_with(&out_text(&o), "witness");
            }
        }
    }
    let acked = submitter.join().unwrap_or(0);
    let size_after = fed.size(x).unwrap_or(0);
    fed.say(format!(
        "FR grew from {size_before} to {size_after} entries ({acked} submissions acknowledged); \
         {checks} checks ran meanwhile, {lost} without FR's vote{}",
        if why.is_empty() {
            String::new()
        } else {
            format!(" (first: {why})")
        }
    ));
    outcome(
        lost == 0 && checks > 0 && acked as u64 == SUBMISSIONS,
        format!("{lost} of {checks} checks lost FR's vote during {acked} submissions"),
    )
}
