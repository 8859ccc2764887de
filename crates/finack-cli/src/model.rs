//! `finack model`: model-check two finack-core endpoints over a network
//! that loses, duplicates, reorders and delays a bounded number of packets
//! (see the finack-model crate). Prints the bound, the states explored and
//! each property's result.

use finack_model::cli::ModelArgs;

use crate::Failure;

/// Run the check; `Ok(false)` when a property failed or the exploration
/// stopped at `--max-states`.
pub fn model(args: &ModelArgs) -> Result<bool, Failure> {
    Ok(args.run().ok())
}
