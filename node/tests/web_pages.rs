//! The public web pages, loaded from real `quorate-node serve` processes in a real
//! headless Chromium: each page's content is checked through the DOM the browser built
//! (after its script ran), the same content is in the HTML a reader without JavaScript
//! gets, hostile attestation text stays inert, lists are paged, and the inclusion-proof
//! link returns a C2SP tlog-proof that verifies with the log key alone.
//!
//! Without chromium these tests print SKIP, unless `QUORATE_REQUIRE_CHROMIUM=1`.

mod common;
mod fed_support;
mod web_support;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Log, attestation_for, get, post, reviewer_key, reviewer_vkey};
use ed25519_dalek::SigningKey;
use quorate_proto::attestation::{self, Attestation, SupersedeKind, Supersedes};
use quorate_proto::merkle::leaf_hash;
use quorate_proto::note::NoteVerifier as _;
use quorate_proto::tlog_proof::TlogProof;
use web_support::{Page, browser, load, text};

const DAY: u64 = 86_400;

/// Notes that would run script, change the page and load an image if they were markup.
const HOSTILE: &str = "<script>document.title='pwned'</script>\
    <img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"> plain text after";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn submit(addr: std::net::SocketAddr, a: &Attestation, k: &SigningKey) -> u64 {
    let env = attestation::sign(a, k).expect("test attestation is valid");
    let r = post(addr, "application/x-protobuf", &env);
    assert!(matches!(r.status, 200 | 201), "submission: {}", r.text());
    r.json()["index"].as_u64().expect("index")
}

fn card<'a>(p: &'a Page, index: u64) -> scraper::ElementRef<'a> {
    p.one(&format!("article#entry-{index}"))
}

