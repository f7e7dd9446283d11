//! Builds the `HealthRecords` contract artifact that `hrm` embeds.
//!
//! `hrm` deploys from `abi/HealthRecords.json` (and, for `hrm bench gas`, from
//! `bench/abi/PaperBaseline.json`) so that users need no compiler. This crate is the one place
//! those artifacts are made: it compiles the sources with solc through
//! foundry-compilers (no svm download: the solc binary is the one `tools/setup` installs) and
//! renders the artifact deterministically, so a test can rebuild it and compare byte for byte.

use std::path::{Path, PathBuf};

use foundry_compilers::artifacts::{
    BytecodeHash, EvmVersion, Optimizer, Settings, SettingsMetadata, SolcInput, SolcLanguage, Source, Sources,
    output_selection::OutputSelection,
};
use foundry_compilers::solc::Solc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A contract hrm embeds: where its source is and where its artifact goes (relative to the
/// project root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractSpec {
    pub name: &'static str,
    pub source: &'static str,
    pub artifact: &'static str,
}

/// The consortium's contract.
pub const HEALTH_RECORDS: ContractSpec =
    ContractSpec { name: "HealthRecords", source: "contracts/HealthRecords.sol", artifact: "abi/HealthRecords.json" };
/// The paper's way of storing records (plaintext strings on chain), for `hrm bench gas` only.
pub const PAPER_BASELINE: ContractSpec = ContractSpec {
    name: "PaperBaseline",
    source: "bench/contracts/PaperBaseline.sol",
    artifact: "bench/abi/PaperBaseline.json",
};
/// Every contract built.
pub const CONTRACTS: [ContractSpec; 2] = [HEALTH_RECORDS, PAPER_BASELINE];
/// The solc release the artifact is built with.
pub const SOLC_VERSION: semver::Version = semver::Version::new(0, 8, 37);
/// London: the newest EVM that both Anvil and Geth 1.13 Clique networks run.
pub const EVM_VERSION: EvmVersion = EvmVersion::London;
/// Optimizer runs: tuned for call cost over deployment cost, as the contract is called far more
/// often than it is deployed.
pub const OPTIMIZER_RUNS: usize = 200;

/// Why the contract could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("solc was not found at {0}: run tools/setup to install solc 0.8.37, or set HRM_SOLC to a solc binary")]
    SolcMissing(PathBuf),
    #[error("solc at {path} is version {found}, but the artifact must be built with {expected}")]
    WrongSolcVersion { path: PathBuf, found: semver::Version, expected: semver::Version },
    #[error("running solc failed: {0}")]
    Solc(#[from] foundry_compilers::error::SolcError),
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{0} does not compile:\n{1}")]
    Compile(&'static str, String),
    #[error("solc produced no {1} for {0}")]
    MissingOutput(&'static str, &'static str),
    #[error("serializing the artifact: {0}")]
    Json(#[from] serde_json::Error),
}

/// Compiler settings recorded in the artifact, so its provenance is visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompilerInfo {
    pub version: String,
    pub evm_version: String,
    pub optimizer_runs: usize,
}

/// The committed artifact: the ABI with creation and runtime bytecode, in a layout alloy's `sol!`
/// reads directly (`abi`, `bytecode`, `deployedBytecode`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractArtifact {
    pub contract_name: String,
    /// sha256 of the source the artifact was built from.
    pub source_sha256: String,
    pub compiler: CompilerInfo,
    pub abi: serde_json::Value,
    pub bytecode: String,
    pub deployed_bytecode: String,
}

impl ContractArtifact {
    /// The artifact as committed: pretty JSON with every object's keys sorted and a trailing
    /// newline. Sorting makes the text independent of serde_json's `preserve_order` feature, which
    /// other crates in a build may switch on.
    pub fn to_json(&self) -> Result<String, BuildError> {
        let mut value = serde_json::to_value(self)?;
        sort_keys(&mut value);
        Ok(serde_json::to_string_pretty(&value)? + "\n")
    }
}

