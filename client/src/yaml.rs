//! Small accessors over `yaml-rust2` documents for the importers (crev proofs, OpenSSF
//! front matter): scalars as the text the author wrote, whatever YAML type they resolved to
//! (`version: 1.0` is a float to YAML, a version to us).

use yaml_rust2::{Yaml, YamlLoader};

/// Parses one YAML document (the first, when there are several).
pub fn parse(text: &str) -> Result<Yaml, String> {
    let mut docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    if docs.is_empty() {
        return Err("empty YAML document".into());
    }
    Ok(docs.swap_remove(0))
}

/// A scalar as text: strings as they are, numbers and booleans as written.
pub fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `y[key]` as text, or `None` when absent or not a scalar.
pub fn field(y: &Yaml, key: &str) -> Option<String> {
    text(&y[key])
}

/// `y[key]` as a list of scalars (a single scalar is a one-item list).
pub fn list(y: &Yaml, key: &str) -> Vec<String> {
    match &y[key] {
        Yaml::Array(a) => a.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// Unix seconds of an RFC 3339 / ISO 8601 timestamp (`2018-12-18T23:10:21.111-08:00`,
/// `...Z`) or date (`2020-12-18`, midnight UTC).
pub fn unix_time(s: &str) -> Option<u64> {
    let s = s.trim();
    let date = s.get(..10)?;
    let mut it = date.split('-');
    let (y, m, d): (i64, i64, i64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    let rest = &s[10..];
    if let Some(t) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) {
        let hms = t.get(..8)?;
        let mut p = hms.split(':');
        let (h, mi, se): (i64, i64, i64) = (
            p.next()?.parse().ok()?,
            p.next()?.parse().ok()?,
            p.next()?.parse().ok()?,
        );
        secs += h * 3600 + mi * 60 + se;
        let zone = t[8..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
        if let Some(off) = zone.strip_prefix('+').or_else(|| zone.strip_prefix('-')) {
            let (oh, om) = off.split_once(':')?;
            let o = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            // Local time minus a positive offset is UTC.
            secs += if zone.starts_with('+') { -o } else { o };
        } else if !(zone.is_empty() || zone == "Z" || zone == "z") {
            return None;
        }
    } else if !rest.is_empty() {
        return None;
    }
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(unix_time("1970-01-01"), Some(0));
        assert_eq!(unix_time("2020-12-18"), Some(1_608_249_600));
        assert_eq!(
            unix_time("2018-12-18T23:10:21.111854021-08:00"),
            Some(1_545_203_421)
        );
        assert_eq!(unix_time("2018-12-19T07:10:21Z"), Some(1_545_203_421));
        assert_eq!(unix_time("2018-13-01"), None);
        assert_eq!(unix_time("yesterday"), None);
    }
}
