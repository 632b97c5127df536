//! Opening a segment directory: finding the segment files, scanning every record with its CRC, and
//! cutting what cannot be trusted.
//!
//! * In the **last** segment, everything from the first bad frame on (a torn write, a corrupt frame,
//!   trailing garbage) is truncated off the file and reported with `tracing::warn!`.
//! * In an **older** segment, the file is left as it is for inspection, but nothing from the first
//!   bad frame to the end of that segment is served; this is reported with `tracing::error!`.
//!   Readers skip from there to the next segment, so offsets are never reused.
//! * Zeros from a frame boundary to the end of the file are the unused part of a spare segment
//!   (see `spare`), not damage: the data ends there, quietly. In the last segment they are cut
//!   too, so nothing written there before a crash can resurface. Zeros followed by anything else
//!   are damage like any other.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::Path;

use crate::LogConfig;
use crate::error::LogError;
use crate::frame::{self, FrameFault, HEADER_LEN, Header};
use crate::fsutil::sync_dir;

use super::index::{Segment, SegmentList, parse_segment_file_name, segment_file_name};

const SCAN_BUFFER_BYTES: usize = 1 << 20;

/// The state of a log directory after recovery.
pub(super) struct Recovered {
    /// All segments; the last one is the active segment, truncated to its valid data.
    pub(super) segments: SegmentList,
    /// The offset the next append receives.
    pub(super) next_offset: u64,
    /// The newest timestamp found (appends never go below it).
    pub(super) last_ts: i64,
}

/// The valid prefix of one segment file.
struct Scan {
    positions: Vec<u32>,
    data_end: u64,
    file_len: u64,
    max_ts: i64,
    fault: Option<String>,
    /// Whether the file ends in zeros after the data (an unused spare's tail).
    zero_tail: bool,
}

/// Recovers the segments in `dir`, creating the first one if there is none.
pub(super) fn recover(dir: &Path, config: &LogConfig) -> Result<Recovered, LogError> {
    let bases = list_segments(dir)?;
    let mut segments = SegmentList::default();
    if bases.is_empty() {
        segments
            .segments
            .push_back(create_segment(dir, 0, config.fsync)?);
    }
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let segment = recover_segment(dir, base, last, config.fsync)?;
        if let Some(previous) = segments.segments.back_mut() {
            drop_overlap(previous, base);
        }
        segments.segments.push_back(segment);
    }
    let next_offset = segments.segments.back().map_or(0, |s| s.end());
    let last_ts = segments
        .segments
        .iter()
        .map(|s| s.max_ts)
        .max()
        .unwrap_or(i64::MIN);
    Ok(Recovered {
        segments,
        next_offset,
        last_ts,
    })
}

