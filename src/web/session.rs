//! Sessions, sign-in throttling and one-time sign-in links, kept in the archive database
//! (`hrm::store::sign_ins`): a restart signs nobody out, and two servers on one database serve
//! one session.
//!
//! A session is a random id in an HttpOnly, SameSite=Strict cookie. A visitor gets one only when
//! a page gives them a form to post (the sign-in page, whose CSRF token must be checked later):
//! a probe, a crawler or a redirect stores nothing. Signing in replaces the id (no session
//! fixation).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use alloy::primitives::Address;
use hrm::metrics::metrics;
use hrm::store::{Archive, StoreError, StoredSession};
use rand::RngCore;

pub use hrm::store::Principal;

/// The session cookie's name.
pub const COOKIE: &str = "hrm_session";
/// A session unused this long is signed out.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session's last use is written at most this often, not on every request.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// How long a session read from the database is used without reading it again. A sign-out or a
/// disabled account takes effect at once on the server that did it, and within this on the
/// others sharing the database.
const CACHED_FOR: Duration = Duration::from_secs(2);
/// Most sessions cached in memory; beyond it the cache starts again empty.
const MAX_CACHED: usize = 10_000;
/// Most signed-out sessions kept: beyond it the least recently used go, so a flood of visits to
/// the sign-in page cannot grow the database without bound.
const MAX_SIGNED_OUT_SESSIONS: u64 = 10_000;
/// New signed-out sessions between two prunings.
const PRUNE_EVERY: u64 = 100;
/// A one-time sign-in link from `hrm login` works this long.
const LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Failed sign-ins allowed per user name within `THROTTLE_WINDOW`.
pub const MAX_FAILED_SIGN_INS: u64 = 5;
/// Failed sign-ins allowed per client address (a hospital's staff may share one behind NAT).
pub const MAX_FAILED_SIGN_INS_PER_ADDRESS: u64 = 20;
const THROTTLE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub csrf: String,
    pub principal: Option<Principal>,
    /// A message for the next page shown ("Entry 7 approved").
    pub flash: Option<String>,
    /// Whether the database holds it (a new visitor's is not stored until a page needs it).
    stored: bool,
}

impl Session {
    /// A signed-out session that exists only for this request.
    pub fn unsaved() -> Self {
        Self { id: random_token(), csrf: random_token(), principal: None, flash: None, stored: false }
    }

    pub fn is_stored(&self) -> bool {
        self.stored
    }
}

/// The sessions in the archive database, each read again at most every `CACHED_FOR`.
#[derive(Debug)]
pub struct Sessions {
    archive: Archive,
    signed_out_saved: AtomicU64,
    /// Sessions recently read or written here, with when.
    cache: Mutex<HashMap<String, (Session, Instant)>>,
}

impl Sessions {
    pub fn new(archive: Archive) -> Self {
        Self { archive, signed_out_saved: AtomicU64::new(0), cache: Mutex::new(HashMap::new()) }
    }

    /// The session with `id`, marked used; `None` when unknown or idle too long.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        if let Some((session, read_at)) = self.cache.lock().expect("session cache lock").get(id)
            && read_at.elapsed() < CACHED_FOR
        {
            return Ok(Some(session.clone()));
        }
        let Some(stored) = self.archive.session(id).await? else {
            self.forget(id);
            return Ok(None);
        };
        let idle = SystemTime::now().duration_since(stored.last_seen.to_system_time()).unwrap_or_default();
        if idle > TOUCH_EVERY {
            self.archive.touch_session(id, IDLE_TIMEOUT).await?;
        }
        let session = Session {
            id: id.to_string(),
            csrf: stored.csrf,
            principal: stored.principal,
            flash: stored.flash,
            stored: true,
        };
        self.remember(&session);
        Ok(Some(session))
    }

    /// Stores a signed-out visitor's session, now that a page gave them a form.
    pub async fn save(&self, session: &Session) -> Result<(), StoreError> {
        let stored = StoredSession::new(&session.id, session.csrf.clone(), session.principal.clone(), IDLE_TIMEOUT);
        self.archive.save_session(&stored).await?;
        self.remember(&Session { stored: true, ..session.clone() });
        if self.signed_out_saved.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.archive.prune_signed_out_sessions(MAX_SIGNED_OUT_SESSIONS).await?;
        }
        Ok(())
    }

    /// Signs in: the old session ends and a new one with a new id and CSRF token begins.
    pub async fn rotate(&self, old_id: &str, principal: Principal) -> Result<Session, StoreError> {
        self.forget(old_id);
        self.archive.delete_session(old_id).await?;
        let session = Session { principal: Some(principal), stored: true, ..Session::unsaved() };
        let stored = StoredSession::new(&session.id, session.csrf.clone(), session.principal.clone(), IDLE_TIMEOUT);
        self.archive.save_session(&stored).await?;
        self.remember(&session);
        Ok(session)
    }

    /// Signs out.
    pub async fn end(&self, id: &str) -> Result<(), StoreError> {
        self.forget(id);
        self.archive.delete_session(id).await
    }

    /// Signs a staff member out everywhere (their account was disabled or changed).
    pub async fn end_all_of(&self, username: &str) -> Result<(), StoreError> {
        self.cache.lock().expect("session cache lock").retain(|_, (session, _)| {
            !matches!(&session.principal, Some(Principal::Staff { username: name, .. }) if name == username)
        });
        self.archive.delete_sessions_of(username).await
    }

    /// Leaves a message for the session's next page.
    pub async fn set_flash(&self, id: &str, message: String) -> Result<(), StoreError> {
        self.archive.set_session_flash(id, &message).await?;
        if let Some((session, _)) = self.cache.lock().expect("session cache lock").get_mut(id) {
            session.flash = Some(message);
        }
        Ok(())
    }

    /// Forgets a message once a page has shown it.
    pub async fn clear_flash(&self, id: &str, message: &str) -> Result<(), StoreError> {
        self.archive.clear_session_flash(id, message).await?;
        if let Some((session, _)) = self.cache.lock().expect("session cache lock").get_mut(id)
            && session.flash.as_deref() == Some(message)
        {
            session.flash = None;
        }
        Ok(())
    }

    fn remember(&self, session: &Session) {
        let mut cache = self.cache.lock().expect("session cache lock");
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (_, read_at)| read_at.elapsed() < CACHED_FOR);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        // Entries age from a moment up to half `CACHED_FOR` ago, so sessions that began together
        // (a ward signing in at shift change) are read again at different moments, not at once.
        let head_start = CACHED_FOR.mul_f64(rand::random::<f64>() / 2.0);
        let read_at = Instant::now().checked_sub(head_start).unwrap_or_else(Instant::now);
        cache.insert(session.id.clone(), (session.clone(), read_at));
    }

    fn forget(&self, id: &str) {
        self.cache.lock().expect("session cache lock").remove(id);
    }

    /// Sessions open in the database (every server's), for the metrics.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.archive.count_sessions().await
    }
}

