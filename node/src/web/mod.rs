//! The node's public web pages: server-rendered HTML (maud: compile-time templates that
//! escape every interpolated value), readable without JavaScript.
//!
//! Pages ([`router`]): `/` ([`home`]), `/reviews` and `/entry/{index}` ([`reviews`]),
//! `/reviewers` and `/reviewers/{key}` ([`reviewers`]), `/federation` and
//! `/federation.svg` ([`federation`]), `/activity` and `/activity.svg` ([`activity`]),
//! and `/v1/proof/entry/{index}` ([`proof`]), the inclusion proof of one entry as a C2SP
//! tlog-proof. Pictures are SVG drawn on the server ([`svg`]).
//!
//! Everything an attestation carries is attacker-controlled (any registered reviewer
//! writes it): maud escapes it, links are only made of `http(s)` URLs, and every page is
//! sent with a Content-Security-Policy that allows no inline script, so even a missed
//! escape could not run code. Every list is paged and bounded ([`PAGE`], [`MAX_PAGE`]).

pub mod activity;
pub mod card;
pub mod federation;
pub mod home;
pub mod index;
pub mod index_list;
pub mod proof;
pub mod reviewers;
pub mod reviews;
pub mod svg;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::federation::{FedShared, FedView};
use crate::store::{Snapshot, Store, StoreError};
pub use index::WebIndex;

/// Items per page unless `limit` says otherwise.
pub const PAGE: usize = 25;
/// Most items a page shows.
pub const MAX_PAGE: usize = 100;

/// What the pages read.
#[derive(Debug)]
pub struct WebCtx {
    pub(crate) store: Arc<Store>,
    pub(crate) origin: String,
    pub(crate) log_vkey: String,
    pub(crate) reviewers_path: PathBuf,
    pub(crate) shared: Option<Arc<FedShared>>,
    pub(crate) fed: Option<FedView>,
    pub(crate) index: Arc<WebIndex>,
}

impl WebCtx {
    /// Pages for the log in `store`; `fed` when the node runs a federation. Starts the
    /// index follower ([`WebIndex::follow`]), so call it inside the runtime.
    pub fn start(
        store: Arc<Store>,
        origin: String,
        log_vkey: String,
        reviewers_path: PathBuf,
        fed: Option<(Arc<FedShared>, FedView)>,
    ) -> Arc<WebCtx> {
        let index = Arc::new(WebIndex::default());
        index.follow(&store);
        let (shared, fed) = match fed {
            Some((s, v)) => (Some(s), Some(v)),
            None => (None, None),
        };
        Arc::new(WebCtx {
            store,
            origin,
            log_vkey,
            reviewers_path,
            shared,
            fed,
            index,
        })
    }

    /// The checkpoint `GET /checkpoint` serves: (size, note).
    pub(crate) fn served_checkpoint(&self, snap: &Snapshot) -> Result<(u64, Vec<u8>), StoreError> {
        if let Some(s) = self.shared.as_ref().and_then(|f| f.served()) {
            return Ok(s);
        }
        self.newest_checkpoint(snap)
    }

    /// The newest signed checkpoint with the cosignatures gathered so far (what
    /// `GET /checkpoint/latest` serves).
    pub(crate) fn newest_checkpoint(&self, snap: &Snapshot) -> Result<(u64, Vec<u8>), StoreError> {
        let (size, note) = snap.latest_checkpoint()?;
        match self.shared.as_ref().and_then(|f| f.latest_at(size)) {
            Some(n) => Ok((size, n)),
            None => Ok((size, note)),
        }
    }
}

type Ctx = Arc<WebCtx>;

/// The pages' routes, to merge into the API router (which adds its layers: timeout,
/// in-flight limit, metrics).
pub fn router<S>(ctx: Ctx) -> Router<S> {
    Router::new()
        .route("/", get(home::page))
        .route("/reviews", get(reviews::page))
        .route("/entry/{index}", get(reviews::entry_page))
        .route("/reviewers", get(reviewers::page))
        .route("/reviewers/{key}", get(reviewers::reviewer_page))
        .route("/federation", get(federation::page))
        .route("/federation.svg", get(federation::svg))
        .route("/activity", get(activity::page))
        .route("/activity.svg", get(activity::svg))
        .route("/v1/proof/entry/{index}", get(proof::entry_proof))
        .route("/assets/site.css", get(css))
        .route("/assets/site.js", get(js))
        .with_state(ctx)
}

/// Every page's Content-Security-Policy: scripts and styles only from this node's own
/// `/assets/`, no inline script, no plugins, no framing. Attacker-controlled text that
/// escaped escaping still could not run.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const SITE_CSS: &str = include_str!("site.css");
const SITE_JS: &str = include_str!("site.js");

async fn css() -> Response {
    asset("text/css; charset=utf-8", SITE_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", SITE_JS)
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// A rendered page with its security headers.
pub(crate) fn html_response(status: StatusCode, body: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body.into_string(),
    )
        .into_response()
}

/// An SVG picture (standalone).
pub(crate) fn svg_response(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Which page the navigation marks as current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Home,
    Reviews,
    Reviewers,
    Federation,
    Activity,
}

/// The page frame: title, navigation, content.
pub(crate) fn layout(ctx: &WebCtx, nav: Nav, title: &str, content: Markup) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            li { a href=(href) aria-current=[(n == nav).then_some("page")] { (label) } }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (ctx.origin) }
                link rel="stylesheet" href="/assets/site.css";
                script src="/assets/site.js" defer {}
            }
            body {
                header {
                    p.origin { "Quorate log " code { (ctx.origin) } }
                    nav { ul {
                        (item(Nav::Home, "/", "Home"))
                        (item(Nav::Reviews, "/reviews", "Reviews"))
                        (item(Nav::Reviewers, "/reviewers", "Reviewers"))
                        (item(Nav::Federation, "/federation", "Federation"))
                        (item(Nav::Activity, "/activity", "Activity"))
                    } }
                }
                main {
                    h1 { (title) }
                    (content)
                }
                footer {
                    p { "Everything here can be checked: the "
                        a href="/checkpoint" { "checkpoint" } ", "
                        "tiles and "
                        "inclusion proofs are C2SP formats, verifiable with the log key alone." }
                }
            }
        }
    }
}

