//! Sign-In with Ethereum (EIP-4361): a patient proves they hold their address by signing a message
//! that names this server, a single-use nonce and an expiry.
//!
//! The server issues the message (`SignInChallenges::issue`) so that the nonce, domain and chain are
//! its own; the wallet signs it with `personal_sign` (EIP-191); `redeem` checks everything and uses
//! the nonce up, so a signature works once, for this server only, and only for a few minutes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use alloy::primitives::{Address, Signature};
use mongodb::bson::DateTime;
use rand::RngCore;

use crate::store::{Archive, StoreError};

/// How long an issued challenge may be signed and redeemed.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Most challenges outstanding at once; the oldest are dropped beyond it, so a flood of requests
/// cannot grow the server's memory without bound.
const MAX_OUTSTANDING: usize = 10_000;

const STATEMENT: &str = "Sign in to see your health records. This costs nothing and sends no transaction.";

/// Why a sign-in message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiweError {
    #[error("the sign-in message is not an EIP-4361 message: {0}")]
    Malformed(String),
    #[error("the sign-in message is for {found}, not this server ({expected}); sign in on the server you are visiting")]
    WrongDomain { expected: String, found: String },
    #[error("the sign-in message is for chain {found}, not this consortium's chain {expected}")]
    WrongChain { expected: u64, found: u64 },
    #[error("the sign-in message's nonce is unknown, already used or expired; ask for a new sign-in message")]
    UnknownNonce,
    #[error("the sign-in message has expired; ask for a new one")]
    Expired,
    #[error("the signature is not valid: {0}")]
    BadSignature(String),
    #[error("the message was signed by {signer}, not by {address} which it names")]
    SignerMismatch { address: Address, signer: Address },
    #[error("the sign-in challenges cannot be kept: {0}")]
    Unavailable(String),
}

impl From<StoreError> for SiweError {
    fn from(error: StoreError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// An EIP-4361 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInMessage {
    /// The server's host (and port), e.g. `records.example-hospital.org`.
    pub domain: String,
    pub address: Address,
    pub statement: String,
    /// The server's URL.
    pub uri: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: DateTime,
    pub expiration_time: DateTime,
}

impl SignInMessage {
    /// The text the wallet signs, exactly as EIP-4361 lays it out.
    pub fn to_text(&self) -> String {
        format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\n{statement}\n\nURI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}\nExpiration Time: {expires}",
            domain = self.domain,
            address = self.address.to_checksum(None),
            statement = self.statement,
            uri = self.uri,
            chain = self.chain_id,
            nonce = self.nonce,
            issued = rfc3339(self.issued_at),
            expires = rfc3339(self.expiration_time),
        )
    }

    /// Parses the text of an EIP-4361 message (the fields this server issues).
    pub fn parse(text: &str) -> Result<Self, SiweError> {
        let malformed = |what: &str| SiweError::Malformed(what.to_string());
        let mut lines = text.split('\n');
        let domain = lines
            .next()
            .and_then(|line| line.strip_suffix(" wants you to sign in with your Ethereum account:"))
            .ok_or_else(|| {
                malformed("the first line must be '<domain> wants you to sign in with your Ethereum account:'")
            })?
            .to_string();
        let address: Address = lines
            .next()
            .and_then(|line| line.parse().ok())
            .ok_or_else(|| malformed("the second line must be the address"))?;
        if lines.next() != Some("") {
            return Err(malformed("a blank line must follow the address"));
        }
        let statement = lines.next().ok_or_else(|| malformed("the statement is missing"))?.to_string();
        if lines.next() != Some("") {
            return Err(malformed("a blank line must follow the statement"));
        }
        let mut fields = HashMap::new();
        for line in lines {
            let (key, value) =
                line.split_once(": ").ok_or_else(|| malformed("each field line must be 'Key: value'"))?;
            fields.insert(key, value);
        }
        let field =
            |key: &str| fields.get(key).copied().ok_or_else(|| SiweError::Malformed(format!("'{key}' is missing")));
        if field("Version")? != "1" {
            return Err(malformed("only version 1 is supported"));
        }
        let time = |key: &str| {
            DateTime::parse_rfc3339_str(field(key)?)
                .map_err(|_| SiweError::Malformed(format!("'{key}' is not an RFC 3339 time")))
        };
        Ok(Self {
            domain,
            address,
            statement,
            uri: field("URI")?.to_string(),
            chain_id: field("Chain ID")?.parse().map_err(|_| malformed("'Chain ID' is not a number"))?,
            nonce: field("Nonce")?.to_string(),
            issued_at: time("Issued At")?,
            expiration_time: time("Expiration Time")?,
        })
    }
}

