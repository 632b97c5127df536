//! One keep-alive HTTP/1.1 client connection: it writes a request whose head the caller encoded,
//! then reads the response — the head parsed with `httparse`, the body by its framing
//! (`Content-Length`, chunked, or until the peer closes) — and says whether the connection can
//! carry another request.
//!
//! A delivery knows its whole request up front, so it is written as bytes in one go: no header
//! map is built for it, and no connection task or request channel stands between the delivery
//! and its socket.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The most response headers read.
const MAX_HEADERS: usize = 64;
/// The longest response head (status line and headers) read.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The longest chunk-size or trailer line of a chunked body.
const MAX_LINE_BYTES: usize = 4 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;

/// Why a response could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the connection closed before the response")]
    ClosedBeforeResponse,
    #[error("invalid response: {0}")]
    Invalid(String),
    #[error("the response body exceeds {0} bytes")]
    TooLarge(usize),
}

/// A response read from the connection. `body` is an error when the head was read but the body
/// was not (too large, malformed framing, the connection failed).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Result<Bytes, ResponseError>,
}

/// How the response body is delimited (RFC 9112 section 6.3).
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// A client connection over any byte stream (plain TCP or TLS).
pub struct Connection<S> {
    io: S,
    /// Bytes read but not yet consumed.
    buf: BytesMut,
    /// Whether the last exchange completed and left the connection fit for another.
    reusable: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(io: S) -> Connection<S> {
        Connection {
            io,
            buf: BytesMut::new(),
            reusable: true,
        }
    }

    /// Whether the connection can carry another request: every exchange so far completed,
    /// and the peer neither asked to close nor closed.
    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Writes `request` (head and body, as they go on the wire) and reads the response, with a
    /// body of at most `limit` bytes. An `Err` means no response head was read.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        limit: usize,
    ) -> Result<Response, ResponseError> {
        self.reusable = false;
        self.io.write_all(request).await?;
        self.io.flush().await?;
        let (status, headers, framing, keep_alive) = self.read_head().await?;
        let body = self.read_body(framing, limit).await;
        // Leftover bytes would be an answer to nothing: the connection is out of step.
        self.reusable = keep_alive && body.is_ok() && self.buf.is_empty();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Polls the idle connection once: `false` when the peer closed it, sent something nobody
    /// asked for, or it failed.
    pub fn is_open_while_idle(&mut self) -> bool {
        if !self.reusable {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        let mut read = ReadBuf::new(&mut byte);
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut read) {
            Poll::Pending => true,
            Poll::Ready(_) => {
                self.reusable = false;
                false
            }
        }
    }

    /// Reads the final response head (skipping interim 1xx responses): status, headers, body
    /// framing and whether the connection stays open after this response.
    async fn read_head(&mut self) -> Result<(u16, HeaderMap, Framing, bool), ResponseError> {
        loop {
            if let Some(head) = parse_head(&self.buf)? {
                self.buf.advance(head.len);
                if head.status == 101 {
                    return Err(ResponseError::Invalid(
                        "the subscriber switched protocols".into(),
                    ));
                }
                if (100..200).contains(&head.status) {
                    continue;
                }
                let framing = framing(head.status, &head.headers)?;
                let keep_alive = head.version_1_1
                    && !list_items(&head.headers, http::header::CONNECTION)
                        .any(|option| option.eq_ignore_ascii_case("close"))
                    && !matches!(framing, Framing::UntilClose);
                return Ok((head.status, head.headers, framing, keep_alive));
            }
            if self.buf.len() >= MAX_HEAD_BYTES {
                return Err(ResponseError::Invalid(format!(
                    "the response head exceeds {MAX_HEAD_BYTES} bytes"
                )));
            }
            if self.fill().await? == 0 {
                return Err(if self.buf.is_empty() {
                    ResponseError::ClosedBeforeResponse
                } else {
                    ResponseError::Invalid("the connection closed inside the response head".into())
                });
            }
        }
    }

    async fn read_body(&mut self, framing: Framing, limit: usize) -> Result<Bytes, ResponseError> {
        match framing {
            Framing::Empty => Ok(Bytes::new()),
            Framing::Length(len) => {
                if len > limit {
                    return Err(ResponseError::TooLarge(limit));
                }
                self.fill_to(len).await?;
                Ok(self.buf.split_to(len).freeze())
            }
            Framing::Chunked => self.read_chunked(limit).await,
            Framing::UntilClose => {
                while self.buf.len() <= limit {
                    if self.fill().await? == 0 {
                        return Ok(self.buf.split().freeze());
                    }
                }
                Err(ResponseError::TooLarge(limit))
            }
        }
    }

    /// A chunked body, its chunks joined; trailers are read and dropped.
    async fn read_chunked(&mut self, limit: usize) -> Result<Bytes, ResponseError> {
        let mut body = BytesMut::new();
        loop {
            let line = self.read_line().await?;
            let size = chunk_size(&line)?;
            if size == 0 {
                break;
            }
            // `body` never holds more than `limit`, so this cannot overflow.
            if size > limit - body.len() {
                return Err(ResponseError::TooLarge(limit));
            }
            self.fill_to(size + 2).await?;
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(ResponseError::Invalid(
                    "a chunk does not end in CRLF".into(),
                ));
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.advance(size + 2);
        }
        while !self.read_line().await?.is_empty() {}
        Ok(body.freeze())
    }

    /// The next CRLF-terminated line, without its CRLF.
    async fn read_line(&mut self) -> Result<Bytes, ResponseError> {
        let mut searched = 0;
        loop {
            if let Some(at) = self.buf[searched..].windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(searched + at).freeze();
                self.buf.advance(2);
                return Ok(line);
            }
            searched = self.buf.len().saturating_sub(1);
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(ResponseError::Invalid(format!(
                    "a chunked body line exceeds {MAX_LINE_BYTES} bytes"
                )));
            }
            self.fill_more().await?;
        }
    }

    /// Reads until at least `len` bytes are buffered.
    async fn fill_to(&mut self, len: usize) -> Result<(), ResponseError> {
        if self.buf.len() < len {
            self.buf.reserve(len - self.buf.len());
        }
        while self.buf.len() < len {
            self.fill_more().await?;
        }
        Ok(())
    }

    /// One read that must bring bytes: the end of the stream inside a body is an error.
    async fn fill_more(&mut self) -> Result<(), ResponseError> {
        if self.fill().await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        Ok(())
    }

    /// One read into the buffer; the number of bytes read (0 at the end of the stream).
    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ_CHUNK);
        self.io.read_buf(&mut self.buf).await
    }
}

