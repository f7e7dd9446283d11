//! The signed request of the envelope exchange: EIP-712 typed data naming the chain, the
//! contract, the entry, the envelope's digest, a time and a random nonce, signed by the
//! requesting account. The nonce makes two requests for the same envelope in the same second
//! two requests, so the replay guard refuses only a request sent again.

use alloy::primitives::{Address, B256, Signature, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct, eip712_domain};

use super::ExchangeRefusal;

/// How old a request may be when it arrives, in seconds: long enough for a slow network, short
/// enough that a captured request is soon useless (and the replay guard need remember little).
pub const MAX_REQUEST_AGE_SECS: u64 = 300;
/// How far ahead of this server's clock a request may be dated.
pub const MAX_CLOCK_AHEAD_SECS: u64 = 60;

/// The request headers.
pub const SIGNER_HEADER: &str = "hrm-signer";
pub const ISSUED_AT_HEADER: &str = "hrm-issued-at";
pub const DIGEST_HEADER: &str = "hrm-envelope-digest";
pub const SIGNATURE_HEADER: &str = "hrm-signature";
pub const NONCE_HEADER: &str = "hrm-nonce";

alloy::sol! {
    /// What a hospital (or a patient) signs to push or pull one envelope.
    struct EnvelopeRequest {
        string action;
        uint256 entryId;
        bytes32 envelopeDigest;
        uint64 issuedAt;
        bytes32 nonce;
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeAction {
    /// The sender hands the receiver an envelope the receiver may hold.
    Push,
    /// The sender asks for an envelope it may hold.
    Pull,
}

impl ExchangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Pull => "pull",
        }
    }
}

/// The EIP-712 domain of one deployment's exchange: a request for one chain or contract is
/// worthless on another.
pub fn exchange_domain(chain_id: u64, contract: Address) -> Eip712Domain {
    eip712_domain! {
        name: "hrm envelope exchange",
        version: "1",
        chain_id: chain_id,
        verifying_contract: contract,
    }
}

/// A request as it travels: what was signed, who claims to have signed it, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub action: ExchangeAction,
    pub entry_id: u64,
    pub envelope_digest: B256,
    /// Unix seconds.
    pub issued_at: u64,
    /// Random, so that no two requests are alike.
    pub nonce: B256,
    pub signer: Address,
    pub signature: Signature,
}

impl SignedRequest {
    /// Signs a request now.
    pub fn sign(
        signer: &PrivateKeySigner,
        domain: &Eip712Domain,
        action: ExchangeAction,
        entry_id: u64,
        envelope_digest: B256,
        issued_at: u64,
    ) -> Self {
        let mut nonce = B256::ZERO;
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, nonce.as_mut_slice());
        let typed = typed_request(action, entry_id, envelope_digest, issued_at, nonce);
        let signature = signer.sign_hash_sync(&typed.eip712_signing_hash(domain)).expect("a local key signs a hash");
        Self { action, entry_id, envelope_digest, issued_at, nonce, signer: signer.address(), signature }
    }

    /// The EIP-712 hash that was signed.
    pub fn signing_hash(&self, domain: &Eip712Domain) -> B256 {
        typed_request(self.action, self.entry_id, self.envelope_digest, self.issued_at, self.nonce)
            .eip712_signing_hash(domain)
    }

    /// The request's identity for the replay guard: what was signed, and by whom.
    pub fn replay_key(&self, domain: &Eip712Domain) -> B256 {
        alloy::primitives::keccak256([self.signing_hash(domain).as_slice(), self.signer.as_slice()].concat())
    }

    /// The headers that carry it.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            (SIGNER_HEADER, self.signer.to_string()),
            (ISSUED_AT_HEADER, self.issued_at.to_string()),
            (DIGEST_HEADER, self.envelope_digest.to_string()),
            (NONCE_HEADER, self.nonce.to_string()),
            (SIGNATURE_HEADER, alloy::primitives::hex::encode_prefixed(self.signature.as_bytes())),
        ]
    }

    /// Reads a request from its headers (`header(name)` gives a header's value).
    pub fn from_headers(
        action: ExchangeAction,
        entry_id: u64,
        header: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ExchangeRefusal> {
        let field = |name: &'static str| header(name).ok_or(ExchangeRefusal::Unsigned(name));
        let bad = |name: &'static str| ExchangeRefusal::Malformed(name);
        let signer: Address = field(SIGNER_HEADER)?.parse().map_err(|_| bad(SIGNER_HEADER))?;
        let issued_at: u64 = field(ISSUED_AT_HEADER)?.parse().map_err(|_| bad(ISSUED_AT_HEADER))?;
        let envelope_digest: B256 = field(DIGEST_HEADER)?.parse().map_err(|_| bad(DIGEST_HEADER))?;
        let nonce: B256 = field(NONCE_HEADER)?.parse().map_err(|_| bad(NONCE_HEADER))?;
        let bytes = alloy::primitives::hex::decode(field(SIGNATURE_HEADER)?).map_err(|_| bad(SIGNATURE_HEADER))?;
        let signature = Signature::from_raw(&bytes).map_err(|_| bad(SIGNATURE_HEADER))?;
        Ok(Self { action, entry_id, envelope_digest, issued_at, nonce, signer, signature })
    }

    /// Checks that the claimed signer signed exactly this request, and that it is fresh at
    /// `now` (unix seconds). What it cannot check alone (replay, the chain) the server does next.
    pub fn verify(&self, domain: &Eip712Domain, now: u64) -> Result<(), ExchangeRefusal> {
        let recovered = self.signature.recover_address_from_prehash(&self.signing_hash(domain)).ok();
        if recovered != Some(self.signer) {
            return Err(ExchangeRefusal::Forged { claimed: self.signer });
        }
        if self.issued_at > now + MAX_CLOCK_AHEAD_SECS {
            return Err(ExchangeRefusal::Stale { issued_at: self.issued_at, now });
        }
        if now.saturating_sub(self.issued_at) > MAX_REQUEST_AGE_SECS {
            return Err(ExchangeRefusal::Stale { issued_at: self.issued_at, now });
        }
        Ok(())
    }
}

