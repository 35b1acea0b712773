//! Evidence cannot fill the cache: junk-line copies of one fork are one file, a log's
//! endless forks are capped per log on storing and loading, and paged
//! `/v1/equivocations` responses are followed to the end.

use std::io::{Read, Write};
use std::path::PathBuf;

use base64::Engine as _;
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::note::{self, Signer};

use super::*;
use crate::mirror::{MirrorOptions, fetch_evidence};
use crate::net::Limits;

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("quorate-evflood-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Genuine evidence that `signer`'s log forked at size `k + 1` (two roots).
fn fork(signer: &Signer, origin: &str, k: u64) -> (String, String) {
    let a = Checkpoint::new(origin, k + 1, [1; 32], vec![]).unwrap();
    let b = Checkpoint::new(origin, k + 1, [2; 32], vec![]).unwrap();
    (
        note::sign(&a.to_text(), &[signer]).unwrap(),
        note::sign(&b.to_text(), &[signer]).unwrap(),
    )
}

/// The evidence text with a junk signature line (verification ignores it) on note A.
fn with_junk((a, b): &(String, String), i: usize) -> String {
    let sig = base64::engine::general_purpose::STANDARD.encode([i as u8; 68]);
    let a = format!("{a}\u{2014} junk{i}.example {sig}\n");
    Equivocation::same_size(a.as_bytes(), b.as_bytes()).to_text()
}

fn files(dir: &Path) -> usize {
    fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

fn setup(tag: &str, extra: &str) -> (Tmp, Signer, Signer, Policy) {
    let t = Tmp::new(tag);
    let a = Signer::generate("a.test/log", [7; 32]).unwrap();
    let b = Signer::generate("b.test/log", [8; 32]).unwrap();
    let pol = Policy::parse(&format!(
        "log {}{extra}\nlog {}\nquorum none\n",
        a.vkey(),
        b.vkey()
    ))
    .unwrap();
    (t, a, b, pol)
}

#[test]
fn junk_line_copies_are_one_file_and_forks_are_capped_per_log() {
    let (t, a, _, pol) = setup("store", "");
    let cache = &t.0;
    let dir = cache.join("equivocations").join(origin_dir("a.test/log"));
    let f0 = fork(&a, "a.test/log", 0);
    for i in 0..40 {
        let v = verify_evidence_full(&pol, with_junk(&f0, i).as_bytes()).unwrap();
        assert!(store_evidence(cache, &v));
    }
    assert_eq!(files(&dir), 1, "junk-line copies of one fork");
    // The log signs many more forks of itself: at most the cap is kept.
    for k in 1..20 {
        let v = verify_evidence_full(&pol, with_junk(&fork(&a, "a.test/log", k), 0).as_bytes())
            .unwrap();
        store_evidence(cache, &v);
    }
    assert_eq!(files(&dir), MAX_EVIDENCE_PER_ORIGIN);
    // Stored canonical: no junk line survives.
    for e in fs::read_dir(&dir).unwrap() {
        let text = fs::read_to_string(e.unwrap().path()).unwrap();
        let ev = Equivocation::parse(text.as_bytes()).unwrap();
        assert_eq!(verify_evidence(&pol, text.as_bytes()).unwrap().1, ev);
    }
    let (mut out, mut w) = (BTreeMap::new(), Vec::new());
    load_evidence(&pol, cache, &mut out, &mut w);
    assert_eq!(out["a.test/log"].len(), MAX_EVIDENCE_PER_ORIGIN);
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn loading_reads_a_bounded_number_of_files_and_says_so() {
    let (t, a, _, pol) = setup("load", "");
    let cache = &t.0;
    // Written by hand (or by earlier versions, flat and as received): 30 junk-line copies
    // and 30 distinct forks, plus junk files, more than one run reads.
    let root = cache.join("equivocations");
    fs::create_dir_all(&root).unwrap();
    let f0 = fork(&a, "a.test/log", 0);
    for i in 0..30 {
        let t = with_junk(&f0, i);
        fs::write(
            root.join(hex(&Equivocation::parse(t.as_bytes()).unwrap().id())),
            t,
        )
        .unwrap();
        let t = with_junk(&fork(&a, "a.test/log", i as u64 + 1), i);
        fs::write(root.join(format!("f{i:03}")), t).unwrap();
    }
    for i in 0..(2 * MAX_EVIDENCE_FILES_READ) {
        fs::write(
            root.join(format!("junk{i:04}")),
            "quorate-equivocation/v1\n",
        )
        .unwrap();
    }
    let (mut out, mut w) = (BTreeMap::new(), Vec::new());
    load_evidence(&pol, cache, &mut out, &mut w);
    assert_eq!(out.len(), 1);
    assert_eq!(out["a.test/log"].len(), MAX_EVIDENCE_PER_ORIGIN);
    assert!(
        w.iter().any(|x| x.contains("the others were ignored")),
        "{w:?}"
    );
    // Verified flat files moved to the log's directory, capped there.
    assert_eq!(
        files(&root.join(origin_dir("a.test/log"))),
        MAX_EVIDENCE_PER_ORIGIN
    );
    assert!(files(&root) < 60 + 2 * MAX_EVIDENCE_FILES_READ);
}

/// Serves `/v1/equivocations` in pages: page `i` is `pages[i]`, with a `Link` to page
/// `i + 1` when there is one. Stops when the test ends (the listener is dropped with
/// the process).
fn serve_pages(pages: Vec<String>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = req.split_whitespace().nth(1).unwrap_or("");
            let page = match path {
                "/v1/equivocations" => Some(0),
                p => p
                    .strip_prefix("/v1/equivocations?after=p")
                    .and_then(|r| r.split('&').next())
                    .and_then(|x| x.parse::<usize>().ok()),
            };
            let resp = match page.and_then(|i| pages.get(i).map(|b| (i, b))) {
                Some((i, body)) => {
                    let link = if i + 1 < pages.len() {
                        format!(
                            "link: </v1/equivocations?after=p{}&limit=2>; rel=\"next\"\r\n",
                            i + 1
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{link}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                }
                None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .into(),
            };
            let _ = c.write_all(resp.as_bytes());
        }
    });
    url
}

#[test]
fn every_page_of_evidence_is_read_and_a_flood_stays_capped() {
    let a = Signer::generate("a.test/log", [7; 32]).unwrap();
    let b = Signer::generate("b.test/log", [8; 32]).unwrap();
    let f0 = fork(&a, "a.test/log", 0);
    // Page 1: 50 junk-line copies of one fork of A. Page 2: the only evidence against B,
    // and ten more forks of A.
    let page1: Vec<String> = (0..50).map(|i| with_junk(&f0, i)).collect();
    let mut page2 = vec![with_junk(&fork(&b, "b.test/log", 3), 1)];
    page2.extend((1..11).map(|k| with_junk(&fork(&a, "a.test/log", k), 0)));
    let url = serve_pages(vec![
        serde_json::to_string(&page1).unwrap(),
        serde_json::to_string(&page2).unwrap(),
    ]);
    let (t, _, _, pol) = setup("pages", &format!(" {url}"));
    let opts = MirrorOptions {
        cache: t.0.clone(),
        offline: false,
        progress: false,
        limits: Limits::with_budget(std::time::Duration::from_secs(30)),
    };
    fetch_evidence(&pol, &opts);
    let (mut out, mut w) = (BTreeMap::new(), Vec::new());
    load_evidence(&pol, &t.0, &mut out, &mut w);
    assert_eq!(out.get("b.test/log").map(Vec::len), Some(1), "page 2");
    assert_eq!(out["a.test/log"].len(), MAX_EVIDENCE_PER_ORIGIN);
    let root = t.0.join("equivocations");
    assert_eq!(files(&root.join(origin_dir("b.test/log"))), 1);
    assert_eq!(
        files(&root.join(origin_dir("a.test/log"))),
        MAX_EVIDENCE_PER_ORIGIN
    );
}

#[test]
fn only_same_server_evidence_pages_are_followed() {
    use crate::mirror::evidence_next_page as next;
    assert_eq!(
        next("/v1/equivocations?after=ab12&limit=64").as_deref(),
        Some("v1/equivocations?after=ab12&limit=64")
    );
    assert_eq!(next("http://elsewhere/v1/equivocations?after=1"), None);
    assert_eq!(next("/v1/equivocations?after=../../x y"), None);
    assert_eq!(next("/v1/reviews?after=1"), None);
}
