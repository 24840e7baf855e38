//! The spend safeguard: each model call priced from config, a ledger of
//! what was spent this month, and the check that pauses runs over budget.

use crate::clock::Clock;
use crate::config::{Price, SpendConfig};
use crate::store::{SpendRow, Store};
use cattery_protocol::Millis;
use cattery_protocol::agent::LlmCall;
use cattery_protocol::wire::SpendReport;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub struct Spend {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    config: RwLock<SpendConfig>,
    /// Month-to-date total, with the month it is for.
    month: Mutex<Option<(String, f64)>>,
    unpriced_calls: AtomicU64,
    /// Models already warned about, so the log says it once each.
    warned: Mutex<HashSet<String>>,
}

/// Where a call happened, for the ledger.
pub struct CallSite<'a> {
    pub job_id: &'a str,
    pub call_no: u64,
    pub run_id: &'a str,
    pub step_index: usize,
}

impl Spend {
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            config: RwLock::new(SpendConfig::default()),
            month: Mutex::new(None),
            unpriced_calls: AtomicU64::new(0),
            warned: Mutex::new(HashSet::new()),
        }
    }

    pub fn configure(&self, config: SpendConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    pub fn currency(&self) -> String {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .currency
            .clone()
    }

    fn config(&self) -> SpendConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The call's cost, or `None` when its model has no price (unknown, never zero).
    pub fn price(&self, call: &LlmCall) -> Option<f64> {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        config
            .prices
            .get(&call.model)
            .map(|price| cost(price, call))
    }

    /// Prices a call and records it in the ledger; returns its cost. The
    /// ledger write runs off the async workers: it waits for the writer
    /// connection, which a group commit may hold for milliseconds, and a
    /// worker parked on that lock stalls every session and driver queued on it.
    pub async fn record(&self, site: &CallSite<'_>, call: &LlmCall) -> Option<f64> {
        let Some(cost) = self.price(call) else {
            self.unpriced(&call.model);
            return None;
        };
        let now = self.clock.now();
        let row = SpendRow {
            job_id: site.job_id.to_owned(),
            call_no: site.call_no,
            at: now,
            month: month_of(now),
            run_id: site.run_id.to_owned(),
            step_index: site.step_index,
            model: call.model.clone(),
            cost,
            currency: self.config().currency,
        };
        let store = Arc::clone(&self.store);
        let (month, model) = (row.month.clone(), row.model.clone());
        let recorded = tokio::task::spawn_blocking(move || store.record_spend(&row)).await;
        match recorded {
            Ok(Ok(true)) => self.add(&month, cost),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::error!("cannot record spend for {model}: {e}"),
            Err(e) => tracing::error!("the spend ledger write for {model} did not finish: {e}"),
        }
        Some(cost)
    }

    fn unpriced(&self, model: &str) {
        self.unpriced_calls.fetch_add(1, Ordering::Relaxed);
        let first = self
            .warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(model.to_owned());
        if first {
            tracing::warn!(
                model,
                "no price for this model, so its calls' cost is unknown and not counted; add [prices.\"{model}\"] to config.toml"
            );
        }
    }

    fn add(&self, month: &str, cost: f64) {
        let mut cached = self.month.lock().unwrap_or_else(|p| p.into_inner());
        match cached.as_mut() {
            Some((m, total)) if m == month => *total += cost,
            // A new month, or nothing read yet: the next read sums the ledger.
            _ => *cached = None,
        }
    }

    /// Month-to-date spend, from the ledger once per month and kept current after.
    pub fn spent(&self) -> f64 {
        let month = month_of(self.clock.now());
        let mut cached = self.month.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, total)) = cached.as_ref().filter(|(m, _)| *m == month) {
            return *total;
        }
        match self.store.spent_in(&month) {
            Ok(total) => {
                *cached = Some((month, total));
                total
            }
            Err(e) => {
                tracing::error!("cannot read this month's spend: {e}");
                0.0
            }
        }
    }

    pub fn over_budget(&self) -> bool {
        let budget = self
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .monthly_budget;
        self.spent() >= budget
    }

    pub fn report(&self) -> SpendReport {
        let config = self.config();
        let spent = self.spent();
        SpendReport {
            month: month_of(self.clock.now()),
            spent,
            budget: config.monthly_budget,
            currency: config.currency,
            unpriced_calls: self.unpriced_calls.load(Ordering::Relaxed),
            over_budget: spent >= config.monthly_budget,
        }
    }
}

fn cost(price: &Price, call: &LlmCall) -> f64 {
    let prompt = (call.prompt_tokens + call.cache_read_tokens + call.cache_write_tokens) as f64;
    (prompt * price.prompt_per_million
        + call.completion_tokens as f64 * price.completion_per_million)
        / 1_000_000.0
}

/// `YYYY-MM` of a UTC timestamp (civil-from-days, no calendar crate needed).
pub fn month_of(at: Millis) -> String {
    let days = at.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(month_of(1_700_000_000_000), "2023-11");
        // 2024-02-29T23:59:59Z and one second later.
        assert_eq!(month_of(1_709_251_199_000), "2024-02");
        assert_eq!(month_of(1_709_251_200_000), "2024-03");
        assert_eq!(month_of(1_735_689_600_000), "2025-01");
    }

    #[test]
    fn a_call_costs_its_tokens_at_the_per_million_price() {
        let price = Price {
            prompt_per_million: 3.0,
            completion_per_million: 15.0,
        };
        let call: LlmCall = serde_json::from_value(serde_json::json!({
            "model": "m", "prompt_tokens": 1000, "cache_read_tokens": 1000,
            "completion_tokens": 2000, "finish_reason": "stop"
        }))
        .unwrap();
        assert!((cost(&price, &call) - 0.036).abs() < 1e-12);
    }
}
