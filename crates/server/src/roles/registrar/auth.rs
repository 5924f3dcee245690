//! Digest authentication of requests from local users (RFC 3261 §22, RFC 7616/8760), sans-IO:
//! stateless HMAC nonces any node can check, nonce-count tracking so a captured response cannot
//! be replayed, and one answer for every kind of failure so that scanners cannot tell unknown
//! users from wrong passwords or disabled accounts.
//!
//! Nonce-counts live in a fixed ring indexed by the nonce's salt, which counts up with every
//! challenge (as Kamailio's `nc_array`): constant memory whatever the rate, no per-nonce
//! allocation. A nonce whose slot has since been taken by a newer one is answered `stale`, so
//! the ring bounds how many challenges may be outstanding at once, not correctness.

use trunkline_sip::digest::{
    self, Algorithm, ChallengeBuilder, Credentials, NonceSecret, NonceStatus, Qop,
};
use trunkline_sip::{HeaderName, Message};
use trunkline_store::Snapshot;

/// Slots of the nonce-count ring (a power of two): 8 MiB, filled as challenges are issued.
const RING_SLOTS: usize = 1 << 20;

/// One ring slot: which generation of salts owns it, and the highest nonce-count accepted.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    generation: u32,
    nc: u32,
}

/// What the store's snapshot says about the user a request claims to be.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// `MD5(user:realm:password)`, hex.
    pub ha1_md5: &'a str,
    /// `SHA-256(user:realm:password)`, hex.
    pub ha1_sha256: &'a str,
    /// Disabled users are refused exactly like wrong passwords.
    pub enabled: bool,
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are valid for `username` in the realm.
    Authenticated {
        /// The digest username.
        username: String,
    },
    /// Answer 401/407 with fresh challenges. `failed` is true when credentials were presented
    /// and were wrong (for brute-force counting); `stale` when only the nonce had expired.
    Challenge {
        /// Send `stale=true`: the password was right, the nonce too old.
        stale: bool,
        /// Credentials were presented and refused.
        failed: bool,
    },
}

/// Checks digest credentials and issues challenges.
#[derive(Debug)]
pub struct Authenticator {
    secret: NonceSecret,
    nonce_ttl_secs: u64,
    salt: u64,
    /// Highest nonce-count accepted, per salt slot.
    ring: Vec<Slot>,
    /// Offered algorithms, most preferred first; credentials in any other are refused.
    algorithms: Vec<Algorithm>,
}

impl Authenticator {
    /// An authenticator whose nonces are keyed by `key` (32 random bytes, shared by every node
    /// of a cluster),
    /// live `nonce_ttl_secs`, and that offers `algorithms` in that order (RFC 8760 §2.4: a client
    /// takes the first it supports).
    pub fn new(key: [u8; 32], nonce_ttl_secs: u64, algorithms: Vec<Algorithm>) -> Self {
        Self {
            secret: NonceSecret::new(key),
            nonce_ttl_secs,
            // Salts continue across restarts (time-based start), so a nonce issued before a
            // restart never shares a slot generation with one issued after it.
            salt: start_salt(),
            ring: vec![Slot::default(); RING_SLOTS],
            algorithms,
        }
    }

    /// The challenge header values for `realm`, one per offered algorithm, all with
    /// `qop="auth"` and one nonce.
    pub fn challenges(&mut self, realm: &str, stale: bool, now_secs: u64) -> Vec<String> {
        self.salt = self.salt.wrapping_add(1);
        let nonce = self.secret.issue(now_secs, self.salt, realm.as_bytes());
        (self.algorithms.iter().copied())
            .filter_map(|alg| {
                ChallengeBuilder::new(realm, &nonce)
                    .algorithm(alg)
                    .qop(&[Qop::Auth])
                    .stale(stale)
                    .build()
                    .ok()
            })
            .collect()
    }

