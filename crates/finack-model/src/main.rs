//! `finack-model`: run the model checker at a chosen bound and print the
//! states explored and each property's result (also `finack model`). Exit
//! code 0 when the exploration was complete and every property holds, 1
//! otherwise.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use finack_model::cli::ModelArgs;

/// Model-check two finack-core endpoints over a faulty network.
#[derive(Parser, Debug)]
#[command(name = "finack-model", version, about)]
struct Cli {
    #[command(flatten)]
    args: ModelArgs,
}

fn main() -> ExitCode {
    if Cli::parse().args.run().ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
