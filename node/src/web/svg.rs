//! Pictures drawn on the server as SVG text: the federation's witnessing graph and the
//! activity bar chart. No JavaScript draws anything, so both show in any browser, in a
//! screenshot, or saved as a file. Every text goes through [`esc`].

use std::f64::consts::PI;
use std::fmt::Write as _;

/// Escapes text for SVG/XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Shortens a label to `max` characters (with an ellipsis), so long origins fit.
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A vertex of the witnessing graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vertex {
    /// The log origin, or the external witness's name.
    pub label: String,
    /// This node's own log (drawn highlighted).
    pub own: bool,
    /// A standalone witness (drawn as a square), not a log.
    pub external: bool,
    /// Evidence is held against this log (drawn red).
    pub equivocating: bool,
    /// The latest known tree size, if any.
    pub size: Option<u64>,
}

/// An edge: vertex `from`'s witness cosigned vertex `to`'s log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Seconds since the newest cosignature seen on `to`'s latest checkpoint by `from`'s
    /// witness; `None` when none is known (configured, but no cosignature seen).
    pub age: Option<u64>,
}

/// How fresh a cosignature is, as the legend names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Under 2 minutes (a live federation recosigns every few seconds).
    Fresh,
    /// Under an hour.
    Recent,
    /// An hour or more.
    Stale,
    /// No cosignature known.
    None,
}

impl Freshness {
    pub fn of(age: Option<u64>) -> Freshness {
        match age {
            Some(0..120) => Freshness::Fresh,
            Some(120..3600) => Freshness::Recent,
            Some(_) => Freshness::Stale,
            None => Freshness::None,
        }
    }
    pub fn class(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Recent => "recent",
            Freshness::Stale => "stale",
            Freshness::None => "none",
        }
    }
    fn colour(self) -> &'static str {
        match self {
            Freshness::Fresh => "#1a7f37",
            Freshness::Recent => "#bf8700",
            Freshness::Stale => "#cf222e",
            Freshness::None => "#8c959f",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Freshness::Fresh => "cosigned < 2 min ago",
            Freshness::Recent => "cosigned < 1 h ago",
            Freshness::Stale => "cosigned ≥ 1 h ago",
            Freshness::None => "no cosignature seen",
        }
    }
}

/// Most vertices drawn; a larger federation is listed in the table only.
pub const MAX_VERTICES: usize = 48;