    /// Checks `creds` (parsed from the Authorization header, if any) for `method` in `realm`.
    /// `account` is what the snapshot holds for the claimed username, `None` if unknown.
    /// Every refusal does the same work and gives the same verdict, whatever its cause.
    pub fn check(
        &mut self,
        creds: Option<&Credentials<'_>>,
        method: &str,
        realm: &str,
        account: Option<Account<'_>>,
        now_secs: u64,
    ) -> Verdict {
        let Some(creds) = creds else {
            return Verdict::Challenge {
                stale: false,
                failed: false,
            };
        };
        let refused = Verdict::Challenge {
            stale: false,
            failed: true,
        };
        if creds.require_complete().is_err()
            || creds.realm().map(|r| r.unescape()).as_deref() != Some(realm)
        {
            return refused;
        }
        let Ok(algorithm) = creds.algorithm() else {
            return refused;
        };
        if !self.algorithms.contains(&algorithm) {
            return refused;
        }
        let nonce = creds.nonce().map(|n| n.unescape()).unwrap_or_default();
        let nonce_status =
            self.secret
                .check(&nonce, now_secs, self.nonce_ttl_secs, realm.as_bytes());
        // A well-formed but unknown or disabled user is verified against a decoy HA1, so the
        // work (and the time) is the same as for a known user with a wrong password.
        let decoy = Account {
            ha1_md5: "00000000000000000000000000000000",
            ha1_sha256: "0000000000000000000000000000000000000000000000000000000000000000",
            enabled: false,
        };
        let acct = account.unwrap_or(decoy);
        let ha1 = match algorithm {
            Algorithm::Md5 | Algorithm::Md5Sess => acct.ha1_md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => acct.ha1_sha256,
        };
        let password_ok =
            digest::verify(creds, method, ha1, b"") && account.is_some() && acct.enabled;
        if !password_ok {
            return refused;
        }
        let salt = match nonce_status {
            NonceStatus::Valid { salt, .. } => salt,
            NonceStatus::Stale => {
                return Verdict::Challenge {
                    stale: true,
                    failed: false,
                };
            }
            NonceStatus::Invalid => return refused,
        };
        // Replay protection: with qop the nonce-count must grow; without qop a nonce is good once.
        let nc = creds.nc().map_or(1, |n| n.value());
        if !self.count(salt, nc) {
            return Verdict::Challenge {
                stale: true,
                failed: false,
            };
        }
        let username = creds.username().map(|u| u.unescape()).unwrap_or_default();
        Verdict::Authenticated {
            username: username.into_owned(),
        }
    }

    /// Checks the credentials `msg` carries in `header` (Authorization for a registrar,
    /// Proxy-Authorization for a proxy) for `realm`, against the snapshot's user of that name.
    /// Several headers may be present, one per realm (RFC 3261 §22.4); the one for `realm`
    /// counts. Returns the verdict and the username claimed, if any.
    pub fn check_request(
        &mut self,
        msg: &Message<'_>,
        header: HeaderName,
        realm: &str,
        snapshot: &Snapshot,
        now_secs: u64,
    ) -> (Verdict, Option<String>) {
        let creds = (msg.headers_named(header))
            .filter_map(|h| digest::parse_credentials(h.value).ok())
            .find(|c| c.realm().is_some_and(|r| r.unescape() == realm));
        let claimed = (creds.as_ref())
            .and_then(|c| c.username())
            .map(|u| u.unescape().into_owned());
        let account = (claimed.as_deref())
            .and_then(|u| snapshot.user(realm, u))
            .map(|u| Account {
                ha1_md5: u.ha1_md5.as_str(),
                ha1_sha256: u.ha1_sha256.as_str(),
                enabled: u.enabled,
            });
        let method = msg.method().map(|m| m.as_str()).unwrap_or_default();
        let verdict = self.check(creds.as_ref(), method, realm, account, now_secs);
        (verdict, claimed)
    }

    /// Accepts `nc` for the nonce with `salt` only if it is higher than any accepted before.
    fn count(&mut self, salt: u64, nc: u32) -> bool {
        let generation = (salt >> RING_SLOTS.trailing_zeros()) as u32;
        let Some(slot) = self.ring.get_mut(salt as usize & (RING_SLOTS - 1)) else {
            return false;
        };
        if generation > slot.generation || (generation == slot.generation && slot.nc == 0) {
            *slot = Slot { generation, nc };
            return nc > 0;
        }
        if generation < slot.generation || nc <= slot.nc {
            return false;
        }
        slot.nc = nc;
        true
    }
}

