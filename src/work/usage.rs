//! Token usage and what it costs: pricing a record from the `Price` rules, totals by model,
//! agent, task and local day, and the spend a `Budget` counts over its window.
//!
//! A budget window that is a whole number of days is a run of calendar days in the settings'
//! time zone ending today (`1d` is "since local midnight", `7d` is today and the six days
//! before), because "today's spend" is what an owner means by a daily budget; any other
//! window (`12h`) is a rolling one ending now. Only records in the budget's currency count.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event::UsageRecorded;
use crate::config::{Budget, BudgetScope, Price, glob_match};

/// One `usage.recorded` event as the board keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageRecord {
    /// The event's timestamp.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub usage: UsageRecorded,
}

/// The price for a model: of the `Price` rules whose glob matches, the most specific one
/// (the most literal characters, then the lowest id), so a catch-all `*` never shadows a
/// model's own price whatever the file order.
pub fn price_for<'a>(prices: &'a [Price], model: &str) -> Option<&'a Price> {
    let literal = |p: &Price| p.model.chars().filter(|c| !matches!(c, '*' | '?')).count();
    prices
        .iter()
        .filter(|p| glob_match(&p.model, model))
        .max_by(|a, b| literal(a).cmp(&literal(b)).then_with(|| b.id.cmp(&a.id)))
}

/// The cost of the tokens at a price, rounded to a millionth so sums stay readable.
pub fn cost(price: &Price, input: u64, output: u64, cache_read: u64, cache_write: u64) -> f64 {
    let per_mtok = |tokens: u64, rate: f64| tokens as f64 * rate / 1_000_000.0;
    round6(
        per_mtok(input, price.input_per_mtok)
            + per_mtok(output, price.output_per_mtok)
            + per_mtok(cache_read, price.cache_read_per_mtok)
            + per_mtok(cache_write, price.cache_write_per_mtok),
    )
}

pub(crate) fn round6(x: f64) -> f64 {
    (x * 1_000_000.0).round() / 1_000_000.0
}

/// Sums of a set of records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Totals {
    pub records: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub total_tokens: u64,
    /// Summed over every currency; see [`UsageTotals::currencies`].
    pub estimated_cost: f64,
    /// Records no price matched (counted at cost 0).
    pub unpriced: u64,
}

