//! `cargo run -p hrm-contract-build`: rebuilds the embedded contract artifacts from their sources.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    let solc = hrm_contract_build::default_solc(&root);
    match hrm_contract_build::write_artifacts(&root, &solc) {
        Ok(paths) => {
            for path in paths {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
