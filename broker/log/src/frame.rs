//! On-disk record framing of segment files.
//!
//! ```text
//! | payload len: u32 LE | crc32c: u32 LE | offset: u64 LE | timestamp ms: i64 LE | payload |
//! ```
//!
//! The CRC32C covers the length, offset and timestamp fields and the payload (everything except the
//! CRC field itself), so a torn, shifted or bit-flipped frame fails validation.

/// Size of the fixed record header.
pub(crate) const HEADER_LEN: usize = 24;

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) payload_len: u32,
    pub(crate) crc: u32,
    pub(crate) offset: u64,
    pub(crate) timestamp_ms: i64,
}

impl Header {
    /// Parses the fixed header bytes (no validation beyond layout).
    pub(crate) fn parse(bytes: &[u8; HEADER_LEN]) -> Header {
        let field = |at: usize| -> [u8; 8] {
            let mut out = [0u8; 8];
            out.copy_from_slice(&bytes[at..at + 8]);
            out
        };
        Header {
            payload_len: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            crc: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            offset: u64::from_le_bytes(field(8)),
            timestamp_ms: i64::from_le_bytes(field(16)),
        }
    }

    /// Size of the whole frame on disk.
    pub(crate) fn frame_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.payload_len)
    }
}

fn checksum(header_bytes: &[u8; HEADER_LEN], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header_bytes[0..4]);
    let crc = crc32c::crc32c_append(crc, &header_bytes[8..HEADER_LEN]);
    crc32c::crc32c_append(crc, payload)
}

/// Appends one framed record to `buf`. The caller guarantees `payload.len()` fits in `u32`
/// (payloads are bounded by the validated `max_record_bytes`).
pub(crate) fn encode(buf: &mut Vec<u8>, offset: u64, timestamp_ms: i64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[8..16].copy_from_slice(&offset.to_le_bytes());
    header[16..24].copy_from_slice(&timestamp_ms.to_le_bytes());
    let crc = checksum(&header, payload);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&header);
    buf.extend_from_slice(payload);
}

/// Why a frame was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameFault {
    /// Fewer bytes than the header or the announced payload.
    Truncated,
    /// The CRC does not match.
    Checksum,
    /// The frame holds another offset than expected at its place.
    WrongOffset { expected: u64, found: u64 },
}

impl std::fmt::Display for FrameFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameFault::Truncated => f.write_str("record frame is truncated"),
            FrameFault::Checksum => f.write_str("record CRC32C mismatch"),
            FrameFault::WrongOffset { expected, found } => {
                write!(
                    f,
                    "record holds offset {found} where {expected} was expected"
                )
            }
        }
    }
}

/// Decodes the frame at the start of `buf`, expecting `offset`. Returns the header and the
/// payload's byte range within `buf`.
pub(crate) fn decode(
    buf: &[u8],
    offset: u64,
) -> Result<(Header, std::ops::Range<usize>), FrameFault> {
    let header_bytes: &[u8; HEADER_LEN] = buf
        .get(..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(FrameFault::Truncated)?;
    let end = HEADER_LEN + Header::parse(header_bytes).payload_len as usize;
    let payload = buf.get(HEADER_LEN..end).ok_or(FrameFault::Truncated)?;
    let header = validate(header_bytes, payload, offset)?;
    Ok((header, HEADER_LEN..end))
}

/// Checks a complete frame (header bytes plus exactly its payload) against its CRC and the
/// offset expected at its place.
pub(crate) fn validate(
    header_bytes: &[u8; HEADER_LEN],
    payload: &[u8],
    offset: u64,
) -> Result<Header, FrameFault> {
    let header = Header::parse(header_bytes);
    if checksum(header_bytes, payload) != header.crc {
        return Err(FrameFault::Checksum);
    }
    if header.offset != offset {
        return Err(FrameFault::WrongOffset {
            expected: offset,
            found: header.offset,
        });
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips() {
        let mut buf = Vec::new();
        encode(&mut buf, 42, 1_700_000_000_000, b"hello");
        assert_eq!(buf.len(), HEADER_LEN + 5);
        let (header, range) = decode(&buf, 42).expect("valid frame");
        assert_eq!(header.offset, 42);
        assert_eq!(header.timestamp_ms, 1_700_000_000_000);
        assert_eq!(&buf[range], b"hello");
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let mut clean = Vec::new();
        encode(&mut clean, 7, 99, b"payload bytes");
        for i in 0..clean.len() {
            let mut damaged = clean.clone();
            damaged[i] ^= 0x40;
            assert!(
                decode(&damaged, 7).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn short_buffers_and_wrong_offsets_are_rejected() {
        let mut buf = Vec::new();
        encode(&mut buf, 3, 0, b"abc");
        assert_eq!(decode(&buf[..10], 3), Err(FrameFault::Truncated));
        assert_eq!(decode(&buf[..buf.len() - 1], 3), Err(FrameFault::Truncated));
        assert_eq!(
            decode(&buf, 4),
            Err(FrameFault::WrongOffset {
                expected: 4,
                found: 3
            })
        );
    }
}
