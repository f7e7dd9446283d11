//! `hrm import --csv FILE | --jsonl FILE | --fhir FILE [--kind health|bill] [--skip-invalid]`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use eyre::{WrapErr, bail};
use hrm::chain::EntryKind;
use hrm::import::{
    ImportIdentity, ImportJournal, ImportParty, ImportProgress, ImportReport, ImportSettings, ParsedSource, RowProblem,
    SourceFormat, describe_lines, import_rows, journal_path, read_and_check, read_and_check_fhir,
};
use serde_json::json;

use super::context::Context;
use super::output::{key_value_table, print_json, progress_bar, table};

const IMPORT_HELP: &str = "\
CSV files have a header line, then one health record per line. The columns, in any order (case,
spaces and underscores in the header are ignored):
  patient, recorded_at, Pregnancies, Glucose, BloodPressure, SkinThickness, Insulin, BMI,
  DiabetesPedigreeFunction, Age, notes (optional)
The patient is an account name, an address or dev:N; recorded_at is YYYY-MM-DD.

JSONL files hold one record per line, as `submit-health --file` or `submit-bill --file` take it,
plus \"patient\":
  {\"patient\": \"alice\", \"recorded_at\": \"2026-03-14\", \"readings\": {\"pregnancies\": 6, ...}}
  {\"patient\": \"alice\", \"issued_at\": \"2026-03-14\", \"currency\": \"USD\", \"line_items\": [...], \"total\": \"120.00\"}

FHIR files are an R4 Bundle of Observations (as `hrm export fhir` writes, or a lab sends): each
panel Observation, or else each patient's Observations of one day, becomes one health record. Codes:
hrm's own and common alternatives (glucose 2345-7, 2339-0, 1558-6, and in mmol/L 14749-6, 15074-8,
14771-0, 14995-5; the blood-pressure panels 85354-9 and 55284-4, whose diastolic is kept; insulin
20448-7; age 21612-7, 29553-5; a BMI from body weight 29463-7 and height 8302-2); units converted
where they differ (glucose mmol/L, insulin pmol/L, skin-fold cm, pounds, inches). A reading left out is \"not measured\"; an age left out comes from the birth date.
The patient is matched by the account identifier, or by this hospital's medical record number
(system urn:hrm:fhir:mrn:<its account>) in its directory. Problems are listed by Bundle entry.

Every row is checked before anything is sent. An import is journaled under HRM_HOME/imports: if it
is interrupted (Ctrl-C, a crash, a lost node), run the same command again and it sends each
remaining row once, and none twice.";

/// `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindChoice {
    /// Health details (readings)
    Health,
    /// Bill details (JSONL only: a bill has line items)
    Bill,
}