/// The witnessing graph: logs on a circle, external witnesses on an inner ring, an arrow
/// from each witness to each log it cosigned, coloured by the cosignature's age.
pub fn graph(vertices: &[Vertex], edges: &[Edge]) -> String {
    let vertices = &vertices[..vertices.len().min(MAX_VERTICES)];
    let (w, h) = (760.0_f64, 560.0_f64);
    let (cx, cy) = (w / 2.0, h / 2.0 - 10.0);
    let logs: Vec<usize> = (0..vertices.len())
        .filter(|&i| !vertices[i].external)
        .collect();
    let ext: Vec<usize> = (0..vertices.len())
        .filter(|&i| vertices[i].external)
        .collect();
    let mut pos = vec![(0.0, 0.0); vertices.len()];
    let place = |ring: &[usize], r: f64, pos: &mut Vec<(f64, f64)>, phase: f64| {
        let n = ring.len().max(1) as f64;
        for (k, &i) in ring.iter().enumerate() {
            let a = -PI / 2.0 + phase + 2.0 * PI * k as f64 / n;
            pos[i] = (cx + r * a.cos(), cy + r * a.sin());
        }
    };
    place(
        &logs,
        if logs.len() > 1 { 200.0 } else { 0.0 },
        &mut pos,
        0.0,
    );
    place(
        &ext,
        if logs.len() > 1 { 90.0 } else { 150.0 },
        &mut pos,
        PI / 4.0,
    );

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="fedgraph" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="fedgraph-title"><title id="fedgraph-title">Who witnesses whom: {} logs, {} external witnesses, {} cosigning relations</title>"#,
        logs.len(),
        ext.len(),
        edges.len()
    );
    s.push_str("<defs>");
    for f in [
        Freshness::Fresh,
        Freshness::Recent,
        Freshness::Stale,
        Freshness::None,
    ] {
        let _ = write!(
            s,
            r#"<marker id="arrow-{c}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="{col}"/></marker>"#,
            c = f.class(),
            col = f.colour()
        );
    }
    s.push_str("</defs>");
    s.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let radius = 26.0;
    for e in edges {
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(e.from), pos.get(e.to)) else {
            continue;
        };
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // A slight bend keeps the two directions between a pair of logs apart.
        let (nx, ny) = (-uy * 14.0, ux * 14.0);
        let (sx, sy) = (x1 + ux * radius + nx * 0.5, y1 + uy * radius + ny * 0.5);
        let (ex, ey) = (x2 - ux * radius + nx * 0.5, y2 - uy * radius + ny * 0.5);
        let (mx, my) = ((sx + ex) / 2.0 + nx, (sy + ey) / 2.0 + ny);
        let f = Freshness::of(e.age);
        let dash = if f == Freshness::None {
            r#" stroke-dasharray="5 4""#
        } else {
            ""
        };
        let title = match e.age {
            Some(a) => format!(
                "{} cosigned {} {} s ago",
                vertices[e.from].label, vertices[e.to].label, a
            ),
            None => format!(
                "{} witnesses {}: no cosignature seen",
                vertices[e.from].label, vertices[e.to].label
            ),
        };
        let _ = write!(
            s,
            r#"<path class="edge {c}" d="M{sx:.1},{sy:.1} Q{mx:.1},{my:.1} {ex:.1},{ey:.1}" fill="none" stroke="{col}" stroke-width="2"{dash} marker-end="url(#arrow-{c})"><title>{t}</title></path>"#,
            c = f.class(),
            col = f.colour(),
            t = esc(&title)
        );
    }
    for (i, v) in vertices.iter().enumerate() {
        let (x, y) = pos[i];
        let fill = if v.equivocating {
            "#ffebe9"
        } else if v.own {
            "#ddf4ff"
        } else {
            "#f6f8fa"
        };
        let stroke = if v.equivocating {
            "#cf222e"
        } else if v.own {
            "#0969da"
        } else {
            "#57606a"
        };
        let class = if v.external {
            "vertex witness"
        } else {
            "vertex log"
        };
        let _ = write!(s, r#"<g class="{class}" data-label="{}">"#, esc(&v.label));
        if v.external {
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{d}" height="{d}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="2"/>"#,
                x - radius * 0.8,
                y - radius * 0.8,
                d = radius * 1.6
            );
        } else {
            let _ = write!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="{radius}" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"#,
                if v.own { 3 } else { 2 }
            );
        }
        // Labels go outside the circle, away from the centre.
        let (lx, ly) = if (x - cx).abs() < 1.0 && (y - cy).abs() < 1.0 {
            (x, y + radius + 16.0)
        } else {
            let (dx, dy) = (x - cx, y - cy);
            let l = (dx * dx + dy * dy).sqrt();
            (
                x + dx / l * (radius + 14.0),
                y + dy / l * (radius + 14.0) + 4.0,
            )
        };
        let anchor = if (lx - x).abs() < 8.0 {
            "middle"
        } else if lx > x {
            "start"
        } else {
            "end"
        };
        let _ = write!(
            s,
            r##"<text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}" font-family="sans-serif" font-size="12" fill="#1f2328">{}</text>"##,
            esc(&short(&v.label, 34))
        );
        let inner = match (v.external, v.size) {
            (true, _) => "W".to_owned(),
            (false, Some(n)) => n.to_string(),
            (false, None) => "?".to_owned(),
        };
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-family="sans-serif" font-size="11" fill="#1f2328">{}</text>"##,
            y + 4.0,
            esc(&short(&inner, 7))
        );
        if v.equivocating {
            let _ = write!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-family="sans-serif" font-size="11" font-weight="bold" fill="#cf222e">EVIDENCE</text>"##,
                y - radius - 6.0
            );
        }
        s.push_str("</g>");
    }
    // Legend.
    let mut ly = h - 78.0;
    for f in [
        Freshness::Fresh,
        Freshness::Recent,
        Freshness::Stale,
        Freshness::None,
    ] {
        let _ = write!(
            s,
            r##"<line x1="12" y1="{ly}" x2="40" y2="{ly}" stroke="{}" stroke-width="2"{}/><text x="46" y="{:.1}" font-family="sans-serif" font-size="11" fill="#1f2328">{}</text>"##,
            f.colour(),
            if f == Freshness::None {
                r#" stroke-dasharray="5 4""#
            } else {
                ""
            },
            ly + 4.0,
            esc(f.label())
        );
        ly += 16.0;
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-family="sans-serif" font-size="11" fill="#57606a">arrow: witness → log it cosigned · circle: log (tree size) · square: external witness</text>"##,
        w - 12.0,
        h - 14.0
    );
    s.push_str("</svg>");
    s
}

