//! Getting alerts to a human: the desktop notification server, else a
//! configured command, else the terminal bell in attached clients. Bursts
//! are coalesced into one summary and deliveries are rate limited. Every
//! send runs off the engine's path under a timeout, because a server that
//! takes a call and never answers would otherwise hold it forever.

use super::Alert;
use crate::config::NotifyConfig;
use crate::events::EventSink;
use cattery_protocol::event::Event;
use cattery_protocol::{Notification, Severity};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// What one delivery says.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub title: String,
    pub body: String,
    pub urgent: bool,
    pub cards: Vec<Notification>,
}

/// A way to reach the user (the OS seam). `send` blocks; the deliverer
/// runs it on a blocking thread under a timeout.
pub trait Channel: Send + Sync {
    fn name(&self) -> String;
    fn send(&self, message: &Message) -> Result<(), String>;
}

/// The freedesktop notification server on the session bus, via notify-rust.
pub struct Desktop;

impl Channel for Desktop {
    fn name(&self) -> String {
        "the desktop notification server".to_owned()
    }

    fn send(&self, message: &Message) -> Result<(), String> {
        let urgency = match message.urgent {
            true => notify_rust::Urgency::Critical,
            false => notify_rust::Urgency::Normal,
        };
        notify_rust::Notification::new()
            .appname("cattery")
            .summary(&message.title)
            .body(&message.body)
            .urgency(urgency)
            .show()
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// `notify_command`: the card (or, for a summary, the list of cards) as
/// JSON on stdin. Killed when it outlives `timeout`, so a hung command
/// holds no thread and no shutdown.
pub struct Command {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl Channel for Command {
    fn name(&self) -> String {
        format!("notify_command `{}`", self.argv.join(" "))
    }

    fn send(&self, message: &Message) -> Result<(), String> {
        use std::io::Write;
        let (program, args) = self.argv.split_first().ok_or("notify_command is empty")?;
        let json = match message.cards.as_slice() {
            [card] => serde_json::to_string(card),
            cards => serde_json::to_string(cards),
        }
        .map_err(|e| e.to_string())?;
        let mut child =
            crate::children::blocking_command(program, crate::children::Purpose::Notify)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run it: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(json.as_bytes())
                .map_err(|e| format!("cannot write the card to it: {e}"))?;
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match child.try_wait().map_err(|e| e.to_string())? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(format!("it exited with {status}")),
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("it ran past {:?} and was killed", self.timeout));
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

pub struct Deliverer {
    pub config: NotifyConfig,
    pub desktop: Option<Arc<dyn Channel>>,
    pub command: Option<Arc<dyn Channel>>,
    /// Where the bell goes when nothing else answers.
    pub events: Arc<dyn EventSink>,
}

/// After a desktop send times out, skip the desktop this long rather than
/// pile up threads stuck on a server that does not answer.
const DESKTOP_COOL_OFF: Duration = Duration::from_secs(300);

impl Deliverer {
    pub fn new(config: NotifyConfig, events: Arc<dyn EventSink>) -> Self {
        let desktop: Option<Arc<dyn Channel>> = config.desktop.then(|| Arc::new(Desktop) as _);
        let command: Option<Arc<dyn Channel>> = config.notify_command.clone().map(|argv| {
            let timeout = Duration::from_millis(config.timeout_ms);
            Arc::new(Command { argv, timeout }) as _
        });
        Self {
            config,
            desktop,
            command,
            events,
        }
    }

    /// Delivers alerts until the sender goes away.
    pub async fn run(self, mut alerts: UnboundedReceiver<Alert>) {
        let mut sent: VecDeque<Instant> = VecDeque::new();
        let mut desktop_off_until: Option<Instant> = None;
        while let Some(first) = alerts.recv().await {
            let mut batch = vec![first];
            self.gather(&mut alerts, &mut batch, &mut sent).await;
            let message = summarise(&batch);
            sent.push_back(Instant::now());
            self.deliver(&message, &mut desktop_off_until).await;
        }
    }

    /// Adds what arrives within the coalescing window, and waits out the
    /// rate limit, folding everything that arrives meanwhile into the batch.
    async fn gather(
        &self,
        alerts: &mut UnboundedReceiver<Alert>,
        batch: &mut Vec<Alert>,
        sent: &mut VecDeque<Instant>,
    ) {
        let window = Duration::from_millis(self.config.coalesce_ms);
        let until = hold_until(Instant::now(), sent, window, self.config.max_per_minute);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match tokio::time::timeout(left, alerts.recv()).await {
                Ok(Some(alert)) => batch.push(alert),
                Ok(None) | Err(_) => return,
            }
        }
    }

    async fn deliver(&self, message: &Message, desktop_off_until: &mut Option<Instant>) {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let cooling = desktop_off_until.is_some_and(|t| Instant::now() < t);
        if let Some(desktop) = self.desktop.as_ref().filter(|_| !cooling) {
            match send_with_timeout(Arc::clone(desktop), message.clone(), timeout).await {
                Ok(()) => return,
                Err(Failure::TimedOut) => {
                    *desktop_off_until = Some(Instant::now() + DESKTOP_COOL_OFF);
                    tracing::warn!(
                        "{} did not answer within {timeout:?}; not trying it for {DESKTOP_COOL_OFF:?}",
                        desktop.name()
                    );
                }
                Err(Failure::Failed(why)) => tracing::warn!("{} failed: {why}", desktop.name()),
            }
        }
        if let Some(command) = &self.command {
            match send_with_timeout(Arc::clone(command), message.clone(), timeout).await {
                Ok(()) => return,
                Err(Failure::TimedOut) => {
                    tracing::warn!("{} did not finish within {timeout:?}", command.name())
                }
                Err(Failure::Failed(why)) => tracing::warn!("{} failed: {why}", command.name()),
            }
        }
        tracing::warn!("no notification channel answered; ringing attached clients");
        self.events.publish(Event::Bell {
            title: message.title.clone(),
            body: message.body.clone(),
        });
    }
}

/// When the next delivery may go: after the coalescing window, and not
/// before the oldest of the last `max_per_minute` deliveries is a minute old.
/// Forgets deliveries older than a minute.
fn hold_until(
    now: Instant,
    sent: &mut VecDeque<Instant>,
    window: Duration,
    max_per_minute: u32,
) -> Instant {
    let minute = Duration::from_secs(60);
    while sent
        .front()
        .is_some_and(|at| now.duration_since(*at) >= minute)
    {
        sent.pop_front();
    }
    let after_window = now + window;
    match sent.front() {
        Some(oldest) if sent.len() >= max_per_minute as usize => after_window.max(*oldest + minute),
        _ => after_window,
    }
}

enum Failure {
    TimedOut,
    Failed(String),
}

async fn send_with_timeout(
    channel: Arc<dyn Channel>,
    message: Message,
    timeout: Duration,
) -> Result<(), Failure> {
    let task = tokio::task::spawn_blocking(move || channel.send(&message));
    match tokio::time::timeout(timeout, task).await {
        Err(_) => Err(Failure::TimedOut),
        Ok(Err(join)) => Err(Failure::Failed(format!(
            "the sending thread failed: {join}"
        ))),
        Ok(Ok(result)) => result.map_err(Failure::Failed),
    }
}

/// One alert says itself; several become one summary.
pub fn summarise(batch: &[Alert]) -> Message {
    let cards: Vec<Notification> = batch
        .iter()
        .map(|a| match a {
            Alert::NewGate(card) | Alert::Escalated(card) => card.clone(),
        })
        .collect();
    let urgent = batch.iter().any(|a| match a {
        Alert::Escalated(card) | Alert::NewGate(card) => card.severity == Severity::Urgent,
    });
    if let [card] = cards.as_slice() {
        return Message {
            title: card.title.clone(),
            body: card.body.clone(),
            urgent,
            cards,
        };
    }
    let mut lines: Vec<String> = cards.iter().take(3).map(|c| c.title.clone()).collect();
    if cards.len() > 3 {
        lines.push(format!("and {} more", cards.len() - 3));
    }
    Message {
        title: format!("cattery: {} cards need you", cards.len()),
        body: lines.join("\n"),
        urgent,
        cards,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cattery_protocol::{NotificationStatus, NotificationType};

    fn card(n: usize, severity: Severity) -> Notification {
        Notification {
            id: format!("n_{n}"),
            kind: NotificationType::DecisionRequired,
            status: NotificationStatus::Open,
            severity,
            block_id: "b".into(),
            run_id: None,
            title: format!("Task {n}: approval waiting (architect)"),
            body: "the plan".into(),
            payload: serde_json::Value::Null,
            created_at: 0,
            resolved_at: None,
        }
    }

    #[test]
    fn one_alert_says_itself_and_a_burst_becomes_one_summary() {
        let one = summarise(&[Alert::NewGate(card(1, Severity::Normal))]);
        assert_eq!(one.title, "Task 1: approval waiting (architect)");
        assert_eq!(one.body, "the plan");
        assert!(!one.urgent);
        let burst: Vec<Alert> = (1..=5)
            .map(|n| Alert::NewGate(card(n, Severity::Normal)))
            .collect();
        let mut with_escalation = burst.clone();
        with_escalation.push(Alert::Escalated(card(6, Severity::Urgent)));
        let summary = summarise(&with_escalation);
        assert_eq!(summary.title, "cattery: 6 cards need you");
        assert!(summary.body.ends_with("and 3 more"), "{}", summary.body);
        assert!(summary.urgent, "an escalation makes the summary urgent");
        assert_eq!(summary.cards.len(), 6);
    }

    #[test]
    fn the_rate_limit_holds_a_delivery_until_the_oldest_is_a_minute_old() {
        let start = Instant::now();
        let window = Duration::from_millis(500);
        let mut sent = VecDeque::new();
        assert_eq!(hold_until(start, &mut sent, window, 2), start + window);
        sent.extend([start, start + Duration::from_secs(1)]);
        let later = start + Duration::from_secs(10);
        assert_eq!(
            hold_until(later, &mut sent, window, 2),
            start + Duration::from_secs(60),
            "two in the last minute: wait for the oldest to age out"
        );
        let much_later = start + Duration::from_millis(60_500);
        assert_eq!(
            hold_until(much_later, &mut sent, window, 2),
            much_later + window
        );
        assert_eq!(
            sent.len(),
            1,
            "the delivery older than a minute is forgotten"
        );
    }

    struct Failing;

    impl Channel for Failing {
        fn name(&self) -> String {
            "failing".into()
        }
        fn send(&self, _: &Message) -> Result<(), String> {
            Err("no bus".into())
        }
    }

    #[tokio::test]
    async fn when_every_channel_fails_the_bell_rings_with_the_summary() {
        let bus = Arc::new(crate::events::Bus::new(16));
        let mut events = bus.subscribe();
        let config = NotifyConfig {
            coalesce_ms: 50,
            ..NotifyConfig::default()
        };
        let deliverer = Deliverer {
            config,
            desktop: Some(Arc::new(Failing)),
            command: Some(Arc::new(Failing)),
            events: bus.clone(),
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(deliverer.run(rx));
        tx.send(Alert::NewGate(card(1, Severity::Normal))).unwrap();
        tx.send(Alert::NewGate(card(2, Severity::Normal))).unwrap();
        let rung = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        match &*rung.event {
            Event::Bell { title, .. } => assert_eq!(title, "cattery: 2 cards need you"),
            other => panic!("not a bell: {other:?}"),
        }
        drop(tx);
        task.await.unwrap();
    }
}
