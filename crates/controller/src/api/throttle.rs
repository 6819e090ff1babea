//! Login throttling: after a few failed logins, each further attempt must wait, twice as long
//! after every failure, up to a cap. Failures are counted per login name (in its auth method)
//! and per source address, so neither guessing one account's password from many addresses
//! nor trying many accounts from one address goes fast.
//!
//! - A throttled attempt is refused before its password is checked, with the same answer
//!   whether the login name exists or not (unknown names are counted like known ones).
//! - Nobody is locked out for good: the wait is capped ([`ThrottlePolicy::max_delay`]), a
//!   successful login clears its login name's count, and a count is forgotten after
//!   [`ThrottlePolicy::forget_after`] without failures.
//! - The counts live in this controller's memory: several controllers each keep their own.
//!
//! Measured before this existed: about 1,600 guesses per second against one account, with
//! no limit (issue 11).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use postern_authority::Clock;

/// When logins get throttled, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failed logins of one login name before the waits start.
    pub free_failures_per_login: u32,
    /// Failed logins from one address before the waits start (higher: many users may share
    /// an address behind NAT).
    pub free_failures_per_source: u32,
    /// The wait after the first failure past the free ones; it doubles with each further one.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A count with no failure for this long starts over.
    pub forget_after: Duration,
    /// Counts kept at most (a flood of made-up login names cannot grow memory past it).
    pub max_entries: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_failures_per_login: 5,
            free_failures_per_source: 20,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            forget_after: Duration::from_secs(900),
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Login {
        auth_method_id: String,
        login_name: String,
    },
    Source(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: SystemTime,
    /// No attempt before this.
    blocked_until: SystemTime,
}

/// The failed-login counts of one controller.
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    clock: Clock,
    counts: Mutex<HashMap<Key, Failures>>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// One login attempt: what it is counted under.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub auth_method_id: &'a str,
    pub login_name: &'a str,
    /// The caller's address, when the server knows it.
    pub source: Option<IpAddr>,
}