/// One bar of a bar chart: a label under it (shown for some bars) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub value: u64,
}

/// A bar chart with a y axis from 0 to the largest value, a title, and a label under
/// every few bars.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let (w, h) = (760.0_f64, 300.0_f64);
    let (left, right, top, bottom) = (56.0, 16.0, 34.0, 46.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="barchart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="barchart-title"><title id="barchart-title">{}</title>"#,
        esc(title)
    );
    s.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = write!(
        s,
        r##"<text x="{left}" y="20" font-family="sans-serif" font-size="13" font-weight="bold" fill="#1f2328">{}</text>"##,
        esc(title)
    );
    // Axes and gridlines at 0, max/2, max.
    for (frac, v) in [(0.0, 0), (0.5, max / 2), (1.0, max)] {
        let y = top + plot_h * (1.0 - frac);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-family="sans-serif" font-size="11" fill="#57606a">{v}</text>"##,
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    let n = bars.len().max(1);
    let slot = plot_w / n as f64;
    let bw = (slot * 0.8).max(1.0);
    let label_every = n.div_ceil(8).max(1);
    for (i, b) in bars.iter().enumerate() {
        let bh = plot_h * b.value as f64 / max as f64;
        let x = left + slot * i as f64 + (slot - bw) / 2.0;
        let y = top + plot_h - bh;
        let _ = write!(
            s,
            r##"<rect class="bar" data-value="{v}" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="#0969da"><title>{l}: {v}</title></rect>"##,
            v = b.value,
            l = esc(&b.label)
        );
        if i % label_every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-family="sans-serif" font-size="10" fill="#57606a">{}</text>"##,
                left + slot * i as f64 + slot / 2.0,
                top + plot_h + 16.0,
                esc(&b.label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_in_both_pictures() {
        let v = vec![
            Vertex {
                label: "<script>alert(1)</script>".into(),
                own: true,
                external: false,
                equivocating: true,
                size: Some(3),
            },
            Vertex {
                label: "w\"&'".into(),
                own: false,
                external: true,
                equivocating: false,
                size: None,
            },
        ];
        let g = graph(
            &v,
            &[Edge {
                from: 1,
                to: 0,
                age: Some(5),
            }],
        );
        assert!(!g.contains("<script>"));
        assert!(g.contains("&lt;script&gt;"));
        assert!(g.contains("w&quot;&amp;&#39;"));
        assert!(g.contains(r#"class="edge fresh""#));
        assert!(g.contains("EVIDENCE"));
        let b = bars(
            "<b>",
            &[Bar {
                label: "<i>".into(),
                value: 4,
            }],
        );
        assert!(!b.contains("<b>") && !b.contains("<i>"));
        assert!(b.contains(r#"data-value="4""#));
    }

    #[test]
    fn freshness_bands() {
        assert_eq!(Freshness::of(Some(0)), Freshness::Fresh);
        assert_eq!(Freshness::of(Some(119)), Freshness::Fresh);
        assert_eq!(Freshness::of(Some(120)), Freshness::Recent);
        assert_eq!(Freshness::of(Some(3600)), Freshness::Stale);
        assert_eq!(Freshness::of(None), Freshness::None);
    }

    #[test]
    fn an_empty_chart_and_graph_still_draw() {
        assert!(bars("none", &[]).ends_with("</svg>"));
        assert!(graph(&[], &[]).ends_with("</svg>"));
    }
}