impl Totals {
    fn add(&mut self, u: &UsageRecorded) {
        self.records += 1;
        self.input_tokens = self.input_tokens.saturating_add(u.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(u.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(u.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(u.cache_write_tokens);
        self.total_tokens = self.total_tokens.saturating_add(u.total_tokens);
        self.estimated_cost = round6(self.estimated_cost + u.estimated_cost);
        self.unpriced += u64::from(!u.priced);
    }
}

/// Totals of a set of records, overall and by model, agent, task and local day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageTotals {
    pub all: Totals,
    pub by_model: BTreeMap<String, Totals>,
    pub by_agent: BTreeMap<String, Totals>,
    /// Records without a task are not here.
    pub by_task: BTreeMap<String, Totals>,
    /// Calendar days in the time zone given to [`totals`].
    pub by_day: BTreeMap<NaiveDate, Totals>,
    /// Every currency seen; costs in different currencies are only comparable when this has
    /// one entry.
    pub currencies: Vec<String>,
}

/// Totals of the records, with days counted in `tz`.
pub fn totals<'a>(records: impl IntoIterator<Item = &'a UsageRecord>, tz: Tz) -> UsageTotals {
    let mut t = UsageTotals::default();
    for r in records {
        let u = &r.usage;
        t.all.add(u);
        t.by_model.entry(u.model.clone()).or_default().add(u);
        t.by_agent.entry(u.agent.clone()).or_default().add(u);
        if let Some(task) = &u.task {
            t.by_task.entry(task.clone()).or_default().add(u);
        }
        t.by_day.entry(r.at.with_timezone(&tz).date_naive()).or_default().add(u);
        if !t.currencies.contains(&u.currency) {
            t.currencies.push(u.currency.clone());
        }
    }
    t.currencies.sort();
    t
}

/// Records stamped from local midnight of today (in `tz`) up to `now`.
pub fn today(records: &[UsageRecord], now: DateTime<Utc>, tz: Tz) -> impl Iterator<Item = &UsageRecord> {
    let start = window_start(Duration::from_secs(DAY_SECS), now, tz);
    records.iter().filter(move |r| r.at >= start && r.at <= now)
}

const DAY_SECS: u64 = 24 * 3600;

/// Where a window ending at `now` starts: local midnight `n - 1` days back for a window of
/// `n` whole days, `now - window` otherwise.
pub fn window_start(window: Duration, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let secs = window.as_secs();
    if secs > 0 && secs.is_multiple_of(DAY_SECS) && window.subsec_nanos() == 0 {
        let today = now.with_timezone(&tz).date_naive();
        if let Some(first) = today.checked_sub_days(Days::new(secs / DAY_SECS - 1))
            && let Some(start) = local_day_start(first, tz)
        {
            return start;
        }
        return DateTime::<Utc>::MIN_UTC;
    }
    chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The first instant of a local day. Where a daylight-saving change skips midnight, the day
/// starts at the first local hour that exists.
fn local_day_start(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    (0..24).find_map(|hour| {
        let local = day.and_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
    })
}

/// Whether a record counts toward a budget of this scope.
pub fn in_scope(scope: &BudgetScope, usage: &UsageRecorded) -> bool {
    match scope {
        BudgetScope::All => true,
        BudgetScope::Agent(id) => usage.agent == *id,
        BudgetScope::Routine(id) => usage.routine.as_deref() == Some(id.as_str()),
        BudgetScope::Model(pattern) => glob_match(pattern, &usage.model),
    }
}

/// A cost as people read it: cents above 1, four decimals below, no trailing zeros (and no
/// `-0`).
pub fn money(amount: f64) -> String {
    if amount == 0.0 {
        return "0".to_string();
    }
    let text = if amount.abs() >= 1.0 { format!("{amount:.2}") } else { format!("{amount:.4}") };
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// What the budget has spent in its window ending at `now`, in its currency.
pub fn spent(budget: &Budget, usage: &[UsageRecord], now: DateTime<Utc>, tz: Tz) -> f64 {
    let start = window_start(budget.window, now, tz);
    let sum = usage
        .iter()
        .filter(|r| r.at >= start && r.at <= now)
        .filter(|r| r.usage.currency == budget.currency && in_scope(&budget.scope, &r.usage))
        .map(|r| r.usage.estimated_cost)
        .sum();
    round6(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::testing::config;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    fn record(
        when: &str,
        model: &str,
        agent: &str,
        routine: Option<&str>,
        cost: f64,
        currency: &str,
    ) -> UsageRecord {
        UsageRecord {
            at: at(when),
            usage: UsageRecorded {
                model: model.into(),
                agent: agent.into(),
                task: Some("t1".into()).filter(|_| agent == "backend"),
                routine: routine.map(str::to_string),
                input_tokens: 100,
                output_tokens: 10,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                total_tokens: 110,
                estimated_cost: cost,
                currency: currency.into(),
                priced: cost > 0.0,
            },
        }
    }

    #[test]
    fn example_prices() {
        let c = config("", None);
        let large = price_for(&c.prices, "example-large-2").expect("large");
        assert_eq!(large.id, "large-model");
        assert_eq!(cost(large, 1_000_000, 0, 0, 0), 3.0);
        assert_eq!(cost(large, 0, 1_000_000, 0, 0), 15.0);
        assert_eq!(cost(large, 0, 0, 1_000_000, 1_000_000), 4.05);
        assert_eq!(cost(large, 1200, 300, 0, 0), 0.0081);
        let small = price_for(&c.prices, "example-small-1").expect("small");
        assert_eq!(cost(small, 2_000_000, 1_000_000, 5_000, 5_000), 1.75);
        assert!(price_for(&c.prices, "other-model").is_none());
    }

    #[test]
    fn the_most_specific_price_wins() {
        let price = |id: &str, model: &str| Price {
            id: id.into(),
            model: model.into(),
            input_per_mtok: 1.0,
            output_per_mtok: 1.0,
            cache_read_per_mtok: 0.0,
            cache_write_per_mtok: 0.0,
            currency: "USD".into(),
        };
        let prices =
            [price("any", "*"), price("large", "example-large-*"), price("exact", "example-large-2")];
        assert_eq!(price_for(&prices, "example-large-2").map(|p| p.id.as_str()), Some("exact"));
        assert_eq!(price_for(&prices, "example-large-3").map(|p| p.id.as_str()), Some("large"));
        assert_eq!(price_for(&prices, "tiny").map(|p| p.id.as_str()), Some("any"));
    }

    #[test]
    fn windows_are_local_days_or_rolling() {
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        let now = at("2026-11-25T10:00:00Z"); // 11:00 in Berlin
        let cases = [
            ("1d", "2026-11-24T23:00:00Z"),
            ("2d", "2026-11-23T23:00:00Z"),
            ("7d", "2026-11-18T23:00:00Z"),
            ("12h", "2026-11-24T22:00:00Z"),
            ("30m", "2026-11-25T09:30:00Z"),
        ];
        for (window, start) in cases {
            let window = humantime::parse_duration(window).expect("duration");
            assert_eq!(window_start(window, now, berlin), at(start), "{window:?}");
        }
        // Across the spring change, the local day still starts at local midnight.
        assert_eq!(
            window_start(Duration::from_secs(DAY_SECS), at("2026-03-29T12:00:00Z"), berlin),
            at("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            window_start(Duration::from_secs(DAY_SECS * 1_000_000_000), now, berlin),
            DateTime::<Utc>::MIN_UTC
        );
    }

    #[test]
    fn budget_spend_by_window_and_scope() {
        let utc = chrono_tz::UTC;
        let now = at("2026-11-25T12:00:00Z");
        let usage = [
            record("2026-11-24T23:59:00Z", "example-large-2", "backend", None, 1.0, "USD"), // yesterday
            record("2026-11-25T00:00:00Z", "example-large-2", "backend", None, 2.0, "USD"),
            record("2026-11-25T08:00:00Z", "example-small-1", "research", Some("digest"), 0.5, "USD"),
            record("2026-11-25T09:00:00Z", "example-small-1", "research", None, 7.0, "EUR"),
            record("2026-11-25T13:00:00Z", "example-large-2", "backend", None, 9.0, "USD"), // future
        ];
        let budget = |scope: BudgetScope, window: u64| Budget {
            id: "b".into(),
            scope,
            window: Duration::from_secs(window),
            warn_at: Some(1.0),
            fail_at: None,
            currency: "USD".into(),
        };
        let cases = [
            (budget(BudgetScope::All, DAY_SECS), 2.5),
            (budget(BudgetScope::All, 2 * DAY_SECS), 3.5),
            (budget(BudgetScope::All, 6 * 3600), 0.5),
            (budget(BudgetScope::Agent("backend".into()), DAY_SECS), 2.0),
            (budget(BudgetScope::Agent("qa".into()), DAY_SECS), 0.0),
            (budget(BudgetScope::Routine("digest".into()), DAY_SECS), 0.5),
            (budget(BudgetScope::Model("example-small-*".into()), DAY_SECS), 0.5),
            (budget(BudgetScope::Model("example-large-2".into()), 2 * DAY_SECS), 3.0),
        ];
        for (b, expected) in cases {
            assert_eq!(spent(&b, &usage, now, utc), expected, "{:?} over {:?}", b.scope, b.window);
        }
        // Days are local: 23:59 UTC on the 24th is already the 25th in Berlin, and the 25th
        // starts at 05:00 UTC in New York.
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        assert_eq!(spent(&budget(BudgetScope::All, DAY_SECS), &usage, now, berlin), 3.5);
        let new_york: Tz = "America/New_York".parse().expect("tz");
        assert_eq!(spent(&budget(BudgetScope::All, DAY_SECS), &usage, now, new_york), 0.5);
    }

    #[test]
    fn totals_by_model_agent_task_and_day() {
        let usage = [
            record("2026-11-24T23:30:00Z", "example-large-2", "backend", None, 1.0, "USD"),
            record("2026-11-25T08:00:00Z", "example-small-1", "research", None, 0.0, "USD"),
            record("2026-11-25T09:00:00Z", "example-large-2", "backend", None, 2.0, "USD"),
        ];
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        let t = totals(&usage, berlin);
        assert_eq!(
            (t.all.records, t.all.total_tokens, t.all.estimated_cost, t.all.unpriced),
            (3, 330, 3.0, 1)
        );
        assert_eq!(t.by_model["example-large-2"].estimated_cost, 3.0);
        assert_eq!(t.by_agent["research"].records, 1);
        assert_eq!(t.by_task["t1"].records, 2);
        // 23:30 UTC on the 24th is already the 25th in Berlin.
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        assert_eq!(t.by_day.keys().copied().collect::<Vec<_>>(), vec![day]);
        assert_eq!(t.currencies, vec!["USD".to_string()]);
        let now = at("2026-11-25T10:00:00Z");
        assert_eq!(today(&usage, now, berlin).count(), 3);
        assert_eq!(today(&usage, now, chrono_tz::UTC).count(), 2);
    }
}