/// The solc to use: `HRM_SOLC` if set, else the one `tools/setup` installs under `root`.
pub fn default_solc(root: &Path) -> PathBuf {
    std::env::var_os("HRM_SOLC").map(PathBuf::from).unwrap_or_else(|| root.join(".tools/bin/solc"))
}

/// Compiles one contract under `root` with the given solc.
pub fn compile_contract(root: &Path, solc_path: &Path, spec: ContractSpec) -> Result<ContractArtifact, BuildError> {
    if !solc_path.exists() {
        return Err(BuildError::SolcMissing(solc_path.to_path_buf()));
    }
    let solc = Solc::new(solc_path)?;
    if solc.version_short() != SOLC_VERSION {
        return Err(BuildError::WrongSolcVersion {
            path: solc_path.to_path_buf(),
            found: solc.version.clone(),
            expected: SOLC_VERSION,
        });
    }
    let source_path = root.join(spec.source);
    let text = std::fs::read_to_string(&source_path)
        .map_err(|source| BuildError::Read { path: source_path.clone(), source })?;
    let source_sha256 = hex(&Sha256::digest(text.as_bytes()));

    let mut sources = Sources::new();
    // A relative source unit name keeps the output independent of where the checkout lives.
    sources.insert(PathBuf::from(spec.source), Source::new(text));
    let input = SolcInput::new(SolcLanguage::Solidity, sources, build_settings()).sanitized(&solc.version);

    let output = solc.compile_exact(&input)?;
    if output.has_error() {
        let messages: Vec<String> = output
            .errors
            .iter()
            .filter(|e| e.severity.is_error())
            .map(|e| e.formatted_message.clone().unwrap_or_else(|| e.message.clone()))
            .collect();
        return Err(BuildError::Compile(spec.source, messages.join("\n")));
    }
    let missing = |what| BuildError::MissingOutput(spec.name, what);
    let contract = output.find(spec.name).ok_or(missing("contract"))?;
    let abi = contract.abi.ok_or(missing("ABI"))?;
    let bytecode = contract.bin.and_then(|b| b.as_bytes()).ok_or(missing("creation bytecode"))?;
    let deployed = contract.bin_runtime.and_then(|b| b.as_bytes()).ok_or(missing("runtime bytecode"))?;

    Ok(ContractArtifact {
        contract_name: spec.name.to_string(),
        source_sha256,
        compiler: CompilerInfo {
            version: solc.version.to_string(),
            evm_version: EVM_VERSION.to_string(),
            optimizer_runs: OPTIMIZER_RUNS,
        },
        abi: serde_json::to_value(abi)?,
        bytecode: format!("0x{}", hex(bytecode)),
        deployed_bytecode: format!("0x{}", hex(deployed)),
    })
}

/// Compiles every contract and writes its artifact under `root`; returns the paths written.
pub fn write_artifacts(root: &Path, solc_path: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut written = Vec::new();
    for spec in CONTRACTS {
        let artifact = compile_contract(root, solc_path, spec)?;
        let path = root.join(spec.artifact);
        let write = |path: &Path| -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("artifact path has a parent"))?;
            std::fs::write(path, artifact.to_json().map_err(std::io::Error::other)?)
        };
        write(&path).map_err(|source| BuildError::Write { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

fn build_settings() -> Settings {
    let mut settings = Settings {
        optimizer: Optimizer { enabled: Some(true), runs: Some(OPTIMIZER_RUNS), details: None },
        evm_version: Some(EVM_VERSION),
        // No metadata hash in the bytecode: the artifact then depends only on the source text and
        // these settings, so it rebuilds identically on every machine.
        metadata: Some(SettingsMetadata::new(BytecodeHash::None, false)),
        ..Default::default()
    };
    settings.output_selection = OutputSelection::common_output_selection(
        ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"].map(String::from),
    );
    settings
}

fn sort_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_text_has_sorted_keys_whatever_the_map_order() {
        let mut value = serde_json::json!({ "b": { "z": 1, "a": [ { "y": 2, "x": 3 } ] }, "a": 0 });
        sort_keys(&mut value);
        assert_eq!(value.to_string(), r#"{"a":0,"b":{"a":[{"x":3,"y":2}],"z":1}}"#);
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
    }
}
