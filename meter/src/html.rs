//! The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! with a stacked bar chart of core-hours per key per day, and the report's table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{Report, Row};

/// Colours for the keys, in turn (distinguishable, and legible on white).
const PALETTE: [&str; 10] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page.
pub fn page(r: &Report) -> String {
    let mut out = String::new();
    let title = format!("sparkoss usage by {} — {} to {}", r.by.as_str(), r.since, r.until);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}} \
         th,td{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}} th:first-child,td:first-child{{text-align:left}} \
         .legend span{{display:inline-block;margin-right:1em}} .sw{{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}}\
         </style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let keys: Vec<&str> = r.rows.iter().map(|row| row.key.as_str()).collect();
    let colour = |k: &str| PALETTE[keys.iter().position(|x| *x == k).unwrap_or(0) % PALETTE.len()];
    out.push_str("<h2>Requested core-hours per day</h2>\n");
    out.push_str(&chart(r, &keys, &colour, |d| d.requested_core_hours));
    if r.usage_sampled {
        out.push_str("<h2>Used core-hours per day (metrics.k8s.io samples)</h2>\n");
        out.push_str(&chart(r, &keys, &colour, |d| d.used_core_hours));
    } else {
        out.push_str("<p>No metrics.k8s.io samples in this window: requests only.</p>\n");
    }
    out.push_str("<div class=\"legend\">");
    for k in &keys {
        let _ = write!(out, "<span><i class=\"sw\" style=\"background:{}\"></i>{}</span>", colour(k), esc(k));
    }
    out.push_str("</div>\n<h2>Totals</h2>\n");
    out.push_str(&table(r));
    out.push_str("</body></html>\n");
    out
}

/// A stacked bar chart: one bar per day, one segment per key.
fn chart(r: &Report, keys: &[&str], colour: &dyn Fn(&str) -> &'static str, value: fn(&crate::report::Daily) -> f64) -> String {
    let mut days: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
    for d in &r.daily {
        days.entry(d.day.as_str()).or_default().push((d.key.as_str(), value(d)));
    }
    if days.is_empty() || keys.is_empty() {
        return "<p>Nothing ran in this window.</p>\n".into();
    }
    let max = days.values().map(|v| v.iter().map(|(_, x)| x).sum::<f64>()).fold(0.0, f64::max).max(1e-9);
    let (bar, gap, height, left, bottom) = (36.0, 14.0, 220.0, 60.0, 40.0);
    let width = left + days.len() as f64 * (bar + gap) + gap;
    let mut s = String::new();
    let _ = write!(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\">", height + bottom + 10.0);
    // Axis with the maximum and half of it.
    for frac in [0.0, 0.5, 1.0] {
        let y = 10.0 + height * (1.0 - frac);
        let _ = write!(s, "<line x1=\"{left}\" x2=\"{width}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>");
        let _ = write!(s, "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{:.3}</text>", left - 6.0, y + 4.0, max * frac);
    }
    for (i, (day, parts)) in days.iter().enumerate() {
        let x = left + gap + i as f64 * (bar + gap);
        let mut y = 10.0 + height;
        for (key, v) in parts {
            let h = v / max * height;
            y -= h;
            let _ = write!(
                s,
                "<rect x=\"{x}\" y=\"{y:.2}\" width=\"{bar}\" height=\"{h:.2}\" fill=\"{}\"><title>{} {}: {v:.4}</title></rect>",
                colour(key),
                esc(day),
                esc(key)
            );
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + bar / 2.0,
            height + 28.0,
            esc(&day[5..])
        );
    }
    s.push_str("</svg>\n");
    s
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
}

fn table(r: &Report) -> String {
    let mut s = format!(
        "<table><tr><th>{}</th><th>pods</th><th>jobs</th><th>requested core-h</th><th>requested GiB-h</th><th>used core-h</th><th>peak pod GiB</th><th>first run</th><th>last run</th></tr>\n",
        esc(r.by.as_str())
    );
    for row in &r.rows {
        let Row {
            key,
            pods,
            jobs,
            requested_core_hours,
            requested_gib_hours,
            used_core_hours,
            peak_pod_memory_bytes,
            first_run,
            last_run,
            ..
        } = row;
        let jobs = jobs.iter().map(|(k, v)| format!("{v} {}", k.to_lowercase())).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{pods}</td><td>{}</td><td>{requested_core_hours:.4}</td><td>{requested_gib_hours:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(key),
            esc(&jobs),
            cell(*used_core_hours, 4),
            cell(peak_pod_memory_bytes.map(|b| b as f64 / (1u64 << 30) as f64), 3),
            esc(first_run.as_deref().unwrap_or("–")),
            esc(last_run.as_deref().unwrap_or("–"))
        );
    }
    s.push_str("</table>\n");
    s
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::db::PodRow;
    use crate::report::{aggregate, By};

    #[test]
    fn the_page_is_self_contained_and_escapes_keys() {
        let h = 3_600_000;
        let pods = vec![PodRow {
            uid: "u".into(),
            namespace: "n".into(),
            name: "p".into(),
            job: "j".into(),
            user: "<ana>".into(),
            role: "driver".into(),
            cpu_request_millis: 1000,
            memory_request_bytes: 0,
            created_ms: 0,
            started_ms: Some(0),
            ended_ms: Some(h),
            phase: "Succeeded".into(),
            exit_code: Some(0),
            deleted: false,
        }];
        let page = super::page(&aggregate(By::User, &pods, &HashMap::new(), &HashMap::new(), 0, 2 * h, 2 * h));
        assert!(page.contains("&lt;ana&gt;") && !page.contains("<ana>"));
        assert!(page.contains("<svg") && page.contains("<rect"));
        assert!(!page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http"));
    }
}
