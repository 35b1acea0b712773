//! `GET /activity`: entries over time as a bar chart drawn on the server
//! (`GET /activity.svg`, also inline), over the last `days` days (default 90, at most
//! [`MAX_DAYS`]) in at most [`MAX_BARS`] bars.
//!
//! The log does not record when it admitted an entry (checkpoints carry no time), so
//! entries are counted by the review time each attestation states (the reviewer's
//! claim); entries dated in the future are counted apart, so one odd date cannot stretch
//! the axis.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::index::DAY;
use super::svg::{self, Bar};
use super::{Ctx, Nav, PageError, fmt_date, html_response, layout, now, opt_u64, raw};
use super::{svg_response, with_snapshot};

/// Default window.
pub const DEFAULT_DAYS: u64 = 90;
/// Longest window.
pub const MAX_DAYS: u64 = 3650;
/// Most bars drawn; longer windows put several days in a bar.
pub const MAX_BARS: u64 = 120;

/// The chart's data: bars, total in the window, entries dated after today, log size.
struct Chart {
    title: String,
    bars: Vec<Bar>,
    in_window: u64,
    future: u64,
    size: u64,
    indexed: u64,
}

fn days_param(q: &HashMap<String, String>) -> Result<u64, PageError> {
    match opt_u64(q.get("days").map(String::as_str), "days")? {
        None => Ok(DEFAULT_DAYS),
        Some(d) if (1..=MAX_DAYS).contains(&d) => Ok(d),
        Some(d) => Err(PageError::BadRequest(format!(
            "days={d} is not in 1..={MAX_DAYS}"
        ))),
    }
}

fn chart(
    days: u64,
) -> impl FnOnce(&super::WebCtx, crate::store::Snapshot) -> Result<Chart, PageError> + Send + 'static
{
    move |c, snap| {
        let today = now() / DAY;
        let first = today.saturating_sub(days - 1);
        let per_bar = days.div_ceil(MAX_BARS);
        let counts = c.index.days(first, today);
        let future: u64 = c
            .index
            .days(today + 1, u64::MAX)
            .iter()
            .map(|(_, n)| n)
            .sum();
        let nbars = days.div_ceil(per_bar);
        let mut bars: Vec<Bar> = (0..nbars)
            .map(|b| Bar {
                label: fmt_date((first + b * per_bar) * DAY),
                value: 0,
            })
            .collect();
        let mut in_window = 0;
        for (d, n) in counts {
            let b = ((d - first) / per_bar) as usize;
            if let Some(bar) = bars.get_mut(b) {
                bar.value += n;
                in_window += n;
            }
        }
        let unit = if per_bar == 1 {
            "day".to_owned()
        } else {
            format!("{per_bar} days")
        };
        Ok(Chart {
            title: format!(
                "Entries per {unit} by review date, {} to {}",
                fmt_date(first * DAY),
                fmt_date(today * DAY)
            ),
            bars,
            in_window,
            future,
            size: snap.size(),
            indexed: c.index.indexed(),
        })
    }
}

pub(crate) async fn svg(
    State(ctx): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let days = match days_param(&q) {
        Ok(d) => d,
        Err(e) => return e.into_page(&ctx),
    };
    match with_snapshot(&ctx, chart(days)).await {
        Ok(c) => svg_response(svg::bars(&c.title, &c.bars)),
        Err(r) => r,
    }
}

pub(crate) async fn page(
    State(ctx): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let days = match days_param(&q) {
        Ok(d) => d,
        Err(e) => return e.into_page(&ctx),
    };
    let c = match with_snapshot(&ctx, chart(days)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let content = html! {
        form.search method="get" action="/activity" {
            label { "Days " input type="number" name="days" min="1" max=(MAX_DAYS) value=(days); }
            button type="submit" { "Show" }
        }
        figure #activity-chart {
            (raw(svg::bars(&c.title, &c.bars)))
            figcaption { "Also at " a href={"/activity.svg?days=" (days)} { code { "/activity.svg" } } "." }
        }
        dl {
            dt { "Entries in the window" } dd #in-window { (c.in_window) }
            dt { "Entries in the log" } dd #log-size { (c.size) }
            @if c.future > 0 { dt { "Dated after today" } dd #future { (c.future) } }
            @if c.indexed < c.size { dt { "Indexed so far" } dd { (c.indexed) } }
        }
        p.note { "Dates are the review times the attestations state (the reviewers' claims); the log itself records no time." }
    };
    html_response(
        StatusCode::OK,
        layout(&ctx, Nav::Activity, "Activity", content),
    )
}
