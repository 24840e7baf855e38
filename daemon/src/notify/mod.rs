//! Attention: the cards a human needs to see, kept in SQLite beside the runs
//! that raise them, escalated by age, and delivered to the desktop.

pub mod deliver;
pub mod rules;

use crate::clock::Clock;
use crate::clock::IdGen;
use crate::events::EventSink;
use crate::store::{CardChange, CardOp, NewCard, Store, StoreError};
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

/// Open cards by block, then kind.
type OpenCards = HashMap<String, HashMap<NotificationType, Notification>>;

pub struct Attention {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    events: Arc<dyn EventSink>,
    settings: RwLock<NotifySettings>,
    /// Open cards by block and kind, so the common commit (a running run
    /// with no card) costs no SQL. `None` when it could not be loaded: then
    /// every commit asks the store.
    open: Mutex<Option<OpenCards>>,
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
            Ok(cards) => {
                let mut open = OpenCards::new();
                for card in cards {
                    open.entry(card.block_id.clone())
                        .or_default()
                        .insert(card.kind, card);
                }
                Some(open)
            }
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
        self.on_runs(std::slice::from_ref(run));
    }

    /// Like [`Attention::on_run`] for a burst: only each block's latest run
    /// counts, and every change goes into one transaction.
    pub fn on_runs<R: std::borrow::Borrow<Run>>(&self, runs: &[R]) {
        let mut latest: Vec<&Run> = Vec::new();
        for run in runs.iter().rev().map(|r| r.borrow()) {
            if !latest.iter().any(|r| r.block_id == run.block_id) {
                latest.push(run);
            }
        }
        latest.reverse();
        let ops: Vec<CardOp> = latest.iter().flat_map(|run| self.ops_for(run)).collect();
        if ops.is_empty() {
            return;
        }
        match self.store.apply_cards(&ops, self.clock.now()) {
            Ok(changes) => changes.into_iter().for_each(|change| match change {
                CardChange::New(card) => self.changed(card, true),
                CardChange::Updated(card) | CardChange::Closed(card) => self.changed(card, false),
            }),
            Err(e) => tracing::error!("cannot update notification cards: {e}"),
        }
    }

    /// False for the common commit, a running run whose block has no open
    /// card: one lookup, no SQL, nothing to hand to the card thread.
    pub fn has_work(&self, run: &Run) -> bool {
        rules::wanted_kind(run).is_some() || !self.nothing_open(&run.block_id)
    }

    /// What a run asks of its block's cards, skipping what the open cards
    /// already say.
    fn ops_for(&self, run: &Run) -> Vec<CardOp> {
        if !self.has_work(run) {
            return Vec::new();
        }
        let mut ops = Vec::new();
        let stale: Vec<NotificationType> = rules::stale_kinds(run)
            .into_iter()
            .filter(|kind| self.maybe_open(&run.block_id, *kind))
            .collect();
        if !stale.is_empty() {
            ops.push(CardOp::Close {
                block_id: run.block_id.clone(),
                kinds: stale,
            });
        }
        ops.extend(self.raise_op(run).map(CardOp::Raise));
        ops
    }

    fn raise_op(&self, run: &Run) -> Option<NewCard> {
        rules::wanted_kind(run)?;
        let title = match self.store.block(&run.block_id) {
            Ok(block) => block.map_or_else(|| run.block_id.clone(), |b| b.title),
            Err(e) => {
                tracing::warn!(block = %run.block_id, "cannot read the block's title for its card: {e}");
                run.block_id.clone()
            }
        };
        let draft = rules::card_for(run, &title)?;
        let unchanged = self.cached(&run.block_id, draft.kind).is_some_and(|open| {
            open.title == draft.title
                && open.body == draft.body
                && open.payload == draft.payload
                && open.run_id.as_deref() == Some(run.id.as_str())
        });
        (!unchanged).then(|| NewCard {
            id: self.ids.mint("ntf"),
            kind: draft.kind,
            block_id: run.block_id.clone(),
            run_id: Some(run.id.clone()),
            title: draft.title,
            body: draft.body,
            payload: draft.payload,
        })
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
        let waiting = card.kind.is_waiting();
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
        if card.status == NotificationStatus::Open {
            open.entry(card.block_id.clone())
                .or_default()
                .insert(card.kind, card.clone());
            return;
        }
        if let Some(kinds) = open.get_mut(&card.block_id) {
            if kinds.get(&card.kind).is_some_and(|c| c.id == card.id) {
                kinds.remove(&card.kind);
            }
            if kinds.is_empty() {
                open.remove(&card.block_id);
            }
        }
    }

    fn cached(&self, block_id: &str, kind: NotificationType) -> Option<Notification> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.as_ref()?.get(block_id)?.get(&kind).cloned()
    }

    /// False only when the cache is trusted and holds no such card.
    fn maybe_open(&self, block_id: &str, kind: NotificationType) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.as_ref() {
            Some(open) => open
                .get(block_id)
                .is_some_and(|kinds| kinds.contains_key(&kind)),
            None => true,
        }
    }

    /// True when a running run's block has no open card: nothing to do.
    fn nothing_open(&self, block_id: &str) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.as_ref()
            .is_some_and(|open| !open.contains_key(block_id))
    }
}

/// Runs the escalation sweep at start and then every so often; the sweep
/// reads stored timestamps, so the period only bounds how late it can be.
pub async fn escalate_periodically(attention: Arc<Attention>) {
    loop {
        if let Err(e) = attention.sweep() {
            tracing::error!("the escalation sweep failed; trying again later: {e}");
        }
        let quarter = attention.settings().escalate_after_ms / 4;
        let period = quarter.clamp(1_000, 30_000) as u64;
        tokio::time::sleep(std::time::Duration::from_millis(period)).await;
    }
}

#[cfg(test)]
mod tests;

/// Hands committed runs to a thread of their own for card bookkeeping, so
/// the SQL a card needs never blocks the engine's async workers or waits
/// there behind a group commit. Cards follow their run within
/// milliseconds; a crash in between is healed by `resume_all`.
pub struct CardQueue {
    sender: Mutex<std::sync::mpsc::Sender<Arc<Run>>>,
}

impl CardQueue {
    pub fn start(attention: Arc<Attention>) -> Self {
        let (sender, receiver) = std::sync::mpsc::channel::<Arc<Run>>();
        let spawned = std::thread::Builder::new()
            .name("cattery-cards".to_owned())
            .spawn(move || {
                // Ends when the daemon (the only sender) is dropped.
                while let Ok(first) = receiver.recv() {
                    let mut burst = vec![first];
                    burst.extend(receiver.try_iter());
                    attention.on_runs(&burst);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(
                "cannot start the card thread; cards are reconciled at the next start: {e}"
            );
        }
        Self {
            sender: Mutex::new(sender),
        }
    }

    pub fn push(&self, run: Arc<Run>) {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        if sender.send(run).is_err() {
            tracing::warn!("the card thread is gone; cards are reconciled at the next start");
        }
    }
}
