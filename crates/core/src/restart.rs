//! Restart policy, OTP style, as plain data and pure functions:
//!
//! - per child, [`Restart`]: permanent (always restarted), transient (restarted only
//!   after a failure), temporary (never restarted);
//! - per supervisor, [`Strategy`]: one-for-one, one-for-all, rest-for-one;
//! - [`Intensity`]: more than `max_restarts` in `period` and the supervisor gives up
//!   and fails itself, escalating to its parent;
//! - [`Backoff`]: exponential delay between successive restarts of a child.
//!
//! The supervisor actor (`supervisor.rs`) and the writer's coordinator both decide
//! with these functions; unit tests drive them without spawning anything.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    Permanent,
    Transient,
    Temporary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Stopped on its own or on request.
    Normal(Option<String>),
    /// Returned an error or panicked.
    Failed(String),
}

impl Exit {
    /// Bounded metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Exit::Normal(_) => "exited",
            Exit::Failed(_) => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intensity {
    pub max_restarts: u32,
    #[serde(with = "crate::millis")]
    pub period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    #[serde(with = "crate::millis")]
    pub initial: Duration,
    #[serde(with = "crate::millis")]
    pub max: Duration,
    pub factor: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub strategy: Strategy,
    pub intensity: Intensity,
    pub backoff: Backoff,
}

impl Default for Policy {
    /// 10 restarts in 60 s, backoff 100 ms doubling to 10 s.
    fn default() -> Self {
        Policy {
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: 10,
                period: Duration::from_secs(60),
            },
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(10),
                factor: 2.0,
            },
        }
    }
}

/// Whether a child of this kind is restarted after this exit.
pub fn should_restart(restart: Restart, exit: &Exit) -> bool {
    match restart {
        Restart::Permanent => true,
        Restart::Transient => matches!(exit, Exit::Failed(_)),
        Restart::Temporary => false,
    }
}

/// Which children (indices, in start order) are restarted when child `failed` of `n` exits.
pub fn affected(strategy: Strategy, n: usize, failed: usize) -> Vec<usize> {
    match strategy {
        Strategy::OneForOne => vec![failed],
        Strategy::OneForAll => (0..n).collect(),
        Strategy::RestForOne => (failed..n).collect(),
    }
}

/// The supervisor gave up: too many restarts in the period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("restart intensity exceeded: more than {max} restarts in {period:?}")]
pub struct Escalate {
    pub max: u32,
    pub period: Duration,
}

/// Restart history of one supervisor: counts restarts within the sliding period and
/// computes the backoff before the next one.
#[derive(Debug, Clone, Default)]
pub struct RestartTracker {
    history: VecDeque<Instant>,
}

impl RestartTracker {
    /// Records a restart at `now`; `Err` when it would exceed the intensity.
    pub fn record(&mut self, now: Instant, intensity: &Intensity) -> Result<(), Escalate> {
        while self
            .history
            .front()
            .is_some_and(|t| now.duration_since(*t) > intensity.period)
        {
            self.history.pop_front();
        }
        if self.history.len() as u32 >= intensity.max_restarts {
            return Err(Escalate {
                max: intensity.max_restarts,
                period: intensity.period,
            });
        }
        self.history.push_back(now);
        Ok(())
    }

    /// Restarts within the current period (after the last `record`).
    pub fn recent(&self) -> u32 {
        self.history.len() as u32
    }

    /// Delay before the next restart: `initial * factor^(recent-1)`, capped at `max`.
    pub fn delay(&self, b: &Backoff) -> Duration {
        let k = self.history.len().saturating_sub(1) as i32;
        let d = b.initial.as_secs_f64() * b.factor.powi(k.min(64));
        Duration::from_secs_f64(d.min(b.max.as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_kinds() {
        let failed = Exit::Failed("boom".into());
        let normal = Exit::Normal(None);
        assert!(
            should_restart(Restart::Permanent, &normal)
                && should_restart(Restart::Permanent, &failed)
        );
        assert!(
            !should_restart(Restart::Transient, &normal)
                && should_restart(Restart::Transient, &failed)
        );
        assert!(!should_restart(Restart::Temporary, &failed));
    }

    #[test]
    fn strategies_pick_the_right_children() {
        assert_eq!(affected(Strategy::OneForOne, 4, 2), vec![2]);
        assert_eq!(affected(Strategy::OneForAll, 4, 2), vec![0, 1, 2, 3]);
        assert_eq!(affected(Strategy::RestForOne, 4, 2), vec![2, 3]);
    }

    #[test]
    fn intensity_exceeded_escalates_and_the_window_slides() {
        let mut now = Instant::now();
        let i = Intensity {
            max_restarts: 3,
            period: Duration::from_secs(10),
        };
        let mut t = RestartTracker::default();
        for _ in 0..3 {
            t.record(now, &i).unwrap();
            now += Duration::from_secs(1);
        }
        assert_eq!(
            t.record(now, &i),
            Err(Escalate {
                max: 3,
                period: Duration::from_secs(10)
            })
        );
        now += Duration::from_secs(9); // the first restart leaves the window
        assert!(t.record(now, &i).is_ok());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let now = Instant::now();
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            factor: 2.0,
        };
        let i = Intensity {
            max_restarts: 100,
            period: Duration::from_secs(60),
        };
        let mut t = RestartTracker::default();
        let mut seen = vec![];
        for _ in 0..5 {
            t.record(now, &i).unwrap();
            seen.push(t.delay(&b).as_millis());
        }
        assert_eq!(seen, vec![100, 200, 400, 500, 500]);
    }
}
