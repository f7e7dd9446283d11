//! Choices the command line offers, mapped onto the library's types, so that clap stays in the
//! binary.

use clap::ValueEnum;

/// `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// One Anvil node (chain id 31337).
    Anvil,
    /// A Geth 1.13 Clique network (chain id 1337).
    Geth,
}

impl From<EngineChoice> for hrm::devnet::Engine {
    fn from(choice: EngineChoice) -> Self {
        match choice {
            EngineChoice::Anvil => Self::Anvil,
            EngineChoice::Geth => Self::Geth,
        }
    }
}

/// `--impute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImputationChoice {
    /// Zeros are used as they are (as the reference figures do).
    None,
    /// Zeros in Glucose, BloodPressure, SkinThickness, Insulin and BMI are replaced by the
    /// training rows' median of the measured values.
    Median,
}

impl From<ImputationChoice> for hrm::ml::Imputation {
    fn from(choice: ImputationChoice) -> Self {
        match choice {
            ImputationChoice::None => Self::None,
            ImputationChoice::Median => Self::Median,
        }
    }
}
