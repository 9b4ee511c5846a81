//! Markdown: GitHub-flavoured tables, charts as images beside the file.

use crate::{Block, Document};

pub fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    for block in &doc.blocks {
        out.push('\n');
        match block {
            Block::Heading(h) => out += &format!("## {h}\n"),
            Block::Text(t) => out += &format!("{t}\n"),
            Block::Table { header, rows } => {
                let row = |cells: &[String]| {
                    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
                    format!("| {} |\n", cells.join(" | "))
                };
                out += &row(header);
                out += &format!("|{}\n", "---|".repeat(header.len()));
                for r in rows {
                    out += &row(r);
                }
            }
            Block::Chart(c) => out += &format!("![{}](charts/{})\n", c.title, c.file),
            Block::Row(charts) => {
                for c in charts {
                    out += &format!("![{}](charts/{})\n", c.title, c.file);
                }
            }
        }
    }
    out
}