#[test]
fn pages_of_a_standalone_node_in_a_real_browser() {
    let Some(b) = browser("pages_of_a_standalone_node_in_a_real_browser") else {
        return;
    };
    let log = Log::init();
    let (r1, r2) = (reviewer_key(1), reviewer_key(2));
    log.add_reviewer(&r1);
    log.add_reviewer(&r2);
    let node = log.start(None);
    let addr = node.addr;
    let t = now();

    // Entry 0: hostile notes and organisation, a javascript: link and a real one.
    let mut hostile = attestation_for(&r1, "serde", "1.0.0", HOSTILE);
    hostile.organisation = "<b>Org</b><script>alert(1)</script>".into();
    hostile.links = vec![
        "https://example.org/\"><script>document.title='pwned'</script>".into(),
        "https://example.org/review/1".into(),
    ];
    hostile.time = t - 2 * DAY;
    let i_hostile = submit(addr, &hostile, &r1);
    let hostile_leaf = leaf_hash(&attestation::sign(&hostile, &r1).unwrap());
    // Entry 1: r1 withdraws entry 0.
    let mut withdraw = attestation_for(&r1, "serde", "1.0.0", "withdrawn: wrong tarball");
    withdraw.supersedes = Some(Supersedes {
        leaf_hash: hostile_leaf,
        kind: SupersedeKind::Withdraw,
    });
    withdraw.time = t - DAY;
    let i_withdraw = submit(addr, &withdraw, &r1);
    // Entry 2: r2 tries to withdraw r1's entry: it must not mark it.
    let mut foreign = attestation_for(&r2, "serde", "1.0.0", "not mine to withdraw");
    foreign.supersedes = Some(Supersedes {
        leaf_hash: hostile_leaf,
        kind: SupersedeKind::Replace,
    });
    foreign.time = t;
    submit(addr, &foreign, &r2);
    // 30 releases of one package by r2, for paging.
    for k in 0..30u64 {
        let mut a = attestation_for(&r2, "pager", &format!("0.{k}.0"), "");
        a.time = t - (k % 5) * DAY;
        submit(addr, &a, &r2);
    }
    let size = 33;

    // Home.
    let home = load(&b, addr, "/");
    assert!(home.script_ran(), "the page script ran in the browser");
    assert_eq!(home.text("#origin"), common::ORIGIN);
    assert_eq!(home.text("#vkey"), log.vkey);
    assert_eq!(home.text("#size"), size.to_string());
    assert_eq!(home.text("#checkpoint-size"), size.to_string());
    let (_, _, note) = common::latest(&log, addr);
    assert_eq!(home.text("#checkpoint-note"), text_collapse(&note));
    let raw = home.hrefs("#raw-links a");
    for p in [
        "/checkpoint",
        "/checkpoint/latest",
        "/tile/0/000.p/33",
        "/tile/entries/000.p/33",
    ] {
        assert!(raw.iter().any(|h| h == p), "home links {p}: {raw:?}");
        assert_eq!(get(addr, p).status, 200, "{p} is served");
    }
    assert!(home.text("#evidence-status").contains("no federation"));

    // A release: every field, the withdrawn state, hostile text inert.
    let rel = load(
        &b,
        addr,
        "/reviews?ecosystem=cargo&package=serde&version=1.0.0",
    );
    assert_eq!(rel.all("article.card").len(), 3);
    let c = card(&rel, i_hostile);
    assert_eq!(c.value().attr("data-state"), Some("withdrawn"));
    let ct = text(c);
    for want in [
        "serde",
        "1.0.0",
        "R (human)",
        "safe-to-run",
        "certify",
        "sha256:",
        "<b>Org</b><script>alert(1)</script>",
        "<script>document.title='pwned'</script>",
        "plain text after",
        "https://example.org/\"><script>document.title='pwned'</script>",
        &format!("#{i_withdraw}"),
    ] {
        assert!(ct.contains(want), "card {i_hostile} shows {want:?}: {ct}");
    }
    assert_eq!(
        card(&rel, i_withdraw).value().attr("data-state"),
        Some("current")
    );
    assert!(text(card(&rel, i_withdraw)).contains(&format!("withdraws entry #{i_hostile}")));
    // Inert: only the page's own script exists, nothing ran, no image, no js: link.
    let scripts = rel.all("script");
    assert_eq!(scripts.len(), 1, "only /assets/site.js");
    assert_eq!(scripts[0].value().attr("src"), Some("/assets/site.js"));
    assert!(
        rel.text("title").starts_with("Reviews"),
        "title not rewritten"
    );
    assert_eq!(rel.one("body").value().attr("data-pwned"), None);
    assert!(rel.all("main img").is_empty());
    let links = rel.hrefs("article a");
    // The hostile URL stays one attribute value, exactly as logged.
    assert!(
        links
            .iter()
            .any(|h| h == "https://example.org/\"><script>document.title='pwned'</script>")
    );
    assert!(links.iter().any(|h| h == "https://example.org/review/1"));
    // The proof link returns a tlog-proof that verifies against the log key alone.
    let proof_href = format!("/v1/proof/entry/{i_hostile}");
    assert!(links.contains(&proof_href), "{links:?}");
    let pr = get(addr, &proof_href);
    assert_eq!(pr.status, 200);
    let proof = TlogProof::parse(&pr.body).expect("a C2SP tlog-proof");
    proof
        .verify(&hostile_leaf, &log.verifier(), &[], 0)
        .expect("the inclusion proof verifies");
    assert_eq!(get(addr, "/v1/proof/entry/999").status, 404);
    assert_eq!(get(addr, "/v1/proof/entry/x").status, 400);
    // Without JavaScript: the same content is in the HTML as served, with the CSP.
    let raw_html = get(addr, "/reviews?ecosystem=cargo&package=serde&version=1.0.0");
    assert!(
        raw_html
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    let served = scraper::Html::parse_document(&raw_html.text());
    let sel = scraper::Selector::parse("article.card").unwrap();
    assert_eq!(served.select(&sel).count(), 3);
    assert!(raw_html.text().contains("&lt;script&gt;document.title"));

    // Search by prefix, paged, through the GET form's parameters.
    let form = rel.one("form.search");
    assert_eq!(form.value().attr("method"), Some("get"));
    assert_eq!(form.value().attr("action"), Some("/reviews"));
    let p1 = load(&b, addr, "/reviews?ecosystem=cargo&package=pag");
    assert_eq!(p1.all("tr.release").len(), 25);
    let more = p1.hrefs("p.pager a");
    assert_eq!(more.len(), 1);
    let p2 = load(&b, addr, &more[0]);
    assert_eq!(p2.all("tr.release").len(), 5);
    assert!(p2.all("p.pager a").is_empty());
    let shown: std::collections::BTreeSet<String> = p1
        .all("tr.release td:nth-child(3)")
        .into_iter()
        .chain(p2.all("tr.release td:nth-child(3)"))
        .map(text)
        .collect();
    assert_eq!(shown.len(), 30, "every release exactly once");
    // Any ecosystem finds it too; the newest entries without a query.
    assert_eq!(
        load(&b, addr, "/reviews?package=serde")
            .all("tr.release")
            .len(),
        1
    );
    let newest = load(&b, addr, "/reviews?limit=5");
    let idx: Vec<String> = newest
        .all("article.card")
        .iter()
        .filter_map(|a| a.value().attr("data-index").map(str::to_owned))
        .collect();
    assert_eq!(idx, ["32", "31", "30", "29", "28"]);

    // Reviewers: both keys with their counts; one key's entries, paged.
    let rv = load(&b, addr, "/reviewers");
    let rows = rv.all("#reviewers tr.reviewer");
    assert_eq!(rows.len(), 2);
    let hex2 = hex(&r2.verifying_key().to_bytes());
    let row2 = rv.one(&format!("tr.reviewer[data-key='{hex2}']"));
    assert_eq!(
        text(
            row2.select(&scraper::Selector::parse("td.count").unwrap())
                .next()
                .unwrap()
        ),
        "31"
    );
    assert!(text(row2).contains(&reviewer_vkey(&r2)));
    let one = load(&b, addr, &format!("/reviewers/{hex2}?limit=10"));
    assert_eq!(one.text("#entry-count"), "31");
    assert_eq!(one.all("article.card").len(), 10);
    assert_eq!(
        one.all("article.card")[0].value().attr("data-index"),
        Some("32")
    );
    assert_eq!(one.hrefs("p.pager a").len(), 1);

    // Activity: the bars add up to the entries dated in the window.
    let act = load(&b, addr, "/activity?days=30");
    let bars: u64 = act
        .all("svg.barchart rect.bar")
        .iter()
        .map(|r| {
            r.value()
                .attr("data-value")
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(bars, size);
    assert_eq!(act.text("#in-window"), size.to_string());
    assert_eq!(act.all("svg.barchart rect.bar").len(), 30);
    assert_eq!(
        get(addr, "/activity.svg?days=7").header("content-type"),
        Some("image/svg+xml")
    );

    // Federation of a standalone node.
    let fed = load(&b, addr, "/federation");
    assert!(fed.text("#standalone").contains("standalone log"));
    assert_eq!(fed.all("svg.fedgraph g.vertex").len(), 1);

    // Bad input gets a page naming what was wrong.
    for (path, status, says) in [
        ("/reviews?limit=1000", 400, "limit=1000"),
        ("/reviews?version=1.0", 400, "needs an ecosystem"),
        ("/reviews?ecosystem=nope", 400, "nope"),
        ("/entry/abc", 400, "abc"),
        ("/entry/33", 404, "33"),
        ("/reviewers/zz", 400, "64 hex digits"),
        ("/activity?days=0", 400, "days=0"),
    ] {
        let r = get(addr, path);
        assert_eq!(r.status, status, "{path}");
        assert!(r.text().contains(says), "{path}: {}", r.text());
    }

    // A screenshot is a PNG (the README's come from `quorate-testnet screenshots`).
    let png = log.tmp.path().join("home.png");
    b.screenshot(&format!("http://{addr}/"), &png, 1000, 800)
        .expect("screenshot");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
}

#[test]
fn federation_page_shows_who_witnesses_whom() {
    let Some(b) = browser("federation_page_shows_who_witnesses_whom") else {
        return;
    };
    let fed = fed_support::Fed::init(3, "web");
    let extra = "recosign_interval_ms = 1000\n";
    let procs: Vec<_> = (0..3).map(|i| fed.start_full(i, extra)).collect();
    for (i, p) in procs.iter().enumerate() {
        p.submit(&fed_support::envelope("web", i as u64)).unwrap();
    }
    // Every node's checkpoint of size 1 cosigned by both peers.
    for (i, p) in procs.iter().enumerate() {
        let w = fed.witnesses_except(i);
        fed_support::wait_for(60, "cosigned checkpoints", || {
            (fed_support::cosigned(p, &fed.specs[i], &w) == (1, 2)).then_some(())
        });
    }
    // Node 0's witness cosigned both peers at size 1, and both cosigned node 0's log.
    let page = fed_support::wait_for(60, "the federation page to show it", || {
        let p = load(&b, procs[0].http, "/federation");
        let rows = p.all("#logs tr.log");
        let ok = rows.len() == 3
            && rows[1..].iter().all(|r| text(*r).contains("size 1"))
            && rows[0]
                .select(&scraper::Selector::parse("ul.cosigs li").unwrap())
                .count()
                == 2;
        ok.then_some(p)
    });
    assert!(page.script_ran());
    let rows = page.all("#logs tr.log");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].value().attr("data-origin"),
        Some(fed.specs[0].origin.as_str())
    );
    assert_eq!(rows[0].value().attr("data-own"), Some("true"));
    for r in &rows[1..] {
        let t = text(*r);
        assert!(t.contains("size "), "witnessed size shown: {t}");
        assert!(t.contains("last cosigned"), "{t}");
        assert!(t.contains("none"), "no evidence: {t}");
    }
    assert_eq!(page.all("#witnesses tr.witness").len(), 3);
    // The picture: 3 logs; fresh arrows from both peers into node 0's log and from node
    // 0's witness to both peers' logs (peer-to-peer arrows as far as gossip showed them).
    assert_eq!(page.all("svg.fedgraph g.vertex.log").len(), 3);
    assert!(page.all("svg.fedgraph path.edge.fresh").len() >= 4);
    assert!(page.all("svg.fedgraph path.edge.none").is_empty());
    assert_eq!(
        get_svg(procs[0].http),
        page.all("svg.fedgraph path.edge").len()
    );
    // Home lists both cosigners with their ages.
    let home = load(&b, procs[0].http, "/");
    let cos: Vec<String> = home
        .all("#cosigners tr.cosigner td:first-child")
        .into_iter()
        .map(text)
        .collect();
    let mut want: Vec<String> = fed.specs[1..]
        .iter()
        .map(|s| s.witness_verifier().name().to_owned())
        .collect();
    let mut got = cos.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(
        home.text("#evidence-status")
            .contains("No equivocation evidence")
    );

    // Evidence that node 2's log forked, proven to node 0: its row, its vertex and the
    // home page say so.
    let key = quorate_node::datadir::DataDir::new(&fed.specs[2].dir)
        .load_key()
        .unwrap();
    let a = key.sign_checkpoint(5, [1; 32]).unwrap();
    let b2 = key.sign_checkpoint(5, [2; 32]).unwrap();
    let ev = quorate_proto::equivocation::Equivocation::same_size(&a, &b2).to_text();
    let (status, _) = procs[0]
        .post("/v1/equivocations", "text/plain", ev.as_bytes())
        .unwrap();
    assert_eq!(status, 200);
    let page = load(&b, procs[0].http, "/federation");
    let forked = page.one(&format!("tr.log[data-origin='{}']", fed.specs[2].origin));
    assert!(
        text(forked).contains("1 item(s): this log forked"),
        "{}",
        text(forked)
    );
    let honest = page.one(&format!("tr.log[data-origin='{}']", fed.specs[1].origin));
    assert!(!text(honest).contains("forked"));
    let marked: Vec<String> = page
        .all("svg.fedgraph g.vertex.log")
        .iter()
        .filter(|g| text(**g).contains("EVIDENCE"))
        .filter_map(|g| g.value().attr("data-label").map(str::to_owned))
        .collect();
    assert_eq!(marked, [fed.specs[2].origin.clone()]);
    let home = load(&b, procs[0].http, "/");
    let status = home.text("#evidence-status");
    assert!(
        status.contains("1 item(s) of equivocation evidence held, against 1 log(s)"),
        "{status}"
    );
    assert!(!status.contains("This log itself"));
}

/// Edges in the standalone `/federation.svg`.
fn get_svg(addr: std::net::SocketAddr) -> usize {
    let r = get(addr, "/federation.svg");
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    r.text().matches("<path class=\"edge").count()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text_collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
