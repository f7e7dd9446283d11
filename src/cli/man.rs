//! `hrm man`: the manual page, rendered from the same definitions as `--help`.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use eyre::Context as _;

use super::Cli;
use super::output::print_json;

#[derive(Debug, Args)]
#[command(after_help = "\
Read it:     hrm man | man -l -
Install all: hrm man --out-dir /usr/local/share/man/man1 && mandb")]
pub struct ManArgs {
    /// Write hrm.1 and a page per subcommand (hrm-submit-health.1, …) into this folder instead of
    /// printing hrm.1
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn run(json: bool, args: ManArgs) -> eyre::Result<()> {
    let command = Cli::command();
    let Some(dir) = args.out_dir else {
        clap_mangen::Man::new(command).render(&mut std::io::stdout()).context("writing the manual page")?;
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(command, &dir).with_context(|| format!("writing manual pages into {}", dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("hrm") && name.ends_with(".1"))
        .collect();
    pages.sort();
    if json {
        print_json(&serde_json::json!({ "out_dir": dir, "pages": pages }))
    } else {
        println!("wrote {} manual pages into {} (hrm.1 is the overview)", pages.len(), dir.display());
        Ok(())
    }
}
