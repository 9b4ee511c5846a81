//! HdrHistogram V2 interval logs (`.hlog`), the format HdrHistogram's own tools read
//! (HistogramLogProcessor, HistogramLogAnalyzer): one tagged histogram per operation per
//! interval of simulated time, base time the scenario's start.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

/// `intervals` yields (interval start in ms since `start_epoch_ms`, histograms by operation).
pub fn write(
    start_epoch_ms: i64,
    width_ms: u64,
    intervals: impl IntoIterator<Item = (u64, BTreeMap<String, Histogram<u64>>)>,
) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = UNIX_EPOCH + Duration::from_millis(u64::try_from(start_epoch_ms).unwrap_or(0));
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("bookingsim latency intervals, milliseconds, simulated time")
        .with_start_time(start)
        .with_base_time(start)
        .begin_log_with(&mut buf, &mut serializer)
        .map_err(|e| e.to_string())?;
    for (at, histograms) in intervals {
        for (op, h) in &histograms {
            // Tags may not hold spaces, commas or '='.
            let tag = op.replace([' ', ',', '='], "_");
            log.write_histogram(
                h,
                Duration::from_millis(at),
                Duration::from_millis(width_ms),
                Tag::new(&tag),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    drop(log);
    String::from_utf8(buf).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn hdr_tools_read_back_every_interval() {
        let mut h = Histogram::new_with_bounds(1, 3_600_000, 3).unwrap();
        h.record(1200).unwrap();
        h.record(80).unwrap();
        let intervals = vec![
            (0, BTreeMap::from([("start_booking".to_owned(), h.clone())])),
            (10_000, BTreeMap::from([("calcom.slots".to_owned(), h)])),
        ];
        let text = write(1_763_719_140_000, 10_000, intervals).unwrap();
        assert!(text.contains("#[StartTime: 1763719140.000"), "{text}");
        let read: Vec<(String, f64, f64)> = IntervalLogIterator::new(text.as_bytes())
            .filter_map(|e| match e.unwrap() {
                LogEntry::Interval(i) => Some((
                    i.tag().unwrap().as_str().to_owned(),
                    i.start_timestamp().as_secs_f64(),
                    i.max(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].0, "start_booking");
        assert_eq!(read[1], ("calcom.slots".to_owned(), 10.0, read[1].2));
        assert!((read[0].2 - 1200.0).abs() < 2.0, "max {}", read[0].2);
    }
}
