//! Media type (`Content-Type` / `datacontenttype`) inspection: syntax check and JSON detection.

/// The media type without parameters and surrounding whitespace: `Text/Plain; a=b` -> `Text/Plain`.
pub(crate) fn essence(media_type: &str) -> &str {
    media_type
        .split_once(';')
        .map_or(media_type, |(essence, _)| essence)
        .trim()
}

/// Whether the media type declares JSON content: subtype `json` or a `+json` suffix
/// (`*/json`, `*/*+json`), compared case-insensitively.
pub(crate) fn is_json(media_type: &str) -> bool {
    let Some((_, subtype)) = essence(media_type).split_once('/') else {
        return false;
    };
    subtype.eq_ignore_ascii_case("json")
        || (subtype.len() > 5
            && subtype.is_char_boundary(subtype.len() - 5)
            && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Whether `media_type` is an RFC 2046 style `type/subtype` (RFC 7230 tokens) optionally followed
/// by parameters, using only characters a header value may carry. Parameters are not parsed.
/// Every ingress event with a `Content-Type` passes here, so token bytes are looked up in a
/// table rather than matched against a character list.
pub(crate) fn is_valid(media_type: &str) -> bool {
    let Some((ty, subtype)) = essence(media_type).split_once('/') else {
        return false;
    };
    is_token(ty)
        && is_token(subtype)
        && media_type
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// RFC 7230 `tchar`, by byte.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~');
        b += 1;
    }
    table
};

/// RFC 7230 `token`: one or more tchar.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| TCHAR[usize::from(b)])
}

/// ASCII case-insensitive prefix test.
pub(crate) fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_detection() {
        for json in [
            "application/json",
            "APPLICATION/JSON; charset=utf-8",
            "text/json",
            "application/cloudevents+json",
            "application/vnd.foo+JSON ; x=y",
        ] {
            assert!(is_json(json), "{json}");
        }
        for other in [
            "text/plain",
            "application/jsonx",
            "+json",
            "application/xml",
            "json",
            "a/+jsoN+x",
        ] {
            assert!(!is_json(other), "{other}");
        }
        // A multi-byte character straddling the suffix boundary must not panic.
        assert!(!is_json("a/ééé"));
    }

    #[test]
    fn validity() {
        for ok in [
            "text/plain",
            "application/json; charset=utf-8",
            "a/b;c=\"d e\"",
            "x/y+z",
            " text/plain\t; a=b",
            "!#$%&'*+-.^_`|~/x",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "text",
            "text/",
            "/plain",
            "te xt/plain",
            "text/plain\n",
            "text/pl\u{e9}in",
            "a/b/c",
            "text /plain",
            "text/plain ; a\u{7f}",
            "text/(plain)",
            "tex\\t/plain",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn essence_and_prefix() {
        assert_eq!(essence(" text/plain ; charset=x"), "text/plain");
        assert_eq!(essence("text/plain"), "text/plain");
        assert!(starts_with_ignore_case(
            "Application/CloudEvents+json",
            "application/cloudevents"
        ));
        assert!(!starts_with_ignore_case(
            "application",
            "application/cloudevents"
        ));
    }
}