/// The EIP-4361 domain of a server URL: its host, with the port when the URL names one.
pub fn domain_of(url: &alloy::transports::http::reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

fn rfc3339(time: DateTime) -> String {
    time.try_to_rfc3339_string().expect("times this server issues are representable")
}

/// Recovers the account that signed `text` with `personal_sign` (EIP-191).
pub fn signer_of(text: &str, signature_hex: &str) -> Result<Address, SiweError> {
    let bytes = alloy::hex::decode(signature_hex.trim()).map_err(|e| SiweError::BadSignature(e.to_string()))?;
    let signature = Signature::try_from(bytes.as_slice()).map_err(|e| SiweError::BadSignature(e.to_string()))?;
    signature.recover_address_from_msg(text.as_bytes()).map_err(|e| SiweError::BadSignature(e.to_string()))
}

/// Where issued nonces wait to be redeemed: this process's memory, or the archive database,
/// which every server of the hospital shares and which outlives a restart.
#[derive(Debug)]
enum NonceBook {
    Memory(Mutex<HashMap<String, (Address, SystemTime)>>),
    Archive(Archive),
}

impl NonceBook {
    async fn put(&self, nonce: &str, address: Address, expires: SystemTime) -> Result<(), StoreError> {
        match self {
            Self::Memory(outstanding) => {
                let mut outstanding = outstanding.lock().expect("challenge book lock");
                let now = SystemTime::now();
                outstanding.retain(|_, (_, expiry)| *expiry > now);
                if outstanding.len() >= MAX_OUTSTANDING {
                    let oldest =
                        outstanding.iter().min_by_key(|(_, (_, expiry))| *expiry).map(|(nonce, _)| nonce.clone());
                    if let Some(oldest) = oldest {
                        outstanding.remove(&oldest);
                    }
                }
                outstanding.insert(nonce.to_string(), (address, expires));
                Ok(())
            }
            // The database's TTL index drops expired nonces.
            Self::Archive(archive) => archive.save_sign_in_nonce(nonce, address, expires).await,
        }
    }

    async fn take(&self, nonce: &str) -> Result<Option<(Address, SystemTime)>, StoreError> {
        match self {
            Self::Memory(outstanding) => Ok(outstanding.lock().expect("challenge book lock").remove(nonce)),
            Self::Archive(archive) => archive.take_sign_in_nonce(nonce).await,
        }
    }
}

/// The challenges a server has issued and not yet seen redeemed.
#[derive(Debug)]
pub struct SignInChallenges {
    domain: String,
    uri: String,
    chain_id: u64,
    book: NonceBook,
}

impl SignInChallenges {
    /// Challenges for the server at `uri` (its host is the domain) on chain `chain_id`, kept in
    /// this process's memory.
    pub fn new(uri: &str, domain: &str, chain_id: u64) -> Self {
        Self {
            domain: domain.to_string(),
            uri: uri.to_string(),
            chain_id,
            book: NonceBook::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// The same challenges kept in `archive`, so that a challenge issued by one server of the
    /// hospital is redeemed by another, or after a restart.
    pub fn kept_in(self, archive: Archive) -> Self {
        Self { book: NonceBook::Archive(archive), ..self }
    }

    /// A fresh message for `address` to sign.
    pub async fn issue(&self, address: Address) -> Result<SignInMessage, SiweError> {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = alloy::hex::encode(nonce);
        let now = SystemTime::now();
        let expires = now + CHALLENGE_LIFETIME;
        self.book.put(&nonce, address, expires).await?;
        Ok(SignInMessage {
            domain: self.domain.clone(),
            address,
            statement: STATEMENT.to_string(),
            uri: self.uri.clone(),
            chain_id: self.chain_id,
            nonce,
            issued_at: DateTime::from_system_time(now),
            expiration_time: DateTime::from_system_time(expires),
        })
    }

    /// Checks a signed message and uses its nonce up; the address that signed in.
    pub async fn redeem(&self, text: &str, signature_hex: &str) -> Result<Address, SiweError> {
        let message = SignInMessage::parse(text)?;
        if message.domain != self.domain || message.uri != self.uri {
            return Err(SiweError::WrongDomain { expected: self.domain.clone(), found: message.domain });
        }
        if message.chain_id != self.chain_id {
            return Err(SiweError::WrongChain { expected: self.chain_id, found: message.chain_id });
        }
        // Taken before the signature is checked: a nonce is tried once, whatever the outcome.
        let Some((address, expiry)) = self.book.take(&message.nonce).await? else {
            return Err(SiweError::UnknownNonce);
        };
        if address != message.address {
            return Err(SiweError::UnknownNonce);
        }
        let now = SystemTime::now();
        if expiry <= now || message.expiration_time.to_system_time() <= now {
            return Err(SiweError::Expired);
        }
        let signer = signer_of(text, signature_hex)?;
        if signer != message.address {
            return Err(SiweError::SignerMismatch { address: message.address, signer });
        }
        Ok(signer)
    }

    /// Makes every outstanding challenge in memory expire now.
    #[cfg(test)]
    fn expire_all(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        if let NonceBook::Memory(outstanding) = &self.book {
            for (_, expiry) in outstanding.lock().expect("challenge book lock").values_mut() {
                *expiry = past;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    fn book() -> SignInChallenges {
        SignInChallenges::new("http://127.0.0.1:8080", "127.0.0.1:8080", 31337)
    }

    fn sign(signer: &PrivateKeySigner, text: &str) -> String {
        alloy::hex::encode_prefixed(signer.sign_message_sync(text.as_bytes()).unwrap().as_bytes())
    }

    #[tokio::test]
    async fn a_signed_challenge_signs_in_once() {
        let patient = PrivateKeySigner::random();
        let challenges = book();
        let text = challenges.issue(patient.address()).await.unwrap().to_text();
        assert_eq!(SignInMessage::parse(&text).unwrap().to_text(), text, "the text round-trips");
        let signature = sign(&patient, &text);
        assert_eq!(challenges.redeem(&text, &signature).await.unwrap(), patient.address());
        assert_eq!(challenges.redeem(&text, &signature).await.unwrap_err(), SiweError::UnknownNonce, "single use");
    }

    #[tokio::test]
    async fn another_key_another_server_or_an_old_challenge_is_refused() {
        let patient = PrivateKeySigner::random();
        let thief = PrivateKeySigner::random();
        let challenges = book();

        let text = challenges.issue(patient.address()).await.unwrap().to_text();
        let refused = challenges.redeem(&text, &sign(&thief, &text)).await.unwrap_err();
        assert!(matches!(refused, SiweError::SignerMismatch { .. }), "{refused}");

        let other_server = SignInChallenges::new("http://evil.example", "evil.example", 31337);
        let text = other_server.issue(patient.address()).await.unwrap().to_text();
        let refused = challenges.redeem(&text, &sign(&patient, &text)).await.unwrap_err();
        assert!(matches!(refused, SiweError::WrongDomain { .. }), "{refused}");

        let text = challenges.issue(patient.address()).await.unwrap().to_text();
        challenges.expire_all();
        assert_eq!(challenges.redeem(&text, &sign(&patient, &text)).await.unwrap_err(), SiweError::Expired);

        let text = challenges.issue(patient.address()).await.unwrap().to_text();
        let edited = text.replace("Chain ID: 31337", "Chain ID: 1");
        assert!(matches!(
            challenges.redeem(&edited, &sign(&patient, &edited)).await,
            Err(SiweError::WrongChain { .. })
        ));
    }

    #[test]
    fn the_domain_is_the_host_with_an_explicit_port() {
        assert_eq!(domain_of(&"http://127.0.0.1:8080/".parse().unwrap()), "127.0.0.1:8080");
        assert_eq!(domain_of(&"https://records.example".parse().unwrap()), "records.example");
    }

    #[tokio::test]
    async fn a_nonce_issued_to_one_address_does_not_sign_in_another() {
        let patient = PrivateKeySigner::random();
        let other = PrivateKeySigner::random();
        let challenges = book();
        let issued = challenges.issue(patient.address()).await.unwrap();
        let forged = SignInMessage { address: other.address(), ..issued }.to_text();
        assert_eq!(challenges.redeem(&forged, &sign(&other, &forged)).await.unwrap_err(), SiweError::UnknownNonce);
    }
}
