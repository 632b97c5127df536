//! Subscriber URLs parsed once, not per attempt: each [`Destination`] keeps its URI (to connect
//! to), its origin (the connection pool's key) and the start of every request sent to it.

use std::sync::{Arc, Mutex, PoisonError};

/// Parsed destinations kept at most; past this the cache starts over (URLs come from Triggers,
/// sinks and replays, so this is only reached by churn).
const MAX_CACHED: usize = 1024;

/// Where deliveries to one URL go.
#[derive(Debug)]
pub struct Destination {
    pub uri: http::Uri,
    /// `scheme://authority`: connections to it are interchangeable.
    pub origin: String,
    /// `POST <path> HTTP/1.1`, `Host` (without userinfo) and `Prefer: reply`, each line ending
    /// in CRLF.
    pub request_start: Vec<u8>,
}

impl Destination {
    /// Parses an absolute `http` or `https` URL; the error is the reason to report.
    pub fn parse(url: &str) -> Result<Destination, String> {
        let uri = match url.parse::<http::Uri>() {
            Ok(uri) if uri.authority().is_some() => uri,
            Ok(_) => return Err(format!("invalid destination URL {url:?}: no host")),
            Err(err) => return Err(format!("invalid destination URL {url:?}: {err}")),
        };
        let scheme = uri.scheme_str().unwrap_or("http");
        let authority = uri.authority().map_or("", |a| a.as_str());
        let origin = format!("{scheme}://{authority}");
        // HTTP/1.1 requests carry the path only; the Host header names the host and port, never
        // the userinfo (RFC 9110 section 7.2).
        let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let request_start =
            format!("POST {path} HTTP/1.1\r\nhost: {host}\r\nprefer: reply\r\n").into_bytes();
        Ok(Destination {
            uri,
            origin,
            request_start,
        })
    }
}

/// Destinations by URL, parsed on first use and shared by every attempt after.
#[derive(Debug, Default)]
pub struct Destinations {
    by_url: Mutex<foldhash::HashMap<String, Arc<Destination>>>,
}

impl Destinations {
    /// The destination for `url`, parsed now if it is not cached yet.
    pub fn get(&self, url: &str) -> Result<Arc<Destination>, String> {
        if let Some(found) = self.lock().get(url) {
            return Ok(found.clone());
        }
        let parsed = Arc::new(Destination::parse(url)?);
        let mut by_url = self.lock();
        if by_url.len() >= MAX_CACHED {
            by_url.clear();
        }
        by_url.insert(url.to_owned(), parsed.clone());
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, foldhash::HashMap<String, Arc<Destination>>> {
        self.by_url.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_knows_its_origin_and_request_start() {
        let d = Destination::parse("https://user@example.com:8443/a/b?q=1").unwrap();
        assert_eq!(d.origin, "https://user@example.com:8443");
        assert_eq!(
            d.request_start,
            b"POST /a/b?q=1 HTTP/1.1\r\nhost: example.com:8443\r\nprefer: reply\r\n"
        );
        let d = Destination::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(d.origin, "http://127.0.0.1:9000");
        assert!(d.request_start.starts_with(b"POST / HTTP/1.1\r\n"));
    }

    #[test]
    fn urls_without_a_host_or_unparsable_are_refused() {
        for url in ["/relative", "not a url", ""] {
            let err = Destination::parse(url).unwrap_err();
            assert!(err.starts_with("invalid destination URL"), "{url}: {err}");
        }
    }

    #[test]
    fn each_url_is_parsed_once() {
        let cache = Destinations::default();
        let a = cache.get("http://a/x").unwrap();
        assert!(Arc::ptr_eq(&a, &cache.get("http://a/x").unwrap()));
        assert!(!Arc::ptr_eq(&a, &cache.get("http://a/y").unwrap()));
        assert!(cache.get("/no-host").is_err());
    }
}
