//! `hrm completions SHELL`: a completion script for bash, zsh or fish, printed on stdout.

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, Args)]
#[command(after_help = "\
Install:
  bash  hrm completions bash > ~/.local/share/bash-completion/completions/hrm
  zsh   hrm completions zsh > \"${fpath[1]}/_hrm\"   (then start a new shell)
  fish  hrm completions fish > ~/.config/fish/completions/hrm.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `hrm completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl From<CompletionShell> for Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        }
    }
}

pub fn run(args: CompletionsArgs) {
    let mut command = Cli::command();
    clap_complete::generate(Shell::from(args.shell), &mut command, "hrm", &mut std::io::stdout());
}