/// The first salt of this process: microseconds since the Unix epoch, so that salts of a later
/// process are higher than any this one issues (unless it issues more than a million
/// challenges per second for its whole life).
fn start_salt() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trunkline_sip::digest::{CredentialsBuilder, Secret, parse_challenge, parse_credentials};

    const REALM: &str = "example.test";

    fn account(password: &str) -> (String, String) {
        (
            digest::ha1(Algorithm::Md5, "1001", REALM, password).to_string(),
            digest::ha1(Algorithm::Sha256, "1001", REALM, password).to_string(),
        )
    }

    fn answer(challenge: &str, user: &str, password: &str, nc: u32) -> String {
        let c = parse_challenge(challenge.as_bytes()).unwrap();
        let nonce = c.nonce().unwrap().unescape();
        CredentialsBuilder::new(user, Secret::Password(password), REALM, &nonce)
            .request("REGISTER", "sip:example.test")
            .algorithm(c.algorithm().unwrap())
            .qop(Qop::Auth, nc, "0a4f113b")
            .build()
            .unwrap()
    }

    fn check(a: &mut Authenticator, header: &str, acct: Option<Account<'_>>, now: u64) -> Verdict {
        let creds = parse_credentials(header.as_bytes()).unwrap();
        a.check(Some(&creds), "REGISTER", REALM, acct, now)
    }

    #[test]
    fn challenge_answer_replay_and_stale() {
        let mut a = Authenticator::new([9; 32], 300, vec![Algorithm::Sha256, Algorithm::Md5]);
        let (md5, sha) = account("secret1001");
        let acct = Account {
            ha1_md5: &md5,
            ha1_sha256: &sha,
            enabled: true,
        };
        let challenges = a.challenges(REALM, false, 1000);
        assert_eq!(challenges.len(), 2);
        assert!(challenges[0].contains("SHA-256") && challenges[1].contains("MD5"));
        // Both challenges carry one nonce, so its count keeps growing across them.
        for (ch, nc) in challenges.iter().zip([1, 10]) {
            let h = answer(ch, "1001", "secret1001", nc);
            assert_eq!(
                check(&mut a, &h, Some(acct), 1001),
                Verdict::Authenticated {
                    username: "1001".into()
                }
            );
            // The same response again is a replay.
            assert_eq!(
                check(&mut a, &h, Some(acct), 1002),
                Verdict::Challenge {
                    stale: true,
                    failed: false
                }
            );
            // A higher nonce-count is fine.
            let h2 = answer(ch, "1001", "secret1001", nc + 1);
            assert!(matches!(
                check(&mut a, &h2, Some(acct), 1003),
                Verdict::Authenticated { .. }
            ));
        }
        // An expired nonce with the right password: stale.
        let ch = &a.challenges(REALM, false, 1000)[0];
        let h = answer(ch, "1001", "secret1001", 1);
        assert_eq!(
            check(&mut a, &h, Some(acct), 1400),
            Verdict::Challenge {
                stale: true,
                failed: false
            }
        );
    }

    #[test]
    fn the_nonce_count_ring_refuses_replays_and_overtaken_slots() {
        let mut a = Authenticator::new([9; 32], 300, vec![Algorithm::Md5]);
        let salt = 5 << 20 | 7;
        assert!(a.count(salt, 1));
        assert!(!a.count(salt, 1), "replay");
        assert!(a.count(salt, 3));
        assert!(!a.count(salt, 2), "lower count");
        // A newer salt on the same slot takes it over; the older nonce is stale from then on.
        let newer = salt + RING_SLOTS as u64;
        assert!(a.count(newer, 1));
        assert!(!a.count(salt, 4));
        assert!(!a.count(salt + 1, 0), "nonce-count 0 is never valid");
    }

    #[test]
    fn failures_look_the_same() {
        let mut a = Authenticator::new([9; 32], 300, vec![Algorithm::Sha256, Algorithm::Md5]);
        let (md5, sha) = account("secret1001");
        let ok = Account {
            ha1_md5: &md5,
            ha1_sha256: &sha,
            enabled: true,
        };
        let disabled = Account {
            enabled: false,
            ..ok
        };
        let ch = a.challenges(REALM, false, 1000)[0].clone();
        let wrong = answer(&ch, "1001", "wrong-password", 1);
        let right = answer(&ch, "1001", "secret1001", 1);
        let refused = Verdict::Challenge {
            stale: false,
            failed: true,
        };
        assert_eq!(check(&mut a, &wrong, Some(ok), 1001), refused);
        assert_eq!(check(&mut a, &right, None, 1001), refused, "unknown user");
        assert_eq!(
            check(&mut a, &right, Some(disabled), 1001),
            refused,
            "disabled user"
        );
        // A forged nonce, another realm, no credentials.
        let forged = right.replace(
            &parse_challenge(ch.as_bytes())
                .unwrap()
                .nonce()
                .unwrap()
                .unescape()
                .to_string(),
            "AAAA",
        );
        assert_eq!(check(&mut a, &forged, Some(ok), 1001), refused);
        assert_eq!(
            a.check(None, "REGISTER", REALM, Some(ok), 1001),
            Verdict::Challenge {
                stale: false,
                failed: false
            }
        );
    }
}
