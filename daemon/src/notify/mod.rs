//! Attention: the cards a human needs to see, kept in SQLite beside the runs
//! that raise them, escalated by age, and delivered to the desktop.

pub mod deliver;
pub mod rules;

use crate::clock::Clock;
use crate::engine::IdGen;
use crate::events::EventSink;
use crate::store::{NewCard, Raised, Store, StoreError};
use cattery_protocol::event::Event;
use cattery_protocol::{Notification, NotificationStatus, NotificationType, Run};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// How attention behaves; from `[notify]` in config.toml.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// Open normal cards older than this become urgent.
    pub escalate_after_ms: i64,
    /// Tell the desktop as soon as a gate starts waiting, not only on escalation.
    pub on_new_gate: bool,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            escalate_after_ms: 120 * 60_000,
            on_new_gate: true,
        }
    }
}

/// Why a card is worth a desktop notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Alert {
    NewGate(Notification),
    Escalated(Notification),
}

type OpenKey = (String, NotificationType);

pub struct Attention {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    events: Arc<dyn EventSink>,
    settings: RwLock<NotifySettings>,
    /// Open cards by block and kind, so the common commit (a running run
    /// with no card) costs no SQL. `None` when it could not be loaded: then
    /// every commit asks the store.
    open: Mutex<Option<HashMap<OpenKey, Notification>>>,
    alerts: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Alert>>>,
}

impl Attention {
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        events: Arc<dyn EventSink>,
    ) -> Self {
        let open = match store.notifications(false) {
            Ok(cards) => Some(
                cards
                    .into_iter()
                    .map(|c| ((c.block_id.clone(), c.kind), c))
                    .collect(),
            ),
            Err(e) => {
                tracing::error!(
                    "cannot load open notifications, checking the store on every change: {e}"
                );
                None
            }
        };
        Self {
            store,
            clock,
            ids,
            events,
            settings: RwLock::new(NotifySettings::default()),
            open: Mutex::new(open),
            alerts: Mutex::new(None),
        }
    }

    pub fn configure(&self, settings: NotifySettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    pub fn settings(&self) -> NotifySettings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Where alerts go (the desktop deliverer); none are sent before this.
    pub fn send_alerts_to(&self, sender: tokio::sync::mpsc::UnboundedSender<Alert>) {
        *self.alerts.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    }

    /// Brings the block's cards in line with a committed run. A failure is
    /// logged and never fails the run's own write: cards are reconciled
    /// again at the next change and at every start.
    pub fn on_run(&self, run: &Run) {
        if let Err(e) = self.reconcile(run) {
            tracing::error!(run = %run.id, "cannot update the run's notification cards: {e}");
        }
    }

    fn reconcile(&self, run: &Run) -> Result<(), StoreError> {
        let now = self.clock.now();
        let stale: Vec<NotificationType> = rules::stale_kinds(run)
            .into_iter()
            .filter(|kind| self.maybe_open(&run.block_id, *kind))
            .collect();
        if !stale.is_empty() {
            let closed =
                self.store
                    .close_open(&run.block_id, &stale, NotificationStatus::Acted, now)?;
            closed
                .into_iter()
                .for_each(|card| self.changed(card, false));
        }
        if rules::wanted_kind(run).is_some() {
            self.raise(run, now)?;
        }
        Ok(())
    }

    fn raise(&self, run: &Run, now: i64) -> Result<(), StoreError> {
        let title = self
            .store
            .block(&run.block_id)?
            .map_or_else(|| run.block_id.clone(), |b| b.title);
        let Some(draft) = rules::plan(run, &title).raise else {
            return Ok(());
        };
        let unchanged = self.cached(&run.block_id, draft.kind).is_some_and(|open| {
            open.title == draft.title
                && open.body == draft.body
                && open.payload == draft.payload
                && open.run_id.as_deref() == Some(run.id.as_str())
        });
        if unchanged {
            return Ok(());
        }
        let card = NewCard {
            id: self.ids.mint("ntf"),
            kind: draft.kind,
            block_id: run.block_id.clone(),
            run_id: Some(run.id.clone()),
            title: draft.title,
            body: draft.body,
            payload: draft.payload,
        };
        match self.store.raise(&card, now)? {
            Raised::New(card) => self.changed(card, true),
            Raised::Again(card) => self.changed(card, false),
        }
        Ok(())
    }

    /// Marks an open card handled (`act`) or closes it unread (`dismiss`).
    pub fn resolve(
        &self,
        id: &str,
        status: NotificationStatus,
    ) -> Result<Notification, StoreError> {
        let card = self.store.resolve_card(id, status, self.clock.now())?;
        self.changed(card.clone(), false);
        Ok(card)
    }

    /// Escalates open normal cards older than the threshold; works from
    /// stored timestamps, so a restart loses nothing. Returns what changed.
    pub fn sweep(&self) -> Result<Vec<Notification>, StoreError> {
        let now = self.clock.now();
        let cutoff = now - self.settings().escalate_after_ms;
        let escalated = self.store.escalate(cutoff, now)?;
        for card in &escalated {
            self.changed(card.clone(), false);
            self.alert(Alert::Escalated(card.clone()));
        }
        Ok(escalated)
    }

    pub fn open_cards(&self) -> Result<Vec<Notification>, StoreError> {
        self.store.notifications(false)
    }

    fn changed(&self, card: Notification, new: bool) {
        self.remember(&card);
        self.events
            .publish(Event::Notification { card: card.clone() });
        let waiting = rules::WAITING.contains(&card.kind);
        if new && waiting && self.settings().on_new_gate {
            self.alert(Alert::NewGate(card));
        }
    }

    fn alert(&self, alert: Alert) {
        if let Some(sender) = self
            .alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = sender.send(alert);
        }
    }

    fn remember(&self, card: &Notification) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let Some(open) = open.as_mut() else {
            return;
        };
        let key = (card.block_id.clone(), card.kind);
        if card.status == NotificationStatus::Open {
            open.insert(key, card.clone());
        } else if open.get(&key).is_some_and(|c| c.id == card.id) {
            open.remove(&key);
        }
    }

    fn cached(&self, block_id: &str, kind: NotificationType) -> Option<Notification> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.as_ref()?.get(&(block_id.to_owned(), kind)).cloned()
    }

    /// False only when the cache is trusted and holds no such card.
    fn maybe_open(&self, block_id: &str, kind: NotificationType) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.as_ref() {
            Some(open) => open.contains_key(&(block_id.to_owned(), kind)),
            None => true,
        }
    }
}

/// Runs the escalation sweep at start and then every so often; the sweep
/// reads stored timestamps, so the period only bounds how late it can be.
pub async fn escalate_periodically(daemon: Arc<crate::service::Daemon>) {
    loop {
        if let Err(e) = daemon.attention.sweep() {
            tracing::error!("the escalation sweep failed; trying again later: {e}");
        }
        let quarter = daemon.attention.settings().escalate_after_ms / 4;
        let period = quarter.clamp(1_000, 30_000) as u64;
        tokio::time::sleep(std::time::Duration::from_millis(period)).await;
    }
}

#[cfg(test)]
mod tests;
