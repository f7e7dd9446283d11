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
