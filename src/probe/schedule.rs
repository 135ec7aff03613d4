//! When each pulled probe runs next: a timer queue ordered by due time, so the reconciler asks
//! "what is due" and "when next" without looking at every probe, and one pass costs the same
//! with ten probes as with ten thousand.
//!
//! A probe keeps its cadence (`every` after its last due time), and after a long stall starts
//! again from now instead of bursting. A probe still running when it falls due again is not
//! started twice: that turn is skipped and the next one queued.

use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// keeps its next time; a new or changed one is due at `now`.
    pub fn rebuild(&mut self, probes: Vec<(EntityKey, Probe, Duration)>, now: Instant) {
        let mut entries = HashMap::with_capacity(probes.len());
        for (key, probe, every) in probes {
            let next = self.entries.get(&key).filter(|old| old.every == every).map_or(now, |old| old.next);
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
        let s = |secs: u64| start + Duration::from_secs(secs);
        let mut schedule = ProbeSchedule::default();
        schedule.rebuild(
            vec![(key("a"), tcp(), Duration::from_secs(10)), (key("b"), tcp(), Duration::from_secs(3))],
            start,
        );
        assert_eq!(schedule.next_due(), Some(start));
        let due: Vec<String> = schedule.take_due(start).into_iter().map(|(k, _)| k.id).collect();
        assert_eq!(due, ["a", "b"]);
        assert_eq!(schedule.next_due(), Some(s(3)));
        // b is still running at its next turn: skipped, not started twice.
        assert!(schedule.take_due(s(3)).is_empty());
        assert_eq!(schedule.next_due(), Some(s(6)));
        schedule.finished(&key("b"));
        assert_eq!(schedule.take_due(s(6)).len(), 1);
        // After a stall, from now on instead of a burst.
        schedule.finished(&key("a"));
        schedule.finished(&key("b"));
        assert_eq!(schedule.take_due(s(100)).len(), 2);
        assert_eq!(schedule.next_due(), Some(s(103)));
    }

    #[test]
    fn a_rebuild_keeps_the_times_of_probes_that_remain() {
        let start = Instant::now();
        let mut schedule = ProbeSchedule::default();
        schedule.rebuild(vec![(key("a"), tcp(), Duration::from_secs(10))], start);
        schedule.take_due(start);
        schedule.finished(&key("a"));
        let later = start + Duration::from_secs(1);
        schedule.rebuild(
            vec![(key("a"), tcp(), Duration::from_secs(10)), (key("new"), tcp(), Duration::from_secs(10))],
            later,
        );
        assert_eq!(schedule.next_due(), Some(later), "the new probe is due now");
        let due: Vec<String> = schedule.take_due(later).into_iter().map(|(k, _)| k.id).collect();
        assert_eq!(due, ["new"], "a keeps its next time");
        schedule.rebuild(Vec::new(), later);
        assert_eq!(schedule.next_due(), None);
    }
}