/// 32 random bytes, hex: session ids, CSRF tokens, sign-in links.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    alloy::hex::encode(bytes)
}

/// The `Set-Cookie` value for a session.
pub fn session_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// Counts failed sign-ins per client address and per user name, in the database.
///
/// A name's failures lock only that name; an address's lock only that address (the client's, as
/// `client_address` reads it behind a trusted proxy). No failure locks anyone else.
#[derive(Debug)]
pub struct SignInThrottle {
    archive: Archive,
}

impl SignInThrottle {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }

    /// How long until `client` (and `username`, if given) may try again; `None` when they may now.
    pub async fn wait_before_next(
        &self,
        client: IpAddr,
        username: Option<&str>,
    ) -> Result<Option<Duration>, StoreError> {
        let mut longest = None;
        for (key, limit) in Self::keys(client, username) {
            let (count, nth_newest) = self.archive.sign_in_failures(&key, THROTTLE_WINDOW, limit).await?;
            let wait = lock_remaining(count, nth_newest, limit, SystemTime::now());
            longest = longest.max(wait);
        }
        if longest.is_some() {
            metrics().sign_in_lockouts.inc();
        }
        Ok(longest)
    }

    /// Records a failed sign-in.
    pub async fn record_failure(&self, client: IpAddr, username: Option<&str>) -> Result<(), StoreError> {
        metrics().sign_in_failures.inc();
        let keys: Vec<String> = Self::keys(client, username).into_iter().map(|(key, _)| key).collect();
        self.archive.record_sign_in_failure(&keys, THROTTLE_WINDOW).await
    }

    /// The counters a sign-in attempt touches, with their limits.
    fn keys(client: IpAddr, username: Option<&str>) -> Vec<(String, u64)> {
        let mut keys = vec![(format!("ip:{client}"), MAX_FAILED_SIGN_INS_PER_ADDRESS)];
        keys.extend(username.map(|name| (format!("user:{name}"), MAX_FAILED_SIGN_INS)));
        keys
    }
}

/// How long a counter stays locked: with `count` failures in the window, it is locked until the
/// `limit`-th newest (at `nth_newest`) leaves the window and fewer than `limit` remain.
fn lock_remaining(count: u64, nth_newest: Option<SystemTime>, limit: u64, now: SystemTime) -> Option<Duration> {
    if count < limit {
        return None;
    }
    let age = now.duration_since(nth_newest?).unwrap_or_default();
    Some(THROTTLE_WINDOW.saturating_sub(age).max(Duration::from_secs(1)))
}

/// One-time sign-in links issued to patients who signed the challenge with `hrm login`.
#[derive(Debug)]
pub struct SignInLinks {
    archive: Archive,
}

impl SignInLinks {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }

    /// A token for `patient`'s link.
    pub async fn issue(&self, patient: Address) -> Result<String, StoreError> {
        let token = random_token();
        self.archive.save_sign_in_link(&token, patient, LINK_LIFETIME).await?;
        Ok(token)
    }

    /// The patient a link signs in, using it up; `None` when unknown, used or expired.
    pub async fn redeem(&self, token: &str) -> Result<Option<Address>, StoreError> {
        self.archive.redeem_sign_in_link(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_locks_at_its_limit_until_the_limit_th_newest_failure_ages_out() {
        let now = SystemTime::now();
        assert_eq!(lock_remaining(4, None, 5, now), None, "under the limit");
        let five_minutes_ago = now - Duration::from_secs(5 * 60);
        let wait = lock_remaining(5, Some(five_minutes_ago), 5, now).unwrap();
        assert_eq!(wait.as_secs(), 5 * 60, "locked for the rest of that failure's window");
        let long_ago = now - Duration::from_secs(11 * 60);
        assert_eq!(lock_remaining(7, Some(long_ago), 5, now), Some(Duration::from_secs(1)), "at least a second");
    }

    #[test]
    fn a_new_visitor_s_session_is_not_stored_and_each_is_new() {
        let (one, two) = (Session::unsaved(), Session::unsaved());
        assert!(!one.is_stored());
        assert_ne!(one.id, two.id);
        assert_ne!(one.csrf, one.id);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        assert_eq!(session_cookie("abc", false), "hrm_session=abc; Path=/; HttpOnly; SameSite=Strict");
        assert!(session_cookie("abc", true).ends_with("; Secure"));
    }
}
