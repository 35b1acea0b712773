//! Packed bundles (`quorate bundle --packed`, "quorate-bundle v2"): the same decisions as
//! a bundle of files, and hostile packs (a flipped byte, a truncation, records out of
//! order, another log's checkpoint, an unknown version) cost what they damage and no
//! more, each named. The bundles come from `quorate bench-check --dir`, which writes one
//! generated lockfile, its policy (5 jurisdictions, quorum 3) and the same entries in both
//! layouts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MAGIC: &[u8] = b"quorate-bundle-pack v1\n";

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn quorate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quorate"))
        .args(args)
        .output()
        .expect("run quorate")
}

fn check(dir: &Path, bundle: &Path) -> Output {
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    quorate(&[
        "check",
        &s(dir.join("Cargo.lock")),
        "--policy",
        &s(dir.join("quorate.policy")),
        "--bundle",
        &s(bundle.to_path_buf()),
        "--now",
        "1800000000",
        "--json",
    ])
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// Each package's whole verdict (pass, reason, who certified, from which logs).
fn verdicts(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p.to_string())
        .collect();
    out.sort();
    out
}

fn warnings(v: &serde_json::Value) -> String {
    v["warnings"].to_string()
}

/// Byte offsets where each record of a pack starts, and the end.
fn record_starts(b: &[u8]) -> Vec<usize> {
    let mut at = MAGIC.len();
    let mut out = vec![];
    while at < b.len() {
        out.push(at);
        let len = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
        let n = usize::from(b[at + 2 + len + 8]);
        at += 2 + len + 8 + 1 + 32 * n;
    }
    out.push(at);
    out
}

/// A fresh copy of the packed bundle to damage.
fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// The log directories of a bundle, sorted.
fn log_dirs(b: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("entries.pack").is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn packed_bundles_decide_like_files_and_hostile_packs_cost_only_what_they_damage() {
    let dir = std::env::temp_dir().join(format!("quorate-packed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _t = Tmp(dir.clone());
    let d = dir.to_string_lossy().into_owned();
    let o = quorate(&[
        "bench-check",
        "--packages",
        "12",
        "--runs",
        "1",
        "--dir",
        &d,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = dir.join("bundle");
    let packed = dir.join("bundle-packed");
    assert_eq!(
        std::fs::read_to_string(packed.join("quorate-bundle")).unwrap(),
        "quorate-bundle v2\n"
    );
    let logs = log_dirs(&packed);
    assert_eq!(logs.len(), 5);

    // Same decisions from both layouts: every package passes with all 5 jurisdictions.
    let a = check(&dir, &files);
    let b = check(&dir, &packed);
    assert_eq!(
        b.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&b.stdout)
    );
    let (va, vb) = (json(&a), json(&b));
    assert_eq!(verdicts(&va), verdicts(&vb));
    assert_eq!(warnings(&vb), "[]");
    assert_eq!(vb["summary"]["fail"], 0, "{vb}");

    let case = |name: &str, damage: &dyn Fn(&Path)| -> (Output, serde_json::Value) {
        let c = dir.join(name);
        copy(&packed, &c);
        damage(&c);
        let o = check(&dir, &c);
        let v = json(&o);
        (o, v)
    };
    let pack_of = |c: &Path, i: usize| c.join(logs[i].file_name().unwrap()).join("entries.pack");

    // A flipped byte inside one record's envelope: that entry is refused, named by its
    // record number; quorum 3 of 5 still passes everything.
    let (o, v) = case("flipped", &|c| {
        let p = pack_of(c, 0);
        let mut b = std::fs::read(&p).unwrap();
        let at = record_starts(&b)[0] + 2 + 40;
        b[at] ^= 0x01;
        std::fs::write(&p, b).unwrap();
    });
    assert_eq!(o.status.code(), Some(0));
    let w = warnings(&v);
    assert!(w.contains("entries.pack record 1 (index 0)"), "{w}");
    assert_eq!(w.matches("record ").count(), 1, "{w}");

    // Truncated in the middle of the third record: two records read, the rest named lost.
    let (_, v) = case("truncated", &|c| {
        let p = pack_of(c, 1);
        let b = std::fs::read(&p).unwrap();
        let cut = record_starts(&b)[2] + 7;
        std::fs::write(&p, &b[..cut]).unwrap();
    });
    let w = warnings(&v);
    assert!(w.contains("is truncated"), "{w}");
    assert!(w.contains("the 2 records before it are read"), "{w}");

    // Records swapped: the second is refused as out of order (a replayed or reordered
    // pack is framed strictly).
    let (_, v) = case("reordered", &|c| {
        let p = pack_of(c, 2);
        let b = std::fs::read(&p).unwrap();
        let s = record_starts(&b);
        let mut out = b[..s[0]].to_vec();
        out.extend_from_slice(&b[s[1]..s[2]]);
        out.extend_from_slice(&b[s[0]..s[1]]);
        out.extend_from_slice(&b[s[2]..]);
        std::fs::write(&p, out).unwrap();
    });
    assert!(
        warnings(&v).contains("not after the previous record's"),
        "{v}"
    );

    // Another log's checkpoint in place of this one's: nothing of this log is proven,
    // said once for the log (not once per entry).
    let (_, v) = case("wrong-checkpoint", &|c| {
        let from = c.join(logs[4].file_name().unwrap()).join("checkpoint");
        let to = c.join(logs[3].file_name().unwrap()).join("checkpoint");
        std::fs::copy(from, to).unwrap();
    });
    let w = warnings(&v);
    assert!(
        w.contains("'s checkpoint; no entry of this log is proven included"),
        "{w}"
    );
    assert_eq!(w.matches("proven included").count(), 1, "{w}");

    // Three logs' packs emptied to garbage: three votes lost, quorum 3 of 5 fails.
    let (o, v) = case("three-gone", &|c| {
        for i in 0..3 {
            std::fs::write(pack_of(c, i), b"junk").unwrap();
        }
    });
    assert_eq!(o.status.code(), Some(1), "{v}");
    assert_eq!(warnings(&v).matches("not an entry pack").count(), 3, "{v}");

    // An unknown bundle version is refused as a whole, naming it.
    let c = dir.join("v9");
    copy(&packed, &c);
    std::fs::write(c.join("quorate-bundle"), "quorate-bundle v9\n").unwrap();
    let o = check(&dir, &c);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unsupported bundle version \"quorate-bundle v9\""),
        "{err}"
    );
}
