//! Sessions, sign-in throttling and one-time sign-in links: the server's memory of who is signed in.
//!
//! A session is a random id in an HttpOnly, SameSite=Strict cookie; every visitor gets one (signed
//! out at first) so that even the sign-in forms carry a CSRF token. Signing in replaces the id
//! (no session fixation). Everything lives in memory: restarting the server signs everyone out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use hrm::metrics::metrics;
use hrm::store::{StaffAccount, StaffRole};
use rand::RngCore;

/// The session cookie's name.
pub const COOKIE: &str = "hrm_session";
/// A session unused this long is signed out.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A one-time sign-in link from `hrm login` works this long.
const LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Failed sign-ins allowed per user name within `THROTTLE_WINDOW`.
pub const MAX_FAILED_SIGN_INS: usize = 5;
/// Failed sign-ins allowed per client address (a hospital's staff may share one behind NAT).
pub const MAX_FAILED_SIGN_INS_PER_ADDRESS: usize = 20;
const THROTTLE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Staff { username: String, roles: Vec<StaffRole> },
    Patient(Address),
}

impl Principal {
    pub fn staff(account: &StaffAccount) -> Self {
        Principal::Staff { username: account.username.clone(), roles: account.roles.clone() }
    }
}

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub csrf: String,
    pub principal: Option<Principal>,
    /// A message for the next page shown ("Entry 7 approved").
    pub flash: Option<String>,
    last_seen: Instant,
}