impl Attempt<'_> {
    fn keys(&self) -> impl Iterator<Item = Key> {
        let login = Key::Login {
            auth_method_id: self.auth_method_id.to_owned(),
            login_name: self.login_name.to_owned(),
        };
        std::iter::once(login).chain(self.source.map(Key::Source))
    }
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy, clock: Clock) -> Self {
        Self {
            policy,
            clock,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when the attempt must wait that long before it is tried.
    pub fn check(&self, attempt: &Attempt<'_>) -> Result<(), Duration> {
        let now = (self.clock)();
        let counts = self.lock();
        let wait = attempt
            .keys()
            .filter_map(|key| counts.get(&key))
            .filter_map(|failures| failures.blocked_until.duration_since(now).ok())
            .filter(|wait| !wait.is_zero())
            .max();
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failed attempt under its login name and its address.
    pub fn failed(&self, attempt: &Attempt<'_>) {
        let now = (self.clock)();
        let mut counts = self.lock();
        if counts.len() >= self.policy.max_entries {
            self.prune(&mut counts, now);
        }
        for key in attempt.keys() {
            let free = match key {
                Key::Login { .. } => self.policy.free_failures_per_login,
                Key::Source(_) => self.policy.free_failures_per_source,
            };
            let failures = counts.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: now,
            });
            if self.forgotten(failures, now) {
                failures.count = 0;
            }
            failures.count = failures.count.saturating_add(1);
            failures.last = now;
            failures.blocked_until = now + self.delay(failures.count, free);
        }
    }

    /// A successful login clears its login name's count (not its address's: one good
    /// account must not reset the count of an address guessing at others).
    pub fn succeeded(&self, attempt: &Attempt<'_>) {
        let mut counts = self.lock();
        counts.remove(&Key::Login {
            auth_method_id: attempt.auth_method_id.to_owned(),
            login_name: attempt.login_name.to_owned(),
        });
    }

    /// The wait after the `count`-th failure when `free` are allowed.
    fn delay(&self, count: u32, free: u32) -> Duration {
        let Some(past) = count.checked_sub(free).filter(|past| *past > 0) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(past - 1).unwrap_or(u32::MAX);
        self.policy
            .first_delay
            .checked_mul(factor)
            .unwrap_or(self.policy.max_delay)
            .min(self.policy.max_delay)
    }

    fn forgotten(&self, failures: &Failures, now: SystemTime) -> bool {
        now >= failures.blocked_until
            && now
                .duration_since(failures.last)
                .is_ok_and(|idle| idle >= self.policy.forget_after)
    }

    /// Drops forgotten counts; if that is not enough, the oldest half.
    fn prune(&self, counts: &mut HashMap<Key, Failures>, now: SystemTime) {
        counts.retain(|_, failures| !self.forgotten(failures, now));
        if counts.len() >= self.policy.max_entries {
            let mut lasts: Vec<SystemTime> = counts.values().map(|f| f.last).collect();
            let middle = lasts.len() / 2;
            let (_, cut, _) = lasts.select_nth_unstable(middle);
            let cut = *cut;
            counts.retain(|_, failures| failures.last > cut);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use postern_authority::ManualClock;

    use super::*;

    fn throttle() -> (LoginThrottle, ManualClock) {
        let clock = ManualClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30));
        let policy = ThrottlePolicy {
            free_failures_per_login: 3,
            free_failures_per_source: 5,
            max_entries: 8,
            ..ThrottlePolicy::default()
        };
        (LoginThrottle::new(policy, clock.clock()), clock)
    }

    fn attempt<'a>(login_name: &'a str, source: &str) -> Attempt<'a> {
        Attempt {
            auth_method_id: "ampw_1234567890",
            login_name,
            source: Some(source.parse().unwrap()),
        }
    }

    #[test]
    fn waits_start_after_the_free_failures_and_double() {
        let (t, millis) = throttle();
        let a = attempt("admin", "192.0.2.1");
        for _ in 0..3 {
            assert_eq!(t.check(&a), Ok(()));
            t.failed(&a);
        }
        assert_eq!(t.check(&a), Ok(()));
        t.failed(&a);
        assert_eq!(t.check(&a), Err(Duration::from_secs(1)));
        millis.advance(Duration::from_secs(1));
        assert_eq!(t.check(&a), Ok(()));
        t.failed(&a);
        assert_eq!(t.check(&a), Err(Duration::from_secs(2)));
        millis.advance(Duration::from_secs(2));
        t.failed(&a);
        assert_eq!(t.check(&a), Err(Duration::from_secs(4)));
    }

    #[test]
    fn the_wait_is_capped_and_success_clears_the_login() {
        let (t, millis) = throttle();
        let a = attempt("admin", "192.0.2.1");
        for _ in 0..40 {
            t.failed(&a);
        }
        assert_eq!(t.check(&a), Err(Duration::from_secs(300)));
        millis.advance(Duration::from_secs(300));
        assert_eq!(t.check(&a), Ok(()));
        t.succeeded(&a);
        // The login's count is gone; the address's stays (it is past its 5 free failures).
        let same_name_elsewhere = attempt("admin", "198.51.100.7");
        assert_eq!(t.check(&same_name_elsewhere), Ok(()));
        t.failed(&a);
        assert_eq!(t.check(&same_name_elsewhere), Ok(()));
        assert_eq!(t.check(&a), Err(Duration::from_secs(300)));
    }

    #[test]
    fn one_address_trying_many_names_is_throttled() {
        let (t, _) = throttle();
        for n in 0..6 {
            let name = format!("user{n}");
            let a = attempt(&name, "192.0.2.9");
            assert_eq!(t.check(&a), Ok(()), "attempt {n}");
            t.failed(&a);
        }
        assert_eq!(
            t.check(&attempt("someone-else", "192.0.2.9")),
            Err(Duration::from_secs(1))
        );
        assert_eq!(t.check(&attempt("someone-else", "192.0.2.10")), Ok(()));
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_spell_and_memory_is_bounded() {
        let (t, millis) = throttle();
        let a = attempt("admin", "192.0.2.1");
        for _ in 0..4 {
            t.failed(&a);
        }
        millis.advance(Duration::from_secs(900));
        t.failed(&a);
        assert_eq!(t.check(&a), Ok(()), "the count started over");
        for n in 0..100 {
            let name = format!("flood{n}");
            let source = format!("203.0.113.{}", n % 250);
            millis.advance(Duration::from_millis(1));
            t.failed(&attempt(&name, &source));
        }
        assert!(t.lock().len() <= 8 + 2, "{}", t.lock().len());
    }
}
