//! `Content-Encoding: gzip` for entry bundles, as C2SP tlog-tiles asks ("Entry bundles
//! SHOULD be compressed at the HTTP layer"), when the client's `Accept-Encoding` allows.
//!
//! Bundles are streamed chunk by chunk (see `api::entry_bundle_stream`), so they are
//! compressed the same way: each chunk is written to the encoder and sync-flushed, so
//! nothing is held back waiting for more input and memory stays one chunk.

use std::io::Write as _;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::ACCEPT_ENCODING;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::StreamExt as _;

/// Whether `Accept-Encoding` lists `gzip` (or `*`) with a non-zero quality.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// `body`, gzip-compressed as it streams.
pub fn gzip(body: Body) -> Body {
    let mut enc = Some(GzEncoder::new(Vec::new(), Compression::fast()));
    let chunks = body
        .into_data_stream()
        .map(Some)
        .chain(futures::stream::once(async { None }));
    Body::from_stream(chunks.map(move |item| -> Result<Bytes, std::io::Error> {
        match item {
            Some(Ok(chunk)) => {
                let Some(e) = enc.as_mut() else {
                    return Ok(Bytes::new());
                };
                e.write_all(&chunk)?;
                e.flush()?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
            Some(Err(err)) => Err(std::io::Error::other(err)),
            None => match enc.take() {
                Some(e) => Ok(Bytes::from(e.finish()?)),
                None => Ok(Bytes::new()),
            },
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn negotiation() {
        assert!(accepts_gzip(&h("gzip")));
        assert!(accepts_gzip(&h("identity, GZIP;q=0.5")));
        assert!(accepts_gzip(&h("*")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn round_trip() {
        use std::io::Read as _;
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        let body = Body::from_stream(futures::stream::iter(
            data.chunks(7000)
                .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        ));
        let z = axum::body::to_bytes(gzip(body), usize::MAX).await.unwrap();
        assert!(z.len() < data.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }
}
