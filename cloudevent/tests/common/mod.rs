//! Helpers shared by the integration tests: building and comparing header maps.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// A header `(name, value)` as written in tests.
pub type Header<'a> = (&'a str, &'a [u8]);

/// Header pairs as written in tests.
pub type Pairs<'a> = [Header<'a>];

/// A header map from `(name, value)` pairs; repeated names are appended.
pub fn headers(pairs: &Pairs<'_>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("test header name");
        let value = HeaderValue::from_bytes(value).expect("test header value");
        map.append(name, value);
    }
    map
}

/// The headers as sorted `(name, value)` pairs, for order-independent comparison.
pub fn sorted(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut pairs: Vec<(String, Vec<u8>)> = map
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    pairs.sort();
    pairs
}
