//! Anvil's well-known development accounts (from the public test mnemonic
//! "test test test test test test test test test test test junk").
//!
//! They hold funds on every fresh Anvil and Hardhat node, and every reader of this file knows
//! their keys: hrm accepts them only on local development chains.

use alloy::signers::local::PrivateKeySigner;

/// Chain ids of local development chains (Anvil/Hardhat, and Geth's dev default).
pub const DEV_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// The ten development private keys, in Anvil's account order.
const DEV_PRIVATE_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// Number of development accounts.
pub const DEV_ACCOUNT_COUNT: usize = DEV_PRIVATE_KEYS.len();

/// The signer of development account `index` (0..10), or `None` past the last one.
pub fn dev_signer(index: usize) -> Option<PrivateKeySigner> {
    DEV_PRIVATE_KEYS.get(index).map(|key| key.parse().expect("development keys are valid"))
}

/// The signer of development account `index`, for code that names a fixed account (the
/// scenario, the benchmarks, tests).
///
/// # Panics
/// When `index` is not below [`DEV_ACCOUNT_COUNT`]: a fixed index past the last account is a bug.
pub fn dev_account(index: usize) -> PrivateKeySigner {
    dev_signer(index).unwrap_or_else(|| panic!("there are {DEV_ACCOUNT_COUNT} development accounts, not {}", index + 1))
}

/// The development signer whose address is `address`, if any (a name labelled `dev:N` signs
/// with it on local chains).
pub fn dev_signer_of(address: alloy::primitives::Address) -> Option<PrivateKeySigner> {
    (0..DEV_ACCOUNT_COUNT).filter_map(dev_signer).find(|signer| signer.address() == address)
}

/// Whether development keys may be used on a chain.
pub fn is_dev_chain(chain_id: u64) -> bool {
    DEV_CHAIN_IDS.contains(&chain_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_dev_account_is_anvils() {
        let address = dev_signer(0).unwrap().address();
        assert_eq!(address.to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert!(dev_signer(DEV_ACCOUNT_COUNT).is_none());
        assert!(is_dev_chain(31337) && is_dev_chain(1337) && !is_dev_chain(1));
    }
}
