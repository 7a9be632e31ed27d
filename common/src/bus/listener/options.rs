//! How often a listener retries, and how long it backs off between attempts.
use std::time::Duration;

/// Retry limits; the defaults suit production, tests shrink the backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerOptions {
    /// Deliveries before a message is dead-lettered (the first delivery counts).
    pub max_attempts: u32,
    /// Delay before the second delivery; doubles on each later one.
    pub base_backoff: Duration,
    /// The longest delay between deliveries, however many came before.
    pub max_backoff: Duration,
}

/// Deliveries a listener makes by default before it dead-letters a message.
pub const MAX_ATTEMPTS: u32 = 8;

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            max_attempts: MAX_ATTEMPTS,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// The most deliveries a listener may plan for: fewer than the broker makes
/// ([`crate::bus::jetstream::MAX_DELIVER`]), so a listener's last attempt is one it sees and parks
/// as a dead letter. A higher limit lets JetStream stop redelivering first, and the message
/// is then gone with no dead letter and no log line.
pub const MAX_LISTENER_ATTEMPTS: u32 = crate::bus::jetstream::MAX_DELIVER as u32 - 1;

const _: () = assert!(MAX_ATTEMPTS <= MAX_LISTENER_ATTEMPTS);

impl ListenerOptions {
    /// `base × 2^(attempt-1)`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// These options with `max_attempts` between 1 and `MAX_LISTENER_ATTEMPTS`; a higher
    /// limit is lowered (and logged), since the broker would drop the message before it.
    pub fn bounded(self) -> Self {
        let max_attempts = self.max_attempts.clamp(1, MAX_LISTENER_ATTEMPTS);
        if max_attempts != self.max_attempts {
            tracing::warn!(
                asked = self.max_attempts,
                max_attempts,
                "listener attempts bounded by the broker's redelivery limit"
            );
        }
        Self {
            max_attempts,
            ..self
        }
    }
}

#[cfg(test)]
mod options_tests {
    use super::*;

    #[test]
    fn listener_attempts_never_reach_the_brokers_limit() {
        let asked = |max_attempts| {
            ListenerOptions {
                max_attempts,
                ..ListenerOptions::default()
            }
            .bounded()
            .max_attempts
        };
        assert!(i64::from(asked(20)) < crate::bus::jetstream::MAX_DELIVER);
        assert_eq!(asked(20), MAX_LISTENER_ATTEMPTS);
        assert_eq!(asked(u32::MAX), MAX_LISTENER_ATTEMPTS);
        assert_eq!(asked(0), 1, "the first delivery is an attempt");
        assert_eq!(asked(3), 3, "a lower limit is kept");
        let default = ListenerOptions::default();
        assert!(i64::from(default.max_attempts) < crate::bus::jetstream::MAX_DELIVER);
        assert_eq!(default.clone().bounded(), default);
    }
}