/// A parsed response head.
struct Head {
    status: u16,
    version_1_1: bool,
    headers: HeaderMap,
    /// Bytes of the head, blank line included.
    len: usize,
}

/// The response head at the start of `buf`, or `None` when it is not complete yet.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ResponseError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(ResponseError::Invalid(err.to_string())),
    };
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for header in response.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| ResponseError::Invalid(format!("bad header name {:?}", header.name)))?;
        let value = HeaderValue::from_bytes(header.value)
            .map_err(|_| ResponseError::Invalid(format!("bad value of header {name}")))?;
        headers.append(name, value);
    }
    Ok(Some(Head {
        status: response.code.unwrap_or_default(),
        version_1_1: response.version == Some(1),
        headers,
        len,
    }))
}

/// How the body of a response with `status` and `headers` is delimited.
fn framing(status: u16, headers: &HeaderMap) -> Result<Framing, ResponseError> {
    if matches!(status, 204 | 304) {
        return Ok(Framing::Empty);
    }
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        // Chunked only when it is the last coding; otherwise the body runs to the close.
        let chunked = list_items(headers, http::header::TRANSFER_ENCODING)
            .next_back()
            .is_some_and(|last| last.eq_ignore_ascii_case("chunked"));
        return Ok(if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    let mut length = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or_default().split(',') {
            let parsed = part
                .trim()
                .parse::<usize>()
                .map_err(|_| ResponseError::Invalid(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|seen| seen != parsed) {
                return Err(ResponseError::Invalid(
                    "conflicting Content-Length values".into(),
                ));
            }
            length = Some(parsed);
        }
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(len) => Framing::Length(len),
        None => Framing::UntilClose,
    })
}

