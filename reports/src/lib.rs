//! Reports of bookingsim results: one [`Document`] per run, comparison or sweep, rendered as
//! Markdown (a CI log, a PR comment) or as one self-contained HTML file (inline SVG and CSS,
//! opens from disk); SVG charts; HdrHistogram V2 interval logs; JUnit.
//!
//! Input is the harness's results and their histograms; a comparison or sweep report is
//! [`model::SweepReport`], which `sweep.json` is, so this crate depends on no simulation code
//! and the simulation writes what this crate reads.

pub mod charts;
pub mod html;
pub mod interval_log;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod run;
pub mod sweep;

/// A chart: its file name (`charts/<file>` beside the report), title and SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub file: String,
    pub title: String,
    pub svg: String,
}

/// A piece of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(String),
    Text(String),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Chart(Chart),
    /// Charts read side by side (two columns on a wide page, one on a narrow one).
    Row(Vec<Chart>),
}

/// A report, rendered to Markdown or HTML from the same blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn new(title: impl Into<String>) -> Self {
        Document {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn heading(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Heading(text.into()));
    }

    pub fn text(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Text(text.into()));
    }

    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows,
        });
    }

    pub fn chart(&mut self, chart: Option<Chart>) {
        if let Some(c) = chart {
            self.blocks.push(Block::Chart(c));
        }
    }

    /// Charts side by side (those that are drawn; one alone is a plain chart).
    pub fn row(&mut self, charts: impl IntoIterator<Item = Option<Chart>>) {
        let mut charts: Vec<Chart> = charts.into_iter().flatten().collect();
        match charts.len() {
            0 => {}
            1 => self.blocks.push(Block::Chart(charts.remove(0))),
            _ => self.blocks.push(Block::Row(charts)),
        }
    }

    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.blocks.iter().flat_map(|b| match b {
            Block::Chart(c) => std::slice::from_ref(c),
            Block::Row(charts) => charts.as_slice(),
            _ => &[],
        })
    }

    pub fn markdown(&self) -> String {
        markdown::render(self)
    }

    pub fn html(&self) -> String {
        html::render(self)
    }
}

/// Milliseconds as a short readable duration: `850 ms`, `1.74 s`; `-` for none.
pub fn ms(v: Option<f64>) -> String {
    match v {
        Some(ms) if ms.abs() >= 1000.0 => format!("{:.2} s", ms / 1000.0),
        Some(ms) => format!("{ms:.0} ms"),
        None => "-".into(),
    }
}

/// A share as a percentage: `12.5 %`.
pub fn percent(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// A JSON value as table text (strings without quotes).
pub fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}
