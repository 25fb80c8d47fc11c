//! The `chatstack` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = chatstack::cli::Cli::parse();
    chatstack::ui::init_logging(&cli.global);
    chatstack::run(cli)
}
