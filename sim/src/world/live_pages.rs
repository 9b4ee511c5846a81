//! A live run's admin requests whose size grows with the run, cut into pages: the judge's
//! `POST /_mock/bookable` questions (one per refusal judged) go in pages that each fit half
//! the mock's body limit, whatever the number of calls, so that no run ends on a 413.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// One question: (event type, start, the instant the booking would have arrived).
pub type Query = (u64, DateTime<Utc>, DateTime<Utc>);

/// A query as the mock reads it.
fn wire(q: &Query) -> Value {
    json!({ "eventTypeId": q.0, "start": q.1.to_rfc3339(), "at": q.2.to_rfc3339() })
}

/// `queries` cut into request bodies of at most `max_body_bytes / 2` bytes each (at least
/// one query a page), in order.
pub fn pages(queries: &[Query], max_body_bytes: usize) -> Vec<String> {
    let budget = (max_body_bytes / 2).max(1);
    let empty = r#"{"queries":[]}"#.len();
    let mut pages = Vec::new();
    let mut page: Vec<String> = Vec::new();
    let mut size = empty;
    for q in queries {
        let item = wire(q).to_string();
        if !page.is_empty() && size + item.len() + 1 > budget {
            pages.push(format!("{{\"queries\":[{}]}}", page.join(",")));
            page.clear();
            size = empty;
        }
        size += item.len() + 1;
        page.push(item);
    }
    if !page.is_empty() {
        pages.push(format!("{{\"queries\":[{}]}}", page.join(",")));
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any number of questions and any body limit the mock accepts: every page fits,
        /// and the pages hold every question once, in order.
        #[test]
        fn every_page_fits_the_limit_and_the_pages_hold_every_question(
            n in 0usize..3000, limit in 1024usize..200_000, offset_s in 0i64..100_000_000,
        ) {
            let at = DateTime::from_timestamp(1_700_000_000 + offset_s, 123_000_000).unwrap();
            let queries: Vec<Query> = (0..n)
                .map(|i| (i as u64 * 7919, at + chrono::TimeDelta::seconds(i as i64), at))
                .collect();
            let pages = pages(&queries, limit);
            let mut back = Vec::new();
            for p in &pages {
                proptest::prop_assert!(p.len() <= limit / 2, "{} > {}", p.len(), limit / 2);
                let v: Value = serde_json::from_str(p).unwrap();
                back.extend(v["queries"].as_array().unwrap().iter().cloned());
            }
            let expected: Vec<Value> = queries.iter().map(wire).collect();
            proptest::prop_assert_eq!(back, expected);
        }
    }
}
