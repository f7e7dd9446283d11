//! The artifacts the binary embeds (abi/HealthRecords.json, bench/abi/PaperBaseline.json) must be
//! what their sources compile to. After changing a contract, rebuild with
//! `cargo run -p hrm-contract-build`.

use std::path::Path;

use hrm::chain::HealthRecords;
use hrm::tools::{Tool, locate};
use hrm_contract_build::{CONTRACTS, ContractArtifact, HEALTH_RECORDS, compile_contract};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed(path: &str) -> (String, ContractArtifact) {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let artifact = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    (text, artifact)
}

#[test]
fn committed_artifacts_match_a_fresh_compile() {
    let solc = locate(Tool::Solc).unwrap_or_else(|e| panic!("{e}"));
    for spec in CONTRACTS {
        let fresh = compile_contract(root(), &solc, spec).unwrap_or_else(|e| panic!("compiling {}: {e}", spec.source));
        let (text, artifact) = committed(spec.artifact);
        assert_eq!(
            artifact.source_sha256, fresh.source_sha256,
            "{} was built from another version of {}: run `cargo run -p hrm-contract-build`",
            spec.artifact, spec.source
        );
        assert_eq!(artifact, fresh, "{} is stale: run `cargo run -p hrm-contract-build`", spec.artifact);
        assert_eq!(text, fresh.to_json().unwrap(), "{} is not in its canonical layout", spec.artifact);
        assert_eq!(fresh.compiler.evm_version, "london");
        assert!(fresh.compiler.version.starts_with("0.8.37"));
    }
}

#[test]
fn the_binary_deploys_the_committed_bytecode() {
    let (_, artifact) = committed(HEALTH_RECORDS.artifact);
    assert_eq!(format!("{}", HealthRecords::BYTECODE), artifact.bytecode);
    assert_eq!(format!("{}", HealthRecords::DEPLOYED_BYTECODE), artifact.deployed_bytecode);
}
