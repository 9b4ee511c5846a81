//! One self-contained HTML file: inline CSS and SVG, no scripts, no network. Well-formed
//! XML as well, so any XML tool can read it.

use crate::{Block, Document};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:84rem;\
padding:0 1rem;color:#222}h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;\
border-bottom:1px solid #ddd}.table{max-width:100%;overflow-x:auto;margin:.5rem 0}\
table{border-collapse:collapse;font-size:.85rem}\
th,td{border:1px solid #ccc;padding:.2rem .4rem;text-align:right}\
th{background:#f3f3f3;vertical-align:bottom}\
td:first-child,th:first-child{text-align:left}figure{margin:1rem 0}svg{max-width:100%;height:auto}\
.fail{color:#b00;font-weight:bold}\
.row{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,36rem),1fr));\
gap:0 1.5rem;align-items:start}.row figure{margin:1rem 0;min-width:0}";

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(doc: &Document) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&doc.title),
        escape(&doc.title)
    );
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => out += &format!("<h2>{}</h2>\n", escape(h)),
            Block::Text(t) => out += &format!("<p>{}</p>\n", escape(t)),
            Block::Table { header, rows } => {
                // Its own box: a table wider than the page scrolls inside it.
                out += "<div class=\"table\">\n<table>\n<tr>";
                for h in header {
                    // Long names may break after `_`, `.` and `]` (`journeys[0].arrivals.rate`),
                    // so a wide table narrows to the page.
                    let h = escape(h)
                        .replace('_', "_<wbr/>")
                        .replace('.', ".<wbr/>")
                        .replace(']', "]<wbr/>");
                    out += &format!("<th>{h}</th>");
                }
                out += "</tr>\n";
                for r in rows {
                    out += "<tr>";
                    for c in r {
                        let class = if c == "FAIL" { " class=\"fail\"" } else { "" };
                        out += &format!("<td{class}>{}</td>", escape(c));
                    }
                    out += "</tr>\n";
                }
                out += "</table>\n</div>\n";
            }
            Block::Chart(c) => out += &figure(c),
            Block::Row(charts) => {
                // Two columns where the page is wide enough (1400 px), one where it is not.
                out += "<div class=\"row\">\n";
                for c in charts {
                    out += &figure(c);
                }
                out += "</div>\n";
            }
        }
    }
    out += "</body>\n</html>\n";
    out
}

/// A chart as a figure: its SVG as it is, minus an XML declaration.
fn figure(c: &crate::Chart) -> String {
    let svg = c
        .svg
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>").map(|(_, svg)| svg))
        .unwrap_or(&c.svg);
    format!("<figure>\n{}\n</figure>\n", svg.trim())
}
