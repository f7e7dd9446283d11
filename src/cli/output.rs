//! Printing for people (tables) and for scripts (`--json`).

use std::io::IsTerminal;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use hrm::chain::TxOutcome;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> eyre::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A progress bar on stderr drawn with `template`; hidden for `--json` and when stderr is not a
/// terminal, so that scripts and logs get no control characters.
pub fn progress_bar(json: bool, template: &str) -> ProgressBar {
    let bar = if json || !std::io::stderr().is_terminal() { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
    bar
}

/// Whether stdout may carry ANSI styling: only a terminal, and only while `NO_COLOR` is unset or
/// empty (<https://no-color.org>), so that logs and pipes get plain text.
pub fn stdout_is_styled() -> bool {
    styling_allowed(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR"))
}

fn styling_allowed(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// `text` in bold where stdout is styled, as it is otherwise.
pub fn bold(text: &str) -> String {
    if stdout_is_styled() { format!("\x1b[1m{text}\x1b[0m") } else { text.to_string() }
}

/// A table with the given header, laid out for the terminal.
pub fn table<I: IntoIterator<Item = &'static str>>(header: I) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(header);
    table
}

/// A two-column table of labels and values, without a header.
pub fn key_value_table() -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table
}

/// Prints what a transaction did, under a one-line summary.
pub fn print_tx(json: bool, summary: &str, outcome: &TxOutcome, extra: serde_json::Value) -> eyre::Result<()> {
    if json {
        let mut value = serde_json::to_value(outcome)?;
        if let (Some(map), serde_json::Value::Object(more)) = (value.as_object_mut(), extra) {
            map.extend(more);
        }
        return print_json(&value);
    }
    println!("{summary}");
    let mut rows = key_value_table();
    if let Some(id) = outcome.entry_id {
        rows.add_row(vec!["entry".to_string(), id.to_string()]);
    }
    rows.add_row(vec!["transaction".to_string(), outcome.tx_hash.to_string()]);
    rows.add_row(vec!["block".to_string(), outcome.block.to_string()]);
    rows.add_row(vec!["gas used".to_string(), outcome.gas_used.to_string()]);
    println!("{rows}");
    Ok(())
}

/// What became of a new entry's envelope pushes, one line each; nothing when there were none.
pub fn print_deliveries(report: &hrm::exchange::DeliveryReport) {
    for push in &report.delivered {
        println!("Envelope of entry {} delivered to {}.", push.entry_id, push.hospital);
    }
    for push in &report.queued {
        let reason = push.reason.as_deref().unwrap_or("unknown");
        println!(
            "Envelope of entry {} not delivered to {} ({reason}); the follower tries again.",
            push.entry_id, push.hospital
        );
    }
}

#[cfg(test)]
mod tests {
    use super::styling_allowed;

    #[test]
    fn styling_needs_a_terminal_and_no_no_color() {
        assert!(styling_allowed(true, None));
        assert!(styling_allowed(true, Some("".into())), "an empty NO_COLOR does not count");
        assert!(!styling_allowed(true, Some("1".into())));
        assert!(!styling_allowed(false, None));
    }
}