/// The items of a comma-separated header, over all its lines, trimmed, empty ones skipped.
fn list_items(
    headers: &HeaderMap,
    name: http::header::HeaderName,
) -> impl DoubleEndedIterator<Item = &str> {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|v| v.to_str().unwrap_or_default().split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// The size on a chunk-size line (`hex[;extensions]`).
fn chunk_size(line: &[u8]) -> Result<usize, ResponseError> {
    let hex = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    std::str::from_utf8(hex)
        .ok()
        .filter(|h| !h.is_empty() && h.len() <= 16)
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .ok_or_else(|| {
            ResponseError::Invalid(format!(
                "bad chunk size line {:?}",
                String::from_utf8_lossy(line)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{DuplexStream, duplex};

    const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi";

    /// A connection whose peer answers the first request with `answer`, then closes its side
    /// when `close` is set; returns what the peer received.
    async fn exchange(
        answer: &'static [u8],
        close: bool,
    ) -> (Connection<DuplexStream>, Result<Response, ResponseError>) {
        let (client, mut server) = duplex(64 * 1024);
        let peer = tokio::spawn(async move {
            let mut got = vec![0u8; REQUEST.len()];
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(got, REQUEST);
            // In pieces, so every parser state sees a partial buffer.
            for piece in answer.chunks(7) {
                server.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            if !close {
                std::future::pending::<()>().await;
            }
        });
        let mut conn = Connection::new(client);
        let response = conn.exchange(REQUEST, 1024).await;
        if close {
            peer.await.unwrap();
        }
        (conn, response)
    }

    fn body(response: &Response) -> &[u8] {
        response.body.as_ref().expect("a body")
    }

    #[tokio::test]
    async fn a_content_length_body_keeps_the_connection() {
        let (mut conn, response) = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
            false,
        )
        .await;
        let response = response.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["x-a"], "1");
        assert_eq!(body(&response), b"hello");
        assert!(conn.is_reusable());
        assert!(conn.is_open_while_idle());
    }

    #[tokio::test]
    async fn a_chunked_body_is_joined_and_its_trailers_dropped() {
        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            5;ext=1\r\nhello\r\nA\r\n, chunked!\r\n0\r\nTrailer: t\r\n\r\n";
        let (conn, response) = exchange(answer, false).await;
        let response = response.unwrap();
        assert_eq!(body(&response), b"hello, chunked!");
        assert!(conn.is_reusable());
    }

    #[tokio::test]
    async fn a_body_without_length_runs_to_the_close() {
        let (conn, response) = exchange(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", true).await;
        assert_eq!(body(&response.unwrap()), b"until the end");
        assert!(!conn.is_reusable());
        // A final coding other than chunked: the length header does not count.
        let answer =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nzipped";
        let (conn, response) = exchange(answer, true).await;
        assert_eq!(body(&response.unwrap()), b"zipped");
        assert!(!conn.is_reusable());
    }

    #[tokio::test]
    async fn interim_responses_are_skipped() {
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n\
            HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
        let (conn, response) = exchange(answer, false).await;
        let response = response.unwrap();
        assert_eq!(response.status, 202);
        assert!(body(&response).is_empty());
        assert!(conn.is_reusable());
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_end_the_connection() {
        let (conn, response) = exchange(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .await;
        assert_eq!(response.unwrap().status, 200);
        assert!(!conn.is_reusable());
        let (conn, response) =
            exchange(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false).await;
        assert_eq!(response.unwrap().status, 200);
        assert!(!conn.is_reusable());
    }

    #[tokio::test]
    async fn no_body_after_204_whatever_the_headers_say() {
        let (conn, response) = exchange(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
            false,
        )
        .await;
        assert!(body(&response.unwrap()).is_empty());
        assert!(conn.is_reusable());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_an_error_and_ends_the_connection() {
        let (conn, response) =
            exchange(b"HTTP/1.1 500 Oops\r\nContent-Length: 2000\r\n\r\n", false).await;
        let response = response.unwrap();
        assert_eq!(response.status, 500);
        assert!(matches!(response.body, Err(ResponseError::TooLarge(1024))));
        assert!(!conn.is_reusable());
        for answer in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nFFFFFFFFFFFFFFFF\r\n",
        ] {
            let (conn, response) = exchange(answer, false).await;
            assert!(matches!(
                response.unwrap().body,
                Err(ResponseError::TooLarge(1024))
            ));
            assert!(!conn.is_reusable());
        }
    }

    #[tokio::test]
    async fn malformed_or_cut_responses_are_errors() {
        let (_, response) = exchange(b"", true).await;
        assert!(matches!(response, Err(ResponseError::ClosedBeforeResponse)));
        let (_, response) = exchange(b"HTTP/1.1 200 OK\r\nContent-", true).await;
        assert!(
            matches!(response, Err(ResponseError::Invalid(_))),
            "{response:?}"
        );
        let (_, response) = exchange(b"HTTX/1.1 200 OK\r\n\r\n", true).await;
        assert!(matches!(response, Err(ResponseError::Invalid(_))));
        let (conn, response) =
            exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", true).await;
        assert!(matches!(response.unwrap().body, Err(ResponseError::Io(_))));
        assert!(!conn.is_reusable());
        let (_, response) = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            true,
        )
        .await;
        assert!(matches!(response, Err(ResponseError::Invalid(_))));
        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let (_, response) = exchange(answer, true).await;
        assert!(matches!(
            response.unwrap().body,
            Err(ResponseError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn unasked_bytes_or_a_close_make_an_idle_connection_unusable() {
        let (mut conn, response) = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n",
            false,
        )
        .await;
        assert_eq!(response.unwrap().status, 200);
        assert!(!conn.is_reusable(), "bytes past the response");
        assert!(!conn.is_open_while_idle());

        let (mut conn, response) =
            exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true).await;
        assert_eq!(response.unwrap().status, 200);
        assert!(conn.is_reusable());
        assert!(!conn.is_open_while_idle(), "the peer closed");
    }
}
