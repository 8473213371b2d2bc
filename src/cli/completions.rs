//! `ebb completions SHELL` (hidden): prints the shell completion script for
//! bash, zsh or fish, generated from the clap definitions, for the Debian
//! package (or `source <(ebb completions bash)` by hand).

use super::Cli;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;
use std::process::ExitCode;

/// The shells the package ships completions for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompletionShell {
    /// GNU Bash (with bash-completion).
    Bash,
    /// The Z shell.
    Zsh,
    /// The fish shell.
    Fish,
}

impl From<CompletionShell> for Shell {
    fn from(shell: CompletionShell) -> Shell {
        match shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        }
    }
}

/// The arguments of `ebb completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print the completion script for.
    pub shell: CompletionShell,
}

/// Prints the completion script for the shell to standard output.
pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(
        Shell::from(args.shell),
        &mut command,
        "ebb",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}
