//! `quorate-testnet bench --quick` on real processes: every row of the table is there,
//! each with a number (or, for a figure with no harness yet, "not measured" and why),
//! and every floor is a positive number. Nothing here judges a speed.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_quorate-testnet");

/// Row labels (prefixes) the table must hold, and whether each must carry a number.
const ROWS: &[(&str, bool)] = &[
    ("durable appends/s, node", true),
    ("ack latency p50 at concurrency 1 ", true),
    ("ack latency p50 at concurrency 16 ", true),
    ("ack latency p50 at concurrency 256 ", true),
    ("before: ack latency p50 at concurrency 1 ", true),
    ("before: ack latency p50 at concurrency 16 ", true),
    ("before: ack latency p50 at concurrency 256 ", true),
    ("node store: bytes on disk per entry beyond the entry", true),
    ("inclusion proof p99 at ", true),
    ("restart to serving at ", true),
    (
        "verify (re-hash every entry, check every checkpoint) at ",
        true,
    ),
    ("witness add-checkpoint/s, durable, in-process core", true),
    (
        "witness add-checkpoint/s, durable, HTTP loopback, 1 conn",
        true,
    ),
    (
        "witness add-checkpoint/s, durable, HTTP loopback, 4 logs/conns",
        true,
    ),
    ("checkpoint -> all ", true),
    ("idle CPU per node", true),
    ("check of ", true),
    ("check from a packed bundle of ", true),
    ("check peak memory", true),
    ("cold mirror of 5 logs x ", true),
    ("cold mirror bytes on the wire, 5 logs x ", true),
    ("node RSS at the end of a ", true),
    ("witness RSS at the end of a ", true),
];

fn leading_number(cell: &str) -> Option<f64> {
    cell.split_whitespace().next()?.parse().ok()
}

#[test]
fn quick_bench_prints_every_row_with_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["bench", "--quick", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    eprintln!("{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "bench --quick failed");

    let floors = out
        .lines()
        .find(|l| l.starts_with("floors on "))
        .expect("no floors line");
    for name in ["verify_strict", "verify_batch", "sign", "SHA-256", "fsync"] {
        assert!(floors.contains(name), "floors line lacks {name}: {floors}");
    }

    let rows: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| figure") && !l.starts_with("|---"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), ROWS.len(), "rows: {rows:?}");
    for (label, numeric) in ROWS {
        let row = rows
            .iter()
            .find(|r| r[0].starts_with(label))
            .unwrap_or_else(|| panic!("no row {label:?}"));
        assert_eq!(row.len(), 5, "{row:?}");
        if *numeric {
            let v = leading_number(row[1]).unwrap_or_else(|| panic!("{label}: {:?}", row[1]));
            assert!(v.is_finite() && v >= 0.0, "{label}: {v}");
            if row[2] != "-" {
                let floor = leading_number(row[2]).unwrap();
                assert!(floor > 0.0, "{label}: floor {floor}");
                assert!(
                    leading_number(row[3]).is_some(),
                    "{label}: ratio {:?}",
                    row[3]
                );
            }
        } else {
            let reason = row[1]
                .strip_prefix("not measured: ")
                .unwrap_or_else(|| panic!("{label}: {:?}", row[1]));
            assert!(reason.len() > 20, "{label}: no reason given");
        }
    }
}
