//! When each pulled probe runs next: a timer queue ordered by due time, so the reconciler asks
//! "what is due" and "when next" without looking at every probe, and one pass costs the same
//! with ten probes as with ten thousand.
//!
//! A probe keeps its cadence (`every` after its last due time), and after a long stall starts
//! again from now instead of bursting. A probe still running when it falls due again is not
//! started twice: that turn is skipped and the next one queued.
//!
//! A new probe first falls due at a phase of its own within the first second (or its period,
//! when shorter), worked out from its entity key, as Prometheus spreads its scrape targets
//! over their interval: 5,000 probes every second then run a few at a time all through the
//! second instead of all at once at its start, where the last of the burst finished late
//! enough to lose their next turn.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use crate::config::{EntityKey, Probe};

#[derive(Debug, Clone)]
struct Entry {
    probe: Probe,
    every: Duration,
    next: Instant,
}

/// The pulled probes of the judged entities, by due time.
#[derive(Debug, Default)]
pub struct ProbeSchedule {
    entries: HashMap<EntityKey, Entry>,
    queue: BTreeSet<(Instant, EntityKey)>,
    in_flight: HashSet<EntityKey>,
}

impl ProbeSchedule {
    /// Replaces the set of probes (after a reload). A probe that remains with the same period
    /// keeps its next time; a new or changed one is due at its [`phase`] after `now`.
    pub fn rebuild(&mut self, probes: Vec<(EntityKey, Probe, Duration)>, now: Instant) {
        let mut entries = HashMap::with_capacity(probes.len());
        for (key, probe, every) in probes {
            let next = match self.entries.get(&key).filter(|old| old.every == every) {
                Some(old) => old.next,
                None => now + phase(&key, every),
            };
            entries.insert(key, Entry { probe, every, next });
        }
        self.queue = entries.iter().map(|(key, entry)| (entry.next, key.clone())).collect();
        self.in_flight.retain(|key| entries.contains_key(key));
        self.entries = entries;
    }

    /// When the next probe falls due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// The probes due at `now`, marked as running; each is queued again at its next time.
    pub fn take_due(&mut self, now: Instant) -> Vec<(EntityKey, Probe)> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.queue.first()
            && *at <= now
        {
            let Some((at, key)) = self.queue.pop_first() else { break };
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            entry.next = if at + entry.every > now { at + entry.every } else { now + entry.every };
            self.queue.insert((entry.next, key.clone()));
            if self.in_flight.insert(key.clone()) {
                due.push((key, entry.probe.clone()));
            }
        }
        due
    }

    /// A probe's run ended (its result arrived).
    pub fn finished(&mut self, key: &EntityKey) {
        self.in_flight.remove(key);
    }

    /// The probe of an entity, if it has a pulled one.
    pub fn probe(&self, key: &EntityKey) -> Option<&Probe> {
        self.entries.get(key).map(|e| &e.probe)
    }
}

/// The longest wait before a new probe's first run.
const MAX_PHASE: Duration = Duration::from_secs(1);
/// Phases are whole multiples of this, so the reconciler wakes for a handful of probes at a
/// time rather than for each one.
const PHASE_STEP: Duration = Duration::from_millis(10);

