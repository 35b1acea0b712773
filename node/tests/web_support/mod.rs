//! Helpers for the web page tests: a real headless Chromium (skipped with a visible SKIP
//! when absent, a failure when `QUORATE_REQUIRE_CHROMIUM=1`, which `.ci/run` sets), and
//! the DOM it dumps, parsed with `scraper`.
#![allow(dead_code)]

use std::net::SocketAddr;

use quorate_node::browser::Chromium;
use scraper::{ElementRef, Html, Selector};

/// The browser, or `None` (after printing SKIP) when there is none and it is not required.
pub fn browser(test: &str) -> Option<Chromium> {
    match Chromium::find() {
        Some(c) => Some(c),
        None if std::env::var("QUORATE_REQUIRE_CHROMIUM").as_deref() == Ok("1") => panic!(
            "QUORATE_REQUIRE_CHROMIUM=1 but no chromium is installed (apt-get install chromium, \
             or set QUORATE_CHROMIUM)"
        ),
        None => {
            // Written to the stderr descriptor directly: libtest captures only the print
            // macros, and a skip must show in a default `cargo test` run.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIP: {test}: no chromium on PATH (apt-get install chromium; \
                 QUORATE_REQUIRE_CHROMIUM=1 makes this a failure)"
            );
            None
        }
    }
}

/// A page's DOM as the browser left it.
pub struct Page {
    pub url: String,
    pub doc: Html,
}

/// Loads `path` from the node at `addr` in the browser.
pub fn load(b: &Chromium, addr: SocketAddr, path: &str) -> Page {
    let url = format!("http://{addr}{path}");
    let dom = b
        .dump_dom(&url)
        .unwrap_or_else(|e| panic!("loading {url} in chromium: {e}"));
    assert!(
        dom.contains("</html>"),
        "{url}: chromium dumped no document: {dom:?}"
    );
    Page {
        url,
        doc: Html::parse_document(&dom),
    }
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s:?}: {e:?}"))
}

/// Whitespace-collapsed text of an element.
pub fn text(e: ElementRef<'_>) -> String {
    e.text()
        .collect::<Vec<_>>()
        .join("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Page {
    pub fn all(&self, css: &str) -> Vec<ElementRef<'_>> {
        self.doc.select(&sel(css)).collect()
    }

    pub fn one(&self, css: &str) -> ElementRef<'_> {
        let v = self.all(css);
        assert_eq!(
            v.len(),
            1,
            "{}: expected exactly one {css:?}, found {}",
            self.url,
            v.len()
        );
        v[0]
    }

    /// Text of the one element matching `css`.
    pub fn text(&self, css: &str) -> String {
        text(self.one(css))
    }

    /// The page ran its script (the DOM is what a reader with JavaScript sees).
    pub fn script_ran(&self) -> bool {
        self.one("html").value().attr("data-js") == Some("on")
    }

    /// `href`s of the anchors matching `css`.
    pub fn hrefs(&self, css: &str) -> Vec<String> {
        self.all(css)
            .iter()
            .filter_map(|a| a.value().attr("href").map(str::to_owned))
            .collect()
    }
}
