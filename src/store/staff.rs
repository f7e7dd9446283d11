//! Hospital staff accounts for the web app: user names, roles and argon2id password hashes, kept
//! in the archive database of the hospital that runs `hrm serve`.

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

use super::{Archive, StoreError};

const COLLECTION: &str = "staff_accounts";
/// Shortest password accepted for a staff account.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// What a staff member may do in the web app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    /// Enters health and bill details and follows their votes.
    Clerk,
    /// Opens the entries waiting for the hospital's vote and votes.
    Reviewer,
    /// Manages staff accounts, runs migration and audit, sees the consortium's status.
    Admin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 3] = [StaffRole::Clerk, StaffRole::Reviewer, StaffRole::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Clerk => "clerk",
            StaffRole::Reviewer => "reviewer",
            StaffRole::Admin => "admin",
        }
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StaffRole {
    type Err = StaffError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| StaffError::UnknownRole(text.to_string()))
    }
}

/// A staff account as stored (the hash only, never the password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffAccount {
    #[serde(rename = "_id")]
    pub username: String,
    pub roles: Vec<StaffRole>,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: bson::DateTime,
}

impl StaffAccount {
    pub fn has_role(&self, role: StaffRole) -> bool {
        self.roles.contains(&role)
    }
}

impl fmt::Display for StaffAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.username)
    }
}

/// Why a staff account could not be created, changed or signed in to.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("'{0}' is not a role; the roles are clerk, reviewer and admin")]
    UnknownRole(String),
    #[error("'{0}' is not a valid user name: use 2 to 32 lower-case letters, digits, '.', '-' or '_'")]
    InvalidUsername(String),
    #[error("a staff account needs at least one role (clerk, reviewer or admin)")]
    NoRoles,
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("a staff account named '{0}' already exists")]
    Exists(String),
    #[error("there is no staff account named '{0}'")]
    NoSuchAccount(String),
    /// Deliberately the same for an unknown name, a wrong password and a disabled account, so the
    /// sign-in page tells an attacker nothing.
    #[error("wrong user name or password, or the account is disabled")]
    SignInRefused,
    #[error("hashing the password failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a user name: short, lower-case, safe in URLs and logs.
pub fn check_username(username: &str) -> Result<(), StaffError> {
    let valid = (2..=32).contains(&username.len())
        && username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if valid { Ok(()) } else { Err(StaffError::InvalidUsername(username.to_string())) }
}

/// An argon2id hash of `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, StaffError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StaffError::WeakPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| StaffError::Hashing(e.to_string()))
}

/// Whether `password` matches a stored hash.
pub fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl Archive {
    fn staff(&self) -> mongodb::Collection<StaffAccount> {
        self.db.collection(COLLECTION)
    }

    /// Creates a staff account.
    pub async fn add_staff(
        &self,
        username: &str,
        password: &str,
        roles: &[StaffRole],
    ) -> Result<StaffAccount, StaffError> {
        check_username(username)?;
        if roles.is_empty() {
            return Err(StaffError::NoRoles);
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let account = StaffAccount {
            username: username.to_string(),
            roles,
            password_hash: hash_password(password)?,
            disabled: false,
            created_at: bson::DateTime::now(),
        };
        match self.staff().insert_one(&account).await {
            Ok(_) => Ok(account),
            Err(e) if super::is_duplicate_key(&e) => Err(StaffError::Exists(username.to_string())),
            Err(e) => Err(StoreError::operation("adding a staff account")(e).into()),
        }
    }

    /// Every staff account, by name.
    pub async fn staff_accounts(&self) -> Result<Vec<StaffAccount>, StaffError> {
        use futures_util::TryStreamExt;
        let cursor = self
            .staff()
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(StoreError::operation("listing staff accounts"))?;
        Ok(cursor.try_collect().await.map_err(StoreError::operation("listing staff accounts"))?)
    }

    /// One staff account.
    pub async fn staff_account(&self, username: &str) -> Result<Option<StaffAccount>, StaffError> {
        Ok(self
            .staff()
            .find_one(doc! { "_id": username })
            .await
            .map_err(StoreError::operation("reading a staff account"))?)
    }

    /// The account `username` signs in to with `password`; the same refusal whatever was wrong.
    pub async fn sign_in_staff(&self, username: &str, password: &str) -> Result<StaffAccount, StaffError> {
        let account = self.staff_account(username).await?;
        match account {
            Some(account) if !account.disabled && password_matches(password, &account.password_hash) => Ok(account),
            Some(_) => Err(StaffError::SignInRefused),
            None => {
                // Hash anyway so that an unknown name takes as long as a wrong password.
                let _ = password_matches(password, &DUMMY_HASH);
                Err(StaffError::SignInRefused)
            }
        }
    }

    /// Disables or enables an account; a disabled account cannot sign in.
    pub async fn set_staff_disabled(&self, username: &str, disabled: bool) -> Result<(), StaffError> {
        self.update_staff(username, doc! { "$set": { "disabled": disabled } }).await
    }

    /// Sets a new password.
    pub async fn reset_staff_password(&self, username: &str, password: &str) -> Result<(), StaffError> {
        let hash = hash_password(password)?;
        self.update_staff(username, doc! { "$set": { "password_hash": hash } }).await
    }

    /// Replaces an account's roles.
    pub async fn set_staff_roles(&self, username: &str, roles: &[StaffRole]) -> Result<(), StaffError> {
        if roles.is_empty() {
            return Err(StaffError::NoRoles);
        }
        let roles = bson::to_bson(roles).expect("roles serialize");
        self.update_staff(username, doc! { "$set": { "roles": roles } }).await
    }

    async fn update_staff(&self, username: &str, update: bson::Document) -> Result<(), StaffError> {
        let result = self
            .staff()
            .update_one(doc! { "_id": username }, update)
            .await
            .map_err(StoreError::operation("changing a staff account"))?;
        if result.matched_count == 0 {
            return Err(StaffError::NoSuchAccount(username.to_string()));
        }
        Ok(())
    }
}

/// An argon2id hash of a password nobody has, for the same-time refusal of unknown names.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("no account has this password").expect("hashing works"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "argon2id, not another variant: {hash}");
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterY", &hash));
        assert!(!hash.contains("correct"), "the hash does not hold the password");
    }

    #[test]
    fn short_passwords_and_bad_names_are_refused() {
        assert!(matches!(hash_password("short"), Err(StaffError::WeakPassword)));
        for bad in ["A", "Nurse", "a b", "x".repeat(33).as_str(), "nurse/1"] {
            assert!(check_username(bad).is_err(), "{bad} accepted");
        }
        check_username("nurse.joy-2").unwrap();
    }

    #[test]
    fn roles_parse_by_name() {
        assert_eq!("Reviewer".parse::<StaffRole>().unwrap(), StaffRole::Reviewer);
        assert!("doctor".parse::<StaffRole>().unwrap_err().to_string().contains("clerk, reviewer and admin"));
    }

    #[test]
    fn the_dummy_hash_parses() {
        // Otherwise an unknown name would skip the hashing and answer faster.
        assert!(PasswordHash::new(&DUMMY_HASH).is_ok());
    }
}