fn typed_request(action: ExchangeAction, entry_id: u64, digest: B256, issued_at: u64, nonce: B256) -> EnvelopeRequest {
    EnvelopeRequest {
        action: action.as_str().to_string(),
        entryId: U256::from(entry_id),
        envelopeDigest: digest,
        issuedAt: issued_at,
        nonce,
    }
}

/// The current unix time, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::dev_keys::dev_account;

    fn domain() -> Eip712Domain {
        exchange_domain(31337, Address::repeat_byte(7))
    }

    fn request(now: u64) -> SignedRequest {
        SignedRequest::sign(&dev_account(1), &domain(), ExchangeAction::Pull, 4, B256::repeat_byte(9), now)
    }

    #[test]
    fn a_fresh_request_verifies_and_survives_its_headers() {
        let signed = request(1_000);
        signed.verify(&domain(), 1_010).unwrap();
        let headers = signed.headers();
        let read = SignedRequest::from_headers(ExchangeAction::Pull, 4, |name| {
            headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        assert_eq!(read, signed);
    }

    #[test]
    fn a_changed_field_another_domain_or_a_false_signer_is_forged() {
        let signed = request(1_000);
        let forged =
            |r: SignedRequest, d: &Eip712Domain| matches!(r.verify(d, 1_000), Err(ExchangeRefusal::Forged { .. }));
        assert!(forged(SignedRequest { entry_id: 5, ..signed.clone() }, &domain()));
        assert!(forged(SignedRequest { action: ExchangeAction::Push, ..signed.clone() }, &domain()));
        assert!(forged(SignedRequest { envelope_digest: B256::ZERO, ..signed.clone() }, &domain()));
        assert!(forged(SignedRequest { nonce: B256::ZERO, ..signed.clone() }, &domain()));
        assert!(forged(SignedRequest { signer: dev_account(2).address(), ..signed.clone() }, &domain()));
        assert!(forged(signed.clone(), &exchange_domain(1, Address::repeat_byte(7))));
        assert!(forged(signed, &exchange_domain(31337, Address::repeat_byte(8))));
    }

    #[test]
    fn two_requests_alike_but_for_the_nonce_or_the_signer_are_two() {
        let (a, b) = (request(1_000), request(1_000));
        assert_ne!(a.replay_key(&domain()), b.replay_key(&domain()));
        let other =
            SignedRequest::sign(&dev_account(2), &domain(), ExchangeAction::Pull, 4, B256::repeat_byte(9), 1_000);
        assert_ne!(SignedRequest { nonce: a.nonce, ..other }.replay_key(&domain()), a.replay_key(&domain()));
    }

    #[test]
    fn old_or_future_requests_are_stale() {
        let signed = request(1_000);
        signed.verify(&domain(), 1_000 + MAX_REQUEST_AGE_SECS).unwrap();
        assert!(matches!(signed.verify(&domain(), 1_001 + MAX_REQUEST_AGE_SECS), Err(ExchangeRefusal::Stale { .. })));
        assert!(matches!(
            signed.verify(&domain(), 1_000 - MAX_CLOCK_AHEAD_SECS - 1),
            Err(ExchangeRefusal::Stale { .. })
        ));
    }

    #[test]
    fn missing_or_garbled_headers_are_named() {
        let err = SignedRequest::from_headers(ExchangeAction::Pull, 1, |_| None).unwrap_err();
        assert_eq!(err.to_string(), format!("the request is not signed: the {SIGNER_HEADER} header is missing"));
        let err = SignedRequest::from_headers(ExchangeAction::Pull, 1, |_| Some("nonsense".into())).unwrap_err();
        assert!(err.to_string().contains(SIGNER_HEADER), "{err}");
    }
}