impl From<KindChoice> for EntryKind {
    fn from(choice: KindChoice) -> Self {
        match choice {
            KindChoice::Health => Self::Health,
            KindChoice::Bill => Self::Bill,
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// A CSV file of health records (see below for the columns)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["jsonl", "fhir"], required_unless_present_any = ["jsonl", "fhir"])]
    pub csv: Option<PathBuf>,
    /// A JSON-lines file: one record per line, with its "patient"
    #[arg(long, value_name = "FILE", conflicts_with = "fhir")]
    pub jsonl: Option<PathBuf>,
    /// A FHIR R4 Bundle of Observations (health records; see below)
    #[arg(long, value_name = "FILE")]
    pub fhir: Option<PathBuf>,
    /// What the records are
    #[arg(long, value_enum, default_value = "health")]
    pub kind: KindChoice,
    /// Send the valid rows and list the invalid ones, instead of sending nothing
    #[arg(long)]
    pub skip_invalid: bool,
    /// Most records per transaction; fewer when a batch would not fit half a block
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub batch_size: u16,
    /// Batches sent before waiting for the oldest one to be mined
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub in_flight: u16,
}

pub async fn run(context: &Context, args: ImportArgs) -> eyre::Result<()> {
    let (path, format) = match (&args.csv, &args.jsonl, &args.fhir) {
        (Some(path), _, _) => (path.clone(), Some(SourceFormat::Csv)),
        (None, Some(path), _) => (path.clone(), Some(SourceFormat::Jsonl)),
        (None, None, Some(path)) => (path.clone(), None),
        (None, None, None) => bail!("name the file to import with --csv FILE, --jsonl FILE or --fhir FILE"),
    };
    let kind = EntryKind::from(args.kind);
    if format.is_none() && kind == EntryKind::Bill {
        bail!("a FHIR Bundle is imported as health records (Observations); leave out --kind bill");
    }
    let bytes = std::fs::read(&path).wrap_err_with(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|e| eyre::eyre!("{} is not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to()))?;
    let (consortium, signer) = context.consortium_signed().await?;

    let resolve = |cell: &str| context.address(cell).map_err(|e| e.to_string());
    let archive = context.archive().await?;
    let ParsedSource { rows, problems } = match format {
        Some(format) => read_and_check(&consortium, &text, format, kind, &resolve).await?,
        None => read_and_check_fhir(&consortium, &archive, &text, &resolve).await?,
    };
    let place = if format.is_none() { "entry" } else { "line" };
    if !problems.is_empty() {
        print_problems(&path, place, &problems, args.skip_invalid);
        if !args.skip_invalid {
            bail!(
                "{} of {} cannot be imported, so nothing was sent; correct the file and run again, or pass --skip-invalid to send the {} valid rows",
                plural(problems.iter().map(|p| p.line).collect::<std::collections::BTreeSet<_>>().len(), "row"),
                path.display(),
                rows.len()
            );
        }
    }
    if rows.is_empty() {
        bail!("{} holds no records to import", path.display());
    }

    let canonical = path.canonicalize().wrap_err_with(|| format!("resolving {}", path.display()))?;
    let identity = ImportIdentity::of(path.display().to_string(), &bytes, kind, &consortium);
    let journal_file = journal_path(&context.home.join("imports"), &identity, &canonical);
    let mut journal = ImportJournal::open(&journal_file, &identity)?;
    let settings = ImportSettings { batch_size: usize::from(args.batch_size), in_flight: usize::from(args.in_flight) };

    let party = ImportParty { archive: &archive, signer: &signer };
    let bar = progress_bar(context.json(), "{spinner} rows {pos}/{len} [{bar:30}] {msg}");
    let (mut sent_batches, mut confirmed_batches, mut gas) = (0, 0, 0);
    let mut on_progress = |progress: ImportProgress| match progress {
        ImportProgress::Resumed { rows } => {
            bar.suspend(|| eprintln!("resuming: {rows} rows were sent by an earlier run of this import"));
        }
        ImportProgress::Planned { rows } => bar.set_length(rows as u64),
        ImportProgress::BatchSent { .. } => {
            sent_batches += 1;
            bar.set_message(format!("batches {confirmed_batches}/{sent_batches} mined, {gas} gas"));
        }
        ImportProgress::BatchConfirmed { rows, gas_used, .. } => {
            confirmed_batches += 1;
            gas += gas_used;
            bar.inc(rows as u64);
            bar.set_message(format!("batches {confirmed_batches}/{sent_batches} mined, {gas} gas"));
        }
    };
    let interrupted = async {
        tokio::signal::ctrl_c().await.ok();
    };
    let report = tokio::select! {
        report = import_rows(&consortium, &party, kind, &rows, &mut journal, settings, &mut on_progress) => report,
        () = interrupted => {
            bar.finish_and_clear();
            bail!("interrupted; run the same command again to send the remaining rows (journal {})", journal_file.display());
        }
    };
    bar.finish_and_clear();
    let report = report.wrap_err_with(|| {
        format!(
            "importing {} (journal {}; run the same command again to resume)",
            path.display(),
            journal_file.display()
        )
    })?;
    print_report(context, &path, place, &journal_file, &report, &problems)
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

fn print_problems(path: &Path, place: &'static str, problems: &[RowProblem], skipped: bool) {
    let mut rows = table([place, "column", "problem"]);
    for problem in problems {
        rows.add_row(vec![problem.line.to_string(), problem.column.clone(), problem.problem.clone()]);
    }
    let verdict = if skipped { "skipped (--skip-invalid)" } else { "cannot be imported" };
    eprintln!("These rows of {} {verdict}:\n{rows}", path.display());
}

fn print_report(
    context: &Context,
    path: &Path,
    place: &'static str,
    journal: &Path,
    report: &ImportReport,
    skipped: &[RowProblem],
) -> eyre::Result<()> {
    if context.json() {
        return print_json(&json!({
            "file": path,
            "journal": journal,
            "rows": report.rows,
            "batches": report.batches,
            "gas_used": report.gas_used,
            "gas_per_row": report.gas_per_row(),
            "from_earlier_runs": report.from_earlier_runs,
            "sent_now": report.sent_now,
            "skipped": skipped,
        }));
    }
    let mut rows = table([place, "patient", "entry", "batch", "block", "transaction"]);
    for row in &report.rows {
        rows.add_row(vec![
            row.line.to_string(),
            row.patient.to_string(),
            row.entry_id.to_string(),
            row.batch.to_string(),
            row.block.to_string(),
            row.tx_hash.to_string(),
        ]);
    }
    println!("{rows}");
    let mut summary = key_value_table();
    summary.add_row(vec!["imported".into(), format!("{} from {}", plural(report.rows.len(), "row"), path.display())]);
    if report.from_earlier_runs > 0 {
        summary.add_row(vec![
            "of which earlier runs sent".into(),
            format!("{} (this run sent {})", report.from_earlier_runs, report.sent_now),
        ]);
    }
    let ids: Vec<usize> = report.rows.iter().map(|r| r.entry_id as usize).collect();
    summary.add_row(vec!["entries".into(), describe_lines(sorted(ids))]);
    summary.add_row(vec![
        "transactions".into(),
        format!("{}, {} gas ({} per row)", report.batches, report.gas_used, report.gas_per_row()),
    ]);
    if !skipped.is_empty() {
        let lines = describe_lines(sorted(skipped.iter().map(|p| p.line).collect()));
        summary.add_row(vec![format!("skipped {place}s"), lines]);
    }
    summary.add_row(vec!["journal".into(), journal.display().to_string()]);
    println!("{summary}");
    Ok(())
}

fn sorted(mut values: Vec<usize>) -> Vec<usize> {
    values.sort_unstable();
    values.dedup();
    values
}
