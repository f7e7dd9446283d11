//! abi/HealthRecords.json, which the binary embeds, must be what contracts/ compiles to.
//! After changing the contract, rebuild it with `cargo run -p hrm-contract-build`.

use std::path::Path;

use hrm::chain::HealthRecords;
use hrm::tools::{Tool, locate};
use hrm_contract_build::{ARTIFACT_PATH, ContractArtifact, compile_health_records};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_artifact_matches_a_fresh_compile() {
    let solc = locate(Tool::Solc).unwrap_or_else(|e| panic!("{e}"));
    let fresh = compile_health_records(root(), &solc)
        .unwrap_or_else(|e| panic!("compiling the contract: {e}"));
    let committed_text =
        std::fs::read_to_string(root().join(ARTIFACT_PATH)).expect("reading the artifact");
    let committed: ContractArtifact =
        serde_json::from_str(&committed_text).expect("parsing the artifact");
    assert_eq!(
        committed.source_sha256, fresh.source_sha256,
        "{ARTIFACT_PATH} was built from another version of the contract: run `cargo run -p hrm-contract-build`"
    );
    assert_eq!(
        committed, fresh,
        "{ARTIFACT_PATH} is stale: run `cargo run -p hrm-contract-build`"
    );
    assert_eq!(
        committed_text,
        fresh.to_json().unwrap(),
        "{ARTIFACT_PATH} is not in its canonical layout"
    );
    assert_eq!(fresh.compiler.evm_version, "london");
    assert!(fresh.compiler.version.starts_with("0.8.37"));
}

#[test]
fn the_binary_deploys_the_committed_bytecode() {
    let committed: ContractArtifact =
        serde_json::from_str(&std::fs::read_to_string(root().join(ARTIFACT_PATH)).unwrap())
            .unwrap();
    assert_eq!(format!("{}", HealthRecords::BYTECODE), committed.bytecode);
    assert_eq!(
        format!("{}", HealthRecords::DEPLOYED_BYTECODE),
        committed.deployed_bytecode
    );
}
