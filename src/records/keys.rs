//! Account public keys, as the contract's `publishKey` takes them and envelopes are sealed to them.
//!
//! Here rather than under `chain` because sealing checks that a key belongs to its recipient's
//! address, and records must not depend on the chain client.

use alloy::primitives::{Address, Bytes, keccak256};
use alloy::signers::local::PrivateKeySigner;

/// The signer's uncompressed secp256k1 public key without the 0x04 prefix: 64 bytes, x ‖ y.
pub fn public_key_bytes(signer: &PrivateKeySigner) -> Bytes {
    let point = signer.credential().verifying_key().to_encoded_point(false);
    Bytes::copy_from_slice(&point.as_bytes()[1..])
}

/// The address a 64-byte public key belongs to (what the contract checks in `publishKey`).
pub fn address_of_public_key(public_key: &[u8]) -> Address {
    Address::from_slice(&keccak256(public_key)[12..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_hashes_to_the_signers_address() {
        for _ in 0..3 {
            let signer = PrivateKeySigner::random();
            let key = public_key_bytes(&signer);
            assert_eq!(key.len(), 64);
            assert_eq!(address_of_public_key(&key), signer.address());
        }
    }
}
