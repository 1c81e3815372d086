//! Scheduled work as an iCalendar feed (RFC 5545).

use super::*;

/// Scheduled work as an iCalendar (RFC 5545) feed: one event per work order with a
/// `scheduled_for`, an hour long, for the engineers' calendars.
pub fn ical(orders: &[WorkOrder], site: &str, now: Timestamp) -> String {
    fn stamp(t: Timestamp) -> String {
        // 2026-11-29T10:00:00.000Z -> 20261129T100000Z
        let s = t.to_rfc3339();
        format!(
            "{}{}{}T{}{}{}Z",
            &s[0..4],
            &s[5..7],
            &s[8..10],
            &s[11..13],
            &s[14..16],
            &s[17..19]
        )
    }
    fn text(s: &str) -> String {
        s.replace('\\', "\\\\")
            .replace(';', "\\;")
            .replace(',', "\\,")
            .replace('\n', "\\n")
    }
    let mut out = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Orderly//maintenance//EN\r\nCALSCALE:GREGORIAN\r\n",
    );
    for w in orders {
        let Some(at) = w.scheduled_for else { continue };
        if !w.status.is_open() {
            continue;
        }
        let summary = format!("{} {}: {}", w.asset_kind, w.asset, w.reason);
        let mut desc = w.detail.clone();
        if !w.checks.is_empty() {
            desc.push_str(&format!("\nChecks: {}", w.checks.join("; ")));
        }
        if let Some(a) = &w.assignee {
            desc.push_str(&format!("\nAssigned to {a}"));
        }
        let lines = [
            "BEGIN:VEVENT".to_string(),
            format!("UID:{}@{}.orderly", w.id, site),
            format!("DTSTAMP:{}", stamp(now)),
            format!("DTSTART:{}", stamp(at)),
            format!("DTEND:{}", stamp(Timestamp(at.millis() + 3_600_000))),
            format!("SUMMARY:{}", text(&summary)),
            format!("DESCRIPTION:{}", text(&desc)),
            format!(
                "STATUS:{}",
                if w.status == WorkOrderStatus::InProgress {
                    "CONFIRMED"
                } else {
                    "TENTATIVE"
                }
            ),
            "END:VEVENT".to_string(),
        ];
        for l in &lines {
            // Lines fold at 75 octets (RFC 5545 3.1).
            let mut rest = l.as_str();
            let mut first = true;
            while !rest.is_empty() {
                let max = if first { 75 } else { 74 };
                let mut cut = rest.len().min(max);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                if !first {
                    out.push(' ');
                }
                out.push_str(&rest[..cut]);
                out.push_str("\r\n");
                rest = &rest[cut..];
                first = false;
            }
        }
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}
