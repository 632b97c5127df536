//! The state store's journal format: a sequence of framed entries, and its replay.
//!
//! ```text
//! | body len: u32 LE | crc32c of (len field + body): u32 LE | body |
//! body = | kind: u8 (1 put, 2 delete) | key len: u32 LE | key (UTF-8) | value (rest of body) |
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;

const FRAME_HEADER: usize = 8;
const BODY_HEADER: usize = 5;
const KIND_PUT: u8 = 1;
const KIND_DELETE: u8 = 2;

/// One change to the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Put(String, Bytes),
    Delete(String),
}

/// Journal bytes taken by an entry that stores `value` under `key`.
pub(super) fn entry_len(key: &str, value: &[u8]) -> usize {
    FRAME_HEADER + BODY_HEADER + key.len() + value.len()
}

impl Op {
    /// Journal bytes this entry takes.
    pub(super) fn encoded_len(&self) -> usize {
        match self {
            Op::Put(key, value) => entry_len(key, value),
            Op::Delete(key) => entry_len(key, &[]),
        }
    }

    /// Appends the framed entry to `buf`. Keys and values are bounded far below 4 GiB by the
    /// store's limits.
    pub(super) fn encode(&self, buf: &mut Vec<u8>) {
        let (kind, key, value): (u8, &str, &[u8]) = match self {
            Op::Put(key, value) => (KIND_PUT, key, value),
            Op::Delete(key) => (KIND_DELETE, key, &[]),
        };
        let body_len = BODY_HEADER + key.len() + value.len();
        let len_field = u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes();
        let key_len = u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes();
        let start = buf.len();
        buf.extend_from_slice(&len_field);
        buf.extend_from_slice(&[0; 4]);
        buf.push(kind);
        buf.extend_from_slice(&key_len);
        buf.extend_from_slice(key.as_bytes());
        buf.extend_from_slice(value);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&len_field), &buf[start + FRAME_HEADER..]);
        buf[start + 4..start + FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
    }

    /// Applies the entry to `map`; returns the change in live bytes (entries needed to rebuild the
    /// map).
    pub(super) fn apply(self, map: &mut BTreeMap<String, Bytes>) -> i64 {
        let size = |key: &str, value: &Bytes| entry_len(key, value) as i64;
        match self {
            Op::Put(key, value) => {
                let added = size(&key, &value);
                let replaced = map.get(&key).map_or(0, |old| size(&key, old));
                map.insert(key, value);
                added - replaced
            }
            Op::Delete(key) => map.remove(&key).map_or(0, |old| -size(&key, &old)),
        }
    }
}

/// The result of replaying a journal.
pub(super) struct Replay {
    pub(super) map: BTreeMap<String, Bytes>,
    /// Journal bytes of the live entries.
    pub(super) live_bytes: u64,
    /// End of the last valid entry.
    pub(super) valid_len: u64,
    /// Why replay stopped before the end, if it did.
    pub(super) fault: Option<String>,
}

/// Replays `data` up to its first invalid entry.
pub(super) fn replay(data: &[u8]) -> Replay {
    let mut map = BTreeMap::new();
    let mut live: i64 = 0;
    let mut at = 0usize;
    let fault = loop {
        if at == data.len() {
            break None;
        }
        match decode(&data[at..]) {
            Ok((op, len)) => {
                live += op.apply(&mut map);
                at += len;
            }
            Err(reason) => break Some(reason.to_owned()),
        }
    };
    Replay {
        map,
        live_bytes: u64::try_from(live).unwrap_or(0),
        valid_len: at as u64,
        fault,
    }
}

/// Decodes the entry at the start of `data`; returns it and its length.
fn decode(data: &[u8]) -> Result<(Op, usize), &'static str> {
    let header = data
        .get(..FRAME_HEADER)
        .ok_or("entry header is truncated")?;
    let len_field: [u8; 4] = [header[0], header[1], header[2], header[3]];
    let stored_crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let body_len = u32::from_le_bytes(len_field) as usize;
    let body = data
        .get(FRAME_HEADER..FRAME_HEADER.saturating_add(body_len))
        .ok_or("entry body is truncated")?;
    if crc32c::crc32c_append(crc32c::crc32c(&len_field), body) != stored_crc {
        return Err("entry CRC32C mismatch");
    }
    if body.len() < BODY_HEADER {
        return Err("entry body is shorter than its header");
    }
    let key_len = u32::from_le_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let key = body
        .get(BODY_HEADER..BODY_HEADER.saturating_add(key_len))
        .ok_or("entry key overruns its body")?;
    let key = std::str::from_utf8(key)
        .map_err(|_| "entry key is not UTF-8")?
        .to_owned();
    let value = &body[BODY_HEADER + key_len..];
    let op = match body[0] {
        KIND_PUT => Op::Put(key, Bytes::copy_from_slice(value)),
        KIND_DELETE if value.is_empty() => Op::Delete(key),
        _ => return Err("unknown entry kind"),
    };
    Ok((op, FRAME_HEADER + body_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(ops: &[Op]) -> Vec<u8> {
        let mut buf = Vec::new();
        for op in ops {
            op.encode(&mut buf);
        }
        buf
    }

    #[test]
    fn replay_applies_puts_and_deletes_and_counts_live_bytes() {
        let ops = [
            Op::Put("a".into(), Bytes::from_static(b"1")),
            Op::Put("b".into(), Bytes::from_static(b"22")),
            Op::Put("a".into(), Bytes::from_static(b"333")),
            Op::Delete("b".into()),
        ];
        let data = journal(&ops);
        assert_eq!(data.len(), ops.iter().map(Op::encoded_len).sum::<usize>());
        let replay = replay(&data);
        assert!(replay.fault.is_none());
        assert_eq!(replay.valid_len, data.len() as u64);
        assert_eq!(replay.map.len(), 1);
        assert_eq!(replay.map["a"], Bytes::from_static(b"333"));
        assert_eq!(replay.live_bytes, entry_len("a", b"333") as u64);
    }

    #[test]
    fn replay_stops_at_the_first_damaged_entry() {
        let first = Op::Put("k".into(), Bytes::from_static(b"v"));
        let data = journal(&[first.clone(), Op::Put("x".into(), Bytes::from_static(b"y"))]);
        let keep = first.encoded_len();
        for cut in keep + 1..data.len() {
            let replay = replay(&data[..cut]);
            assert_eq!(replay.valid_len, keep as u64, "cut at {cut}");
            assert!(replay.fault.is_some());
        }
        let mut flipped = data.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let replay = replay(&flipped);
        assert_eq!((replay.valid_len, replay.map.len()), (keep as u64, 1));
    }
}