/// Where in the first second (or in its period, when shorter) a probe first falls due: the
/// same for the same entity key in every run and on every host, spread evenly over keys.
pub fn phase(key: &EntityKey, every: Duration) -> Duration {
    let steps = u32::try_from(every.min(MAX_PHASE).as_nanos() / PHASE_STEP.as_nanos()).unwrap_or(1);
    if steps <= 1 {
        return Duration::ZERO;
    }
    // `DefaultHasher::new()` has fixed keys: the phase does not change between runs.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    PHASE_STEP * (hasher.finish() % u64::from(steps)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    fn key(id: &str) -> EntityKey {
        EntityKey::new(Kind::Integration, id)
    }

    fn tcp() -> Probe {
        Probe::Tcp(crate::config::TcpProbe { address: "127.0.0.1:1".into(), timeout: Duration::from_secs(1) })
    }

    #[test]
    fn probes_fall_due_in_order_keep_their_cadence_and_never_run_twice_at_once() {
        let start = Instant::now();
        let (a, b) = (phase(&key("a"), Duration::from_secs(10)), phase(&key("b"), Duration::from_secs(3)));
        let s = |secs: u64, phase: Duration| start + phase + Duration::from_secs(secs);
        let mut schedule = ProbeSchedule::default();
        schedule.rebuild(
            vec![(key("a"), tcp(), Duration::from_secs(10)), (key("b"), tcp(), Duration::from_secs(3))],
            start,
        );
        assert_eq!(schedule.next_due(), Some(start + a.min(b)));
        let mut due: Vec<String> =
            schedule.take_due(start + MAX_PHASE).into_iter().map(|(k, _)| k.id).collect();
        due.sort();
        assert_eq!(due, ["a", "b"]);
        assert_eq!(schedule.next_due(), Some(s(3, b)));
        // b is still running at its next turn: skipped, not started twice.
        assert!(schedule.take_due(s(3, b)).is_empty());
        assert_eq!(schedule.next_due(), Some(s(6, b)));
        schedule.finished(&key("b"));
        assert_eq!(schedule.take_due(s(6, b)).len(), 1);
        // After a stall, from now on instead of a burst.
        schedule.finished(&key("a"));
        schedule.finished(&key("b"));
        let late = start + Duration::from_secs(100);
        assert_eq!(schedule.take_due(late).len(), 2);
        assert_eq!(schedule.next_due(), Some(late + Duration::from_secs(3)));
    }

    #[test]
    fn a_rebuild_keeps_the_times_of_probes_that_remain() {
        let start = Instant::now();
        let every = Duration::from_secs(10);
        let mut schedule = ProbeSchedule::default();
        schedule.rebuild(vec![(key("a"), tcp(), every)], start);
        let first = start + phase(&key("a"), every);
        assert_eq!(schedule.take_due(first).len(), 1);
        schedule.finished(&key("a"));
        let later = start + Duration::from_secs(1);
        schedule.rebuild(vec![(key("a"), tcp(), every), (key("new"), tcp(), every)], later);
        let new = later + phase(&key("new"), every);
        assert_eq!(schedule.next_due(), Some(new), "the new probe is due at its phase");
        let due: Vec<String> = schedule.take_due(new).into_iter().map(|(k, _)| k.id).collect();
        assert_eq!(due, ["new"], "a keeps its next time");
        schedule.rebuild(Vec::new(), later);
        assert_eq!(schedule.next_due(), None);
    }

    /// Many probes of one period start spread over the first second, not all at once, and a
    /// short period bounds the wait.
    #[test]
    fn new_probes_are_spread_over_the_first_second() {
        let every = Duration::from_secs(1);
        let tenths: Vec<usize> = (0..5000).fold(vec![0; 10], |mut tenths, n| {
            let at = phase(&key(&format!("i{n}")), every);
            assert!(at < every && at.as_nanos().is_multiple_of(PHASE_STEP.as_nanos()), "{at:?}");
            tenths[(at.as_millis() / 100) as usize] += 1;
            tenths
        });
        assert!(tenths.iter().all(|&n| (400..=600).contains(&n)), "{tenths:?}");
        assert!(phase(&key("x"), Duration::from_millis(200)) < Duration::from_millis(200));
        assert!(phase(&key("x"), Duration::from_secs(3600)) < MAX_PHASE);
        assert_eq!(phase(&key("x"), Duration::ZERO), Duration::ZERO);
        assert_eq!(phase(&key("x"), Duration::from_millis(15)), Duration::ZERO, "shorter than a step");
        assert_eq!(phase(&key("x"), every), phase(&key("x"), every), "the same every time");
    }
}
