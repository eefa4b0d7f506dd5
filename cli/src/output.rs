//! How results reach the terminal: aligned tables for people, JSON for scripts, progress bars
//! for long work. Colour and progress bars appear only on a terminal: `anstream` strips styles
//! when stdout is not one (and honours NO_COLOR / CLICOLOR_FORCE), and indicatif draws nothing
//! when stderr is not one, so scripts and pipes get plain text.

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

const HEADER: Style = Style::new().bold();

/// The colour of a status cell: done is green, in flight yellow, waiting plain, broken red.
fn status_style(status: &str) -> Style {
    let color = match status {
        "completed" => AnsiColor::Green,
        "running" | "claimed" | "paused" => AnsiColor::Yellow,
        "failed" | "dead_letter" | "cancelled" | "suspended" | "revoked" => AnsiColor::Red,
        _ => return Style::new(),
    };
    Style::new().fg_color(Some(color.into()))
}

/// Prints `rows` under `headers`, each column as wide as its widest cell; a STATUS column is
/// coloured by value.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<(Style, &str)>| {
        let last = cells.len().saturating_sub(1);
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, ((style, cell), width))| {
                let width = if i == last { 0 } else { *width };
                format!("{style}{cell:<width$}{style:#}")
            })
            .collect();
        anstream::println!("{}", padded.join("  "));
    };
    line(headers.iter().map(|h| (HEADER, *h)).collect());
    for row in rows {
        let cells = row
            .iter()
            .zip(headers)
            .map(|(cell, header)| (if *header == "STATUS" { status_style(cell) } else { Style::new() }, cell.as_str()))
            .collect();
        line(cells);
    }
}

/// Prints `label` and `value` as one line of a summary, the label in bold.
pub fn field(label: &str, value: impl std::fmt::Display) {
    anstream::println!("{HEADER}{label:<16}{HEADER:#} {value}");
}

/// Prints a value as pretty JSON (the `--json` form of every read command).
pub fn json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("a Value always serializes"));
}

/// A time as people read it: RFC 3339 to the millisecond.
pub fn time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An optional value, or a dash.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// A progress bar on stderr for work of `unit`s (rows, bytes, pages), hidden when stderr is not
/// a terminal. Feed it the core's `Progress`; a total of 0 (unknown) shows a spinner.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(what: &'static str, unit: &'static str) -> Bar {
        let bar = ProgressBar::new(0);
        let template = if unit == "bytes" {
            "{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({eta})"
        } else {
            "{msg} [{bar:40}] {human_pos}/{human_len} {prefix} ({eta})"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
        bar.set_message(what);
        bar.set_prefix(unit);
        Bar(bar)
    }

    pub fn update(&self, progress: jetstate::Progress) {
        self.0.set_length(progress.total);
        self.0.set_position(progress.done);
    }

    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}