/// Base offsets of the segment files in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>, LogError> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| LogError::io("list directory", dir, e))? {
        let entry = entry.map_err(|e| LogError::io("list directory", dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Creates an empty segment file for `base` and makes its directory entry durable.
pub(super) fn create_segment(dir: &Path, base: u64, fsync: bool) -> Result<Segment, LogError> {
    let path = dir.join(segment_file_name(base));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| LogError::io("create segment", &path, e))?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(Segment::new(base, path, file))
}

fn recover_segment(dir: &Path, base: u64, last: bool, fsync: bool) -> Result<Segment, LogError> {
    let path = dir.join(segment_file_name(base));
    let file = OpenOptions::new()
        .read(true)
        .write(last)
        .open(&path)
        .map_err(|e| LogError::io("open segment", &path, e))?;
    let scan = scan(&file, &path, base)?;
    if let Some(fault) = &scan.fault {
        let served_end = base + scan.positions.len() as u64;
        if last {
            tracing::warn!(
                segment = %path.display(),
                valid_records = scan.positions.len(),
                cut_from_byte = scan.data_end,
                cut_bytes = scan.file_len - scan.data_end,
                reason = %fault,
                "cutting the damaged tail of the last segment; appends resume at offset {served_end}"
            );
        } else {
            tracing::error!(
                segment = %path.display(),
                corrupt_at_byte = scan.data_end,
                reason = %fault,
                "corruption inside an older segment: records from offset {served_end} to the end of this segment are not served"
            );
        }
    } else if scan.zero_tail {
        tracing::debug!(segment = %path.display(), data_end = scan.data_end, "unused spare space after the data");
    }
    if last && scan.data_end < scan.file_len {
        file.set_len(scan.data_end)
            .map_err(|e| LogError::io("truncate segment", &path, e))?;
        if fsync {
            file.sync_all()
                .map_err(|e| LogError::io("fsync segment", &path, e))?;
        }
    }
    let mut segment = Segment::new(base, path, file);
    segment.positions = scan.positions;
    segment.data_end = scan.data_end;
    segment.file_bytes = if last { scan.data_end } else { scan.file_len };
    segment.max_ts = scan.max_ts;
    Ok(segment)
}

/// Stops serving records of `previous` that a later segment starting at `next_base` also claims.
fn drop_overlap(previous: &mut Segment, next_base: u64) {
    if previous.end() <= next_base {
        return;
    }
    let keep = usize::try_from(next_base.saturating_sub(previous.base)).unwrap_or(usize::MAX);
    tracing::error!(
        segment = %previous.path.display(),
        next_base,
        "segment overlaps the next one; records from offset {next_base} of this segment are not served"
    );
    if let Some(&cut) = previous.positions.get(keep) {
        previous.data_end = u64::from(cut);
    }
    previous.positions.truncate(keep);
}

/// Reads `file` front to back and returns the longest prefix of valid frames.
fn scan(file: &File, path: &Path, base: u64) -> Result<Scan, LogError> {
    let file_len = file
        .metadata()
        .map_err(|e| LogError::io("stat segment", path, e))?
        .len();
    let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, file);
    let mut scan = Scan {
        positions: Vec::new(),
        data_end: 0,
        file_len,
        max_ts: i64::MIN,
        fault: None,
        zero_tail: false,
    };
    let mut header_bytes = [0u8; HEADER_LEN];
    let mut payload = Vec::new();
    while scan.data_end < file_len {
        let position = scan.data_end;
        let remaining = file_len - position;
        let fault = |f: FrameFault| Some(f.to_string());
        let head = &mut header_bytes
            [..usize::try_from(remaining).map_or(HEADER_LEN, |r| r.min(HEADER_LEN))];
        reader
            .read_exact(head)
            .map_err(|e| LogError::io("read segment", path, e))?;
        if head.iter().all(|&b| b == 0) {
            // No frame header is all zeros (the CRC of zero fields is not zero): this is an
            // unused spare's tail, if it is zeros to the end.
            if rest_is_zero(&mut reader).map_err(|e| LogError::io("read segment", path, e))? {
                scan.zero_tail = true;
            } else {
                scan.fault = Some("zeros where a record should start, and data after them".into());
            }
            break;
        }
        if remaining < HEADER_LEN as u64 {
            scan.fault = fault(FrameFault::Truncated);
            break;
        }
        let announced = Header::parse(&header_bytes);
        if announced.frame_len() > remaining {
            scan.fault = fault(FrameFault::Truncated);
            break;
        }
        payload.resize(announced.payload_len as usize, 0);
        reader
            .read_exact(&mut payload)
            .map_err(|e| LogError::io("read segment", path, e))?;
        let expected = base + scan.positions.len() as u64;
        let header = match frame::validate(&header_bytes, &payload, expected) {
            Ok(header) => header,
            Err(f) => {
                scan.fault = fault(f);
                break;
            }
        };
        let Ok(position32) = u32::try_from(position) else {
            scan.fault = Some(format!("record at byte {position} lies beyond 4 GiB"));
            break;
        };
        scan.positions.push(position32);
        scan.max_ts = scan.max_ts.max(header.timestamp_ms);
        scan.data_end = position + header.frame_len();
    }
    Ok(scan)
}

/// Whether everything `reader` has left is zeros.
fn rest_is_zero(reader: &mut impl Read) -> std::io::Result<bool> {
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) if chunk[..n].iter().any(|&b| b != 0) => return Ok(false),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
