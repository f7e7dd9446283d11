//! Finding the local tools `tools/setup` installs (anvil, cast, solc, geth, secantusd,
//! fhir-validate).

use std::path::{Path, PathBuf};

/// Environment variable naming the folder that holds the tool binaries.
pub const TOOLS_DIR_ENV: &str = "HRM_TOOLS_DIR";

/// A local tool hrm can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Anvil,
    Cast,
    Solc,
    Geth,
    /// The MongoDB-wire document database server (SecantusDB).
    Secantusd,
    /// FerretDB, the MongoDB-wire server over PostgreSQL, built by tools/setup.
    Ferretdb,
    /// The FHIR R4 reference validator (HAPI FHIR), wrapped by tools/setup.
    FhirValidate,
    /// Chromium's WebDriver server (Debian's `chromium-driver`), for the web app's browser tests.
    Chromedriver,
}

impl Tool {
    /// The binary's file name.
    pub fn binary_name(self) -> &'static str {
        match self {
            Tool::Anvil => "anvil",
            Tool::Cast => "cast",
            Tool::Solc => "solc",
            Tool::Geth => "geth",
            Tool::Secantusd => "secantusd",
            Tool::Ferretdb => "ferretdb",
            Tool::FhirValidate => "fhir-validate",
            Tool::Chromedriver => "chromedriver",
        }
    }
}

/// A tool that could not be found anywhere hrm looks.
#[derive(Debug, thiserror::Error)]
#[error(
    "{name} was not found in $HRM_TOOLS_DIR, in a .tools/bin folder above the current directory or \
     the hrm binary, or on PATH; run tools/setup in the hrm checkout to install it (or point \
     HRM_TOOLS_DIR at a folder that holds it)"
)]
pub struct ToolNotFound {
    /// The binary looked for.
    pub name: &'static str,
}

/// Finds a tool: `$HRM_TOOLS_DIR`, then `.tools/bin` in the current directory or any parent, then
/// the same beside the running binary (a `target/` build inside a checkout), then `PATH`.
pub fn locate(tool: Tool) -> Result<PathBuf, ToolNotFound> {
    let name = tool.binary_name();
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os(TOOLS_DIR_ENV) {
        candidates.push(PathBuf::from(dir).join(name));
    }
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.iter().flatten() {
        for dir in start.ancestors() {
            candidates.push(dir.join(".tools/bin").join(name));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    candidates.into_iter().find(|p| is_executable(p)).ok_or(ToolNotFound { name })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_the_command_that_installs_it() {
        let message = ToolNotFound { name: Tool::Geth.binary_name() }.to_string();
        assert!(message.starts_with("geth was not found"), "{message}");
        assert!(message.contains("run tools/setup"), "{message}");
    }

    #[test]
    fn finds_the_tools_setup_installs() {
        // tools/setup installs anvil into .tools/bin, above the test binary in target/.
        let found = locate(Tool::Anvil).expect("tools/setup installed anvil");
        assert!(found.ends_with("anvil"));
    }
}