/// An error page (400 / 404 / 500) naming what was wrong.
pub(crate) fn error_page(ctx: &WebCtx, status: StatusCode, message: &str) -> Response {
    if status.is_server_error() {
        tracing::error!("web page failed: {message}");
    }
    let title = status.canonical_reason().unwrap_or("Error");
    html_response(
        status,
        layout(
            ctx,
            Nav::Home,
            title,
            html! { p.error role="alert" { (message) } },
        ),
    )
}

/// Errors a page handler can end with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("reading the log: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl PageError {
    pub(crate) fn into_page(self, ctx: &WebCtx) -> Response {
        let status = match &self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Store(StoreError::OutOfRange { .. }) => StatusCode::NOT_FOUND,
            PageError::Store(_) | PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error_page(ctx, status, &self.to_string())
    }
}

/// Runs `f` on a blocking thread with a fresh snapshot, and renders its error as a page.
pub(crate) async fn with_snapshot<T: Send + 'static>(
    ctx: &Ctx,
    f: impl FnOnce(&WebCtx, Snapshot) -> Result<T, PageError> + Send + 'static,
) -> Result<T, Response> {
    let c = ctx.clone();
    let r = tokio::task::spawn_blocking(move || {
        let snap = c.store.snapshot()?;
        f(&c, snap)
    })
    .await
    .unwrap_or_else(|e| Err(PageError::Internal(e.to_string())));
    r.map_err(|e| e.into_page(ctx))
}

/// Parses an optional non-negative integer query parameter.
pub(crate) fn opt_u64(v: Option<&str>, name: &str) -> Result<Option<u64>, PageError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<u64>().map(Some).map_err(|_| {
            PageError::BadRequest(format!("{name}={s:?} is not a non-negative integer"))
        }),
    }
}

/// The `limit` parameter: [`PAGE`] by default, 1..=[`MAX_PAGE`].
pub(crate) fn page_limit(v: Option<&str>) -> Result<usize, PageError> {
    match opt_u64(v, "limit")? {
        None => Ok(PAGE),
        Some(n) if (1..=MAX_PAGE as u64).contains(&n) => Ok(n as usize),
        Some(n) => Err(PageError::BadRequest(format!(
            "limit={n} is not in 1..={MAX_PAGE}"
        ))),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DD` of day number `days` since 1970-01-01 (proleptic Gregorian).
pub(crate) fn civil_date(days: u64) -> (i64, u32, u32) {
    // Howard Hinnant's days_from_civil inverse; exact for every u64 day count we show
    // (times are at most 9999-12-31).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD`.
pub(crate) fn fmt_date(secs: u64) -> String {
    let (y, m, d) = civil_date(secs / index::DAY);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn fmt_time(secs: u64) -> String {
    let t = secs % index::DAY;
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        fmt_date(secs),
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// A short age: `42 s`, `5 min`, `3 h`, `12 d`; `in the future` when ahead of `now`.
pub(crate) fn fmt_age(secs: u64, now: u64) -> String {
    if secs > now {
        return format!("{} s in the future", secs - now);
    }
    let a = now - secs;
    match a {
        0..60 => format!("{a} s"),
        60..3600 => format!("{} min", a / 60),
        3600..86_400 => format!("{} h", a / 3600),
        _ => format!("{} d", a / 86_400),
    }
}

/// A time with its age, marked up so the script can keep the age current.
pub(crate) fn time_with_age(secs: u64, now: u64) -> Markup {
    html! {
        time datetime=(secs) title=(fmt_time(secs)) { (fmt_time(secs)) }
        " ("
        span.age data-ts=(secs) { (fmt_age(secs, now)) }
        " ago)"
    }
}

/// Lower-case hex.
pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Parses 64 hex digits.
pub(crate) fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Base64 (standard).
pub(crate) fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A URL only if it is plain `http(s)`: anything else (`javascript:`, `data:`) is shown
/// as text, never made a link.
pub(crate) fn safe_link(url: &str) -> Option<&str> {
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

/// Pre-escaped markup for a constant (a convenience for SVG embedding).
pub(crate) fn raw(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ages() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            fmt_time(quorate_proto::attestation::MAX_TIME),
            "9999-12-31 23:59:59 UTC"
        );
        assert_eq!(fmt_age(100, 142), "42 s");
        assert_eq!(fmt_age(0, 7200), "2 h");
        assert_eq!(fmt_age(10, 5), "5 s in the future");
    }

    #[test]
    fn only_http_urls_become_links() {
        assert!(safe_link("https://example.org/x").is_some());
        assert!(safe_link("HTTP://example.org").is_some());
        assert!(safe_link("javascript:alert(1)").is_none());
        assert!(safe_link("data:text/html,<script>").is_none());
        assert!(safe_link("//evil.example").is_none());
    }

    #[test]
    fn hex_round_trip() {
        let k = [0xabu8; 32];
        assert_eq!(parse_hex32(&hex(&k)), Some(k));
        assert_eq!(parse_hex32("zz"), None);
        assert_eq!(parse_hex32(&"é".repeat(32)), None);
    }
}