/// Every open session.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The session with `id`, touched; `None` when unknown or idle too long.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut open = self.open.lock().expect("sessions lock");
        let session = open.get_mut(id)?;
        if session.last_seen.elapsed() > IDLE_TIMEOUT {
            open.remove(id);
            metrics().sessions_open.set(open.len() as i64);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    /// A new signed-out session.
    pub fn start(&self) -> Session {
        self.insert(None)
    }

    /// Signs in: the old session ends and a new one with a new id and CSRF token begins.
    pub fn rotate(&self, old_id: &str, principal: Principal) -> Session {
        self.open.lock().expect("sessions lock").remove(old_id);
        self.insert(Some(principal))
    }

    /// Signs out.
    pub fn end(&self, id: &str) {
        let mut open = self.open.lock().expect("sessions lock");
        open.remove(id);
        metrics().sessions_open.set(open.len() as i64);
    }

    /// Signs a staff member out everywhere (their account was disabled or changed).
    pub fn end_all_of(&self, username: &str) {
        let mut open = self.open.lock().expect("sessions lock");
        open.retain(
            |_, session| !matches!(&session.principal, Some(Principal::Staff { username: name, .. }) if name == username),
        );
        metrics().sessions_open.set(open.len() as i64);
    }

    /// Leaves a message for the session's next page.
    pub fn set_flash(&self, id: &str, message: String) {
        if let Some(session) = self.open.lock().expect("sessions lock").get_mut(id) {
            session.flash = Some(message);
        }
    }

    /// Takes the session's message, if any.
    pub fn take_flash(&self, id: &str) -> Option<String> {
        self.open.lock().expect("sessions lock").get_mut(id).and_then(|session| session.flash.take())
    }

    fn insert(&self, principal: Option<Principal>) -> Session {
        let session =
            Session { id: random_token(), csrf: random_token(), principal, flash: None, last_seen: Instant::now() };
        let mut open = self.open.lock().expect("sessions lock");
        open.retain(|_, s| s.last_seen.elapsed() <= IDLE_TIMEOUT);
        open.insert(session.id.clone(), session.clone());
        metrics().sessions_open.set(open.len() as i64);
        session
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

/// Counts failed sign-ins per client address and per user name.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl SignInThrottle {
    /// How long until `client` (and `username`, if given) may try again; `None` when they may now.
    pub fn wait_before_next(&self, client: IpAddr, username: Option<&str>) -> Option<Duration> {
        let mut failures = self.failures.lock().expect("throttle lock");
        let wait = Self::keys(client, username)
            .iter()
            .filter_map(|(key, limit)| {
                let times = failures.get_mut(key)?;
                times.retain(|t| t.elapsed() < THROTTLE_WINDOW);
                (times.len() >= *limit).then(|| THROTTLE_WINDOW - times[0].elapsed())
            })
            .max();
        if wait.is_some() {
            metrics().sign_in_lockouts.inc();
        }
        wait
    }

    /// Records a failed sign-in.
    pub fn record_failure(&self, client: IpAddr, username: Option<&str>) {
        metrics().sign_in_failures.inc();
        let mut failures = self.failures.lock().expect("throttle lock");
        // Made-up user names each add a counter: forget those whose failures have expired.
        failures.retain(|_, times| {
            times.retain(|t| t.elapsed() < THROTTLE_WINDOW);
            !times.is_empty()
        });
        for (key, _) in Self::keys(client, username) {
            failures.entry(key).or_default().push(Instant::now());
        }
    }

    /// The counters a sign-in attempt touches, with their limits.
    fn keys(client: IpAddr, username: Option<&str>) -> Vec<(String, usize)> {
        let mut keys = vec![(format!("ip:{client}"), MAX_FAILED_SIGN_INS_PER_ADDRESS)];
        keys.extend(username.map(|name| (format!("user:{name}"), MAX_FAILED_SIGN_INS)));
        keys
    }
}

/// One-time sign-in links issued to patients who signed the challenge with `hrm login`.
#[derive(Debug, Default)]
pub struct SignInLinks {
    issued: Mutex<HashMap<String, (Address, Instant)>>,
}

impl SignInLinks {
    /// A token for `patient`'s link.
    pub fn issue(&self, patient: Address) -> String {
        let token = random_token();
        let mut issued = self.issued.lock().expect("links lock");
        issued.retain(|_, (_, at)| at.elapsed() < LINK_LIFETIME);
        issued.insert(token.clone(), (patient, Instant::now()));
        token
    }

    /// The patient a link signs in, using it up; `None` when unknown, used or expired.
    pub fn redeem(&self, token: &str) -> Option<Address> {
        let (patient, at) = self.issued.lock().expect("links lock").remove(token)?;
        (at.elapsed() < LINK_LIFETIME).then_some(patient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_in_replaces_the_session_id() {
        let sessions = Sessions::default();
        let anonymous = sessions.start();
        let signed_in = sessions.rotate(&anonymous.id, Principal::Patient(Address::ZERO));
        assert_ne!(signed_in.id, anonymous.id);
        assert_ne!(signed_in.csrf, anonymous.csrf);
        assert!(sessions.get(&anonymous.id).is_none(), "the old id no longer works");
        assert_eq!(sessions.get(&signed_in.id).unwrap().principal, Some(Principal::Patient(Address::ZERO)));
    }

    #[test]
    fn failures_are_throttled_per_name_and_per_address() {
        let throttle = SignInThrottle::default();
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILED_SIGN_INS {
            assert!(throttle.wait_before_next(client, Some("nurse")).is_none());
            throttle.record_failure(client, Some("nurse"));
        }
        assert!(throttle.wait_before_next(client, Some("nurse")).is_some());
        let elsewhere: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(throttle.wait_before_next(elsewhere, Some("nurse")).is_some(), "the name is throttled anywhere");
        assert!(throttle.wait_before_next(elsewhere, Some("clerk")).is_none());
        assert!(throttle.wait_before_next(client, Some("clerk")).is_none(), "others at the address may still try");
        for _ in MAX_FAILED_SIGN_INS..MAX_FAILED_SIGN_INS_PER_ADDRESS {
            throttle.record_failure(client, None);
        }
        assert!(throttle.wait_before_next(client, Some("clerk")).is_some(), "until the address itself is throttled");
    }

    #[test]
    fn a_link_signs_in_once() {
        let links = SignInLinks::default();
        let token = links.issue(Address::ZERO);
        assert_eq!(links.redeem(&token), Some(Address::ZERO));
        assert_eq!(links.redeem(&token), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        assert_eq!(session_cookie("abc", false), "hrm_session=abc; Path=/; HttpOnly; SameSite=Strict");
        assert!(session_cookie("abc", true).ends_with("; Secure"));
    }
}
