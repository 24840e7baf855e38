//! The daemon's operations: load → pure engine transition → one SQLite
//! transaction → publish. The websocket server calls these, and only these:
//! every read and write of the daemon's state goes through `Daemon`.
//! `drive/` is the part that moves running runs forward.

mod drive;
mod error;
mod health;
mod import;
mod limits;
pub mod ops;
mod reads;
pub mod schedules;
mod wakeups;

pub use reads::Snapshot;

pub use error::ServiceError;

use crate::clock::Clock;
use crate::clock::IdGen;
use crate::config::{Catalog, LimitsConfig, Paths, Settings};
use crate::engine::{self, Cx, Outcome, Transition};
use crate::events::EventSink;
use crate::exec::Executor;
use crate::notify::{Attention, CardQueue, NotifySettings};
use crate::spend::Spend;
use crate::store::{BlockWrite, Commit, NewAudit, RunWrite, Store, StoreError};
use cattery_protocol::Run;
use cattery_protocol::event::{Event, RunPatch};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub type Result<T> = std::result::Result<T, ServiceError>;

/// Runs `attempt` again (a few times) when it lost a compare-and-swap: for
/// operations that name no rev, a concurrent commit by the run's own driver
/// only means acting on the newer copy.
pub(crate) async fn retry_lost_cas<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(ServiceError::Store(StoreError::Conflict { .. })) if tries < 5 => continue,
            other => return other,
        }
    }
}

pub struct Daemon {
    store: Arc<Store>,
    catalog: Catalog,
    paths: Paths,
    executor: Arc<dyn Executor>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    events: Arc<dyn EventSink>,
    /// Attention cards raised and closed as runs change.
    attention: Arc<Attention>,
    cards: CardQueue,
    /// Prices calls, keeps the ledger, and says when runs must pause.
    spend: Arc<Spend>,
    /// The model gateway agents call through, once started.
    gateway: std::sync::OnceLock<crate::gateway::Gateway>,
    /// Set when vendor keys are configured while agents run as processes.
    key_exposure: std::sync::OnceLock<String>,
    /// The agent CLIs the kinds run, as found at start.
    runners: std::sync::RwLock<Vec<cattery_protocol::wire::RunnerFound>>,
    /// Live runs allowed per service frame.
    limits: std::sync::RwLock<LimitsConfig>,
    /// How big jobs' transcripts may grow, and how long they are kept.
    transcripts: std::sync::RwLock<crate::config::TranscriptConfig>,
    /// How `merge = "pr"` opens a pull request (`pr_command`).
    pr_command: std::sync::RwLock<Vec<String>>,
    /// How the merge policy merges a pull request (`pr_merge_command`).
    pr_merge_command: std::sync::RwLock<Vec<String>>,
    /// Who cattery's commits are by (`commit_author`), if not the repository's.
    commit_author: std::sync::RwLock<Option<crate::git::Author>>,
    /// Stop switches of the runs that have a driver task right now.
    drivers: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// Write-through copies of live runs, so a driver's next transition does
    /// not re-read and re-decode what it just wrote. The store stays the
    /// source of truth: every write is still compare-and-swapped there.
    live: Mutex<HashMap<String, Arc<Run>>>,
    /// Ok, or degraded with the reason; see `health.rs`.
    health: health::Shared,
    /// Runs waiting on time (a gate's next probe).
    wakeups: wakeups::Wakeups,
    /// Wakes the schedules' timer when a schedule is added or removed.
    schedule_changed: tokio::sync::Notify,
    /// Held while a schedule fires, so the timer and a run-now cannot both
    /// find a task idle and start it twice.
    firing: tokio::sync::Mutex<()>,
    /// The subnet of the containers' gateway network, held while one
    /// attempt to make it runs, so jobs that find it missing do not all
    /// ask the engine at once.
    gateway_subnet: tokio::sync::Mutex<String>,
}

/// A run write produced by one engine call.
pub(crate) struct Planned {
    pub previous: Option<Arc<Run>>,
    pub transition: Transition,
}

impl Daemon {
    pub fn new(
        store: Store,
        catalog: Catalog,
        paths: Paths,
        executor: Arc<dyn Executor>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        events: Arc<dyn EventSink>,
    ) -> Arc<Self> {
        let store = Arc::new(store);
        let attention = Arc::new(Attention::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            Arc::clone(&ids),
            Arc::clone(&events),
        ));
        let cards = CardQueue::start(Arc::clone(&attention));
        let spend = Arc::new(Spend::new(Arc::clone(&store), Arc::clone(&clock)));
        Arc::new(Self {
            spend,
            gateway: std::sync::OnceLock::new(),
            key_exposure: std::sync::OnceLock::new(),
            runners: std::sync::RwLock::new(Vec::new()),
            limits: std::sync::RwLock::new(LimitsConfig::default()),
            transcripts: std::sync::RwLock::default(),
            pr_command: std::sync::RwLock::new(crate::config::default_pr_command()),
            pr_merge_command: std::sync::RwLock::new(crate::config::default_pr_merge_command()),
            commit_author: std::sync::RwLock::new(None),
            store,
            catalog,
            paths,
            executor,
            clock,
            ids,
            events,
            attention,
            cards,
            drivers: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            health: health::Shared::default(),
            wakeups: wakeups::Wakeups::default(),
            schedule_changed: tokio::sync::Notify::new(),
            firing: tokio::sync::Mutex::new(()),
            gateway_subnet: tokio::sync::Mutex::new(String::new()),
        })
    }

    /// The task that starts runs' drivers when their wake-up is due; the
    /// daemon's boot spawns it once.
    pub fn serve_wakeups(
        self: &Arc<Self>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        drive::serve_wakeups(Arc::clone(self))
    }

    /// Applies config.toml's attention, spend and limit sections.
    pub fn configure(&self, settings: &Settings) {
        self.attention.configure(NotifySettings {
            escalate_after_ms: settings.notify.escalate_after_minutes as i64 * 60_000,
            on_new_gate: settings.notify.on_new_gate,
        });
        self.spend.configure(settings.spend.clone());
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = settings.limits.clone();
        *self.transcripts.write().unwrap_or_else(|p| p.into_inner()) = settings.transcripts.clone();
        *self.pr_command.write().unwrap_or_else(|p| p.into_inner()) = settings.pr_command.clone();
        *self
            .pr_merge_command
            .write()
            .unwrap_or_else(|p| p.into_inner()) = settings.pr_merge_command.clone();
        *self
            .commit_author
            .write()
            .unwrap_or_else(|p| p.into_inner()) = settings.commit_author.clone();
    }

    /// The gateway's base URL as `agent`'s job reaches it: on loopback for
    /// a process or a container on the host's network, on the gateway
    /// network for `network = "gateway"`. A container on `none` or `bridge`
    /// cannot reach it. Empty when no gateway runs (the agent's calls then
    /// fail, saying so); an error says why a container cannot reach it.
    pub(crate) fn gateway_url_for(
        &self,
        agent: &crate::config::AgentDef,
    ) -> std::result::Result<String, String> {
        let Some(gateway) = self.gateway() else {
            return Ok(String::new());
        };
        if !self.executor.in_containers() || agent.limits.network == "host" {
            return Ok(gateway.base_url());
        }
        match agent.limits.network.as_str() {
            "gateway" => gateway.container_url(),
            // Unreachable on purpose: the kind chose no route to the host.
            _ => Ok(gateway.base_url()),
        }
    }

    /// The transcript store, as configured.
    pub(crate) fn transcripts(&self) -> crate::transcript::Transcripts {
        let config = self.transcripts.read().unwrap_or_else(|p| p.into_inner());
        crate::transcript::Transcripts::new(self.paths.transcripts(), config.max_bytes_per_job)
    }

    /// Removes transcripts older than `[transcripts] keep_days`.
    pub(crate) async fn prune_transcripts(&self) {
        let days = self
            .transcripts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keep_days;
        let store = self.transcripts();
        let age = std::time::Duration::from_secs(u64::from(days) * 86_400);
        match tokio::task::spawn_blocking(move || store.prune_older_than(age)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(runs = n, days, "removed transcripts past their age"),
            Ok(Err(e)) => tracing::warn!("cannot prune old transcripts: {e}"),
            Err(e) => tracing::warn!("the transcript prune stopped: {e}"),
        }
    }

    /// Starts the model gateway on a loopback port, with the Anthropic key
    /// if one is set; calls are refused once the month's budget is spent.
    /// A process agent runs as the daemon's user, so it can read what that
    /// user can: said at start and in `daemon status` whenever the keys are
    /// configured on the process executor.
    fn note_key_exposure(&self, keys: &crate::gateway::secrets::Keys) {
        let keyed = keys.anthropic.is_some() || keys.openai.is_some();
        if !keyed || self.executor.name() != "process" {
            return;
        }
        let warning = "agents run as processes under your user, and such a process can read what you can: config/secrets.toml, data/token and catteryd's own environment, so the vendor keys are within its reach; run agents you do not trust with executor = \"docker\"".to_owned();
        tracing::warn!("{warning}");
        let _ = self.key_exposure.set(warning);
    }

    /// What the daemon warns about while it runs.
    pub fn warnings(&self) -> Vec<String> {
        self.key_exposure.get().cloned().into_iter().collect()
    }

    pub fn start_gateway(
        &self,
        settings: &Settings,
        keys: crate::gateway::secrets::Keys,
        tls: rustls::ClientConfig,
    ) -> std::io::Result<()> {
        let spend = Arc::clone(&self.spend);
        let refuse: crate::gateway::Refuse = Arc::new(move || {
            let report = spend.report();
            report.over_budget.then(|| {
                format!(
                    "this month's budget of {:.2} {} is spent ({:.2} so far); raise [spend] monthly_budget in config.toml, then resume the paused runs",
                    report.budget, report.currency, report.spent
                )
            })
        });
        self.note_key_exposure(&keys);
        let upstreams = crate::gateway::Upstreams {
            anthropic: crate::gateway::Upstream {
                base: settings.anthropic_url.clone(),
                api_key: keys.anthropic,
            },
            openai: crate::gateway::Upstream {
                base: settings.openai_url.clone(),
                api_key: keys.openai,
            },
        };
        let keeper = crate::gateway::Keeper::at(&self.paths.gateway_kept());
        let gateway = crate::gateway::Gateway::start_kept(upstreams, tls, refuse, keeper)?;
        tracing::info!(url = gateway.base_url(), "the model gateway listens");
        let _ = self.gateway.set(gateway);
        Ok(())
    }

    /// Where agents reach the gateway, for `daemon status`.
    pub fn gateway_status(&self) -> Option<cattery_protocol::wire::GatewayStatus> {
        let gateway = self.gateway()?;
        let (container_url, container_problem) = match self.executor.in_containers() {
            true => match gateway.container_url() {
                Ok(url) => (Some(url), None),
                Err(why) => (None, Some(why)),
            },
            false => (None, None),
        };
        Some(cattery_protocol::wire::GatewayStatus {
            url: gateway.base_url(),
            container_url,
            container_problem,
        })
    }

    /// Makes the executor's gateway network on `subnet`, if it has one,
    /// and has the gateway listen on it too; a failure is kept for the
    /// jobs that need the network, and logged.
    pub async fn connect_gateway_network(&self, subnet: &str) {
        *self.gateway_subnet.lock().await = subnet.to_owned();
        // Short: the API does not listen until this returns.
        if let Err(why) = self.make_gateway_network(Duration::from_secs(10)).await {
            tracing::warn!("containers cannot reach the gateway yet: {why}");
        }
    }

    /// Where `agent`'s container reaches the gateway ([`Self::gateway_url_for`]);
    /// a network not made at start (an engine that was slow or not yet up)
    /// is tried once more first, so a job does not fail for a passing fault.
    pub(crate) async fn gateway_url_now(
        &self,
        agent: &crate::config::AgentDef,
    ) -> std::result::Result<String, String> {
        match self.gateway_url_for(agent) {
            Ok(url) => Ok(url),
            Err(_) => {
                self.make_gateway_network(Duration::from_secs(30)).await?;
                self.gateway_url_for(agent)
            }
        }
    }

    /// One attempt, at most one at a time, given `within`.
    async fn make_gateway_network(&self, within: Duration) -> std::result::Result<(), String> {
        let Some(gateway) = self.gateway() else {
            return Ok(());
        };
        if !self.executor.in_containers() {
            return Ok(());
        }
        let subnet = self.gateway_subnet.lock().await;
        if gateway.container_url().is_ok() {
            return Ok(());
        }
        let made = match self.relay_spec(&subnet) {
            Ok(relay) => tokio::time::timeout(within, self.executor.gateway_network(relay))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "the Docker engine did not make the network within {} s",
                        within.as_secs()
                    ))
                }),
            Err(why) => Err(why),
        };
        match made {
            Ok(None) => Ok(()),
            Ok(Some(address)) => {
                gateway.reach_containers(Ok(address));
                let url = gateway.container_url()?;
                tracing::info!(url, "containers reach the gateway through the relay");
                Ok(())
            }
            Err(why) => {
                gateway.reach_containers(Err(why.clone()));
                Err(why)
            }
        }
    }

    /// The relay for `subnet`, with the gateway listening on its socket;
    /// it may run in any image of a kind on the gateway network.
    fn relay_spec(
        &self,
        subnet: &str,
    ) -> std::result::Result<crate::exec::relay::RelaySpec, String> {
        let socket = self.paths.gateway_socket();
        if let Some(gateway) = self.gateway() {
            gateway
                .listen_on_socket(&socket)
                .map_err(|e| format!("the gateway cannot listen on {}: {e}", socket.display()))?;
        }
        let mut images: Vec<String> = self
            .catalog
            .agents
            .values()
            .filter(|a| a.limits.network == "gateway")
            .filter_map(|a| a.image.clone())
            .collect();
        images.sort();
        images.dedup();
        Ok(crate::exec::relay::RelaySpec {
            subnet: subnet.to_owned(),
            socket,
            images,
        })
    }

    /// At a clean stop: the relay goes if no job container needs it.
    pub async fn release_gateway_network(&self) {
        self.executor.release_gateway_network().await;
    }

    /// Looks for each agent CLI the kinds run (`BINARY --version`, within
    /// 10 s), off the start-up path; `cattery daemon status` shows what it found.
    pub fn probe_runners(self: &Arc<Self>) {
        let wanted = crate::runner::wanted(&self.catalog);
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            let mut found = Vec::new();
            for (runner, binary, kinds) in wanted {
                found.push(crate::runner::probe(runner, &binary, kinds).await);
            }
            *daemon.runners.write().unwrap_or_else(|p| p.into_inner()) = found;
        });
    }

    pub fn runners(&self) -> Vec<cattery_protocol::wire::RunnerFound> {
        self.runners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn gateway(&self) -> Option<&crate::gateway::Gateway> {
        self.gateway.get()
    }

    pub(crate) fn commit_author(&self) -> Option<crate::git::Author> {
        self.commit_author
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn pr_merge_command(&self) -> Vec<String> {
        self.pr_merge_command
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn pr_command(&self) -> Vec<String> {
        self.pr_command
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn limits(&self) -> LimitsConfig {
        self.limits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn run(&self, id: &str) -> Result<Arc<Run>> {
        if let Some(run) = self.live.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Arc::clone(run));
        }
        let run = self.store.run(id)?;
        run.map(Arc::new)
            .ok_or_else(|| ServiceError::not_found("run", id, "list runs to see their ids"))
    }

    fn remember(&self, stored: &[Arc<Run>]) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for run in stored {
            if !run.status.is_live() {
                live.remove(&run.id);
                continue;
            }
            // Two commits may finish in either order; keep the newer one.
            let newer = live.get(&run.id).is_none_or(|cached| cached.rev < run.rev);
            if newer {
                live.insert(run.id.clone(), Arc::clone(run));
            }
        }
    }

    pub(crate) fn cx<'a>(&'a self, actor: &'a str) -> Cx<'a> {
        Cx {
            now: self.clock.now(),
            ids: &*self.ids,
            actor,
        }
    }

    /// Loads a run, applies one engine function, and commits the result.
    pub(crate) async fn transact<F>(
        &self,
        run_id: &str,
        actor: &str,
        audit: Option<NewAudit>,
        change: F,
    ) -> Result<(Arc<Run>, Outcome)>
    where
        F: FnOnce(&Run, &Cx) -> std::result::Result<Transition, engine::EngineError>,
    {
        let run = self.run(run_id)?;
        let cx = self.cx(actor);
        let transition = change(&run, &cx)?;
        let outcome = transition.outcome.clone();
        let planned = vec![Planned {
            previous: Some(run),
            transition,
        }];
        let stored = self.commit(planned, audit).await?;
        let run = stored.into_iter().next().ok_or_else(|| {
            ServiceError::Invalid("the store returned no run for a write".to_owned())
        })?;
        Ok((run, outcome))
    }

    /// Like [`Daemon::transact`] for operations that name no rev (stop,
    /// cancel): a driver committing at the same moment is not the user's
    /// concern, so a lost compare-and-swap is retried on the newer run.
    pub(crate) async fn transact_latest<F>(
        &self,
        run_id: &str,
        actor: &str,
        change: F,
    ) -> Result<(Arc<Run>, Outcome)>
    where
        F: Fn(&Run, &Cx) -> std::result::Result<Transition, engine::EngineError>,
    {
        retry_lost_cas(|| self.transact(run_id, actor, None, &change)).await
    }

    /// Writes planned transitions atomically (the first one owns the block),
    /// then publishes what changed.
    pub(crate) async fn commit(
        &self,
        planned: Vec<Planned>,
        audit: Option<NewAudit>,
    ) -> Result<Vec<Arc<Run>>> {
        self.commit_claiming(planned, audit, None).await
    }

    /// [`Daemon::commit`] with a start's claim on its frame's slots.
    pub(crate) async fn commit_claiming(
        &self,
        planned: Vec<Planned>,
        audit: Option<NewAudit>,
        claim: Option<crate::store::FrameClaim>,
    ) -> Result<Vec<Arc<Run>>> {
        let now = self.clock.now();
        let block_changed = planned.first().is_some_and(|p| {
            p.previous.as_ref().is_none_or(|prev| {
                engine::block_status_for(prev) != p.transition.block.status
                    || engine::progress_of(prev) != p.transition.block.progress
                    || prev.pull_request != p.transition.block.pull_request
                    || prev.estimate != p.transition.run.estimate
            })
        });
        // Most transitions leave the block as it was; skip that row then.
        let block = planned
            .first()
            .filter(|_| block_changed)
            .map(|p| BlockWrite {
                id: p.transition.run.block_id.clone(),
                status: p.transition.block.status,
                progress: p.transition.block.progress,
                pull_request: p.transition.block.pull_request.clone(),
                estimate: p.transition.run.estimate.clone(),
                run_id: Some(p.transition.run.id.clone()),
                at: now,
            });
        let previous: Vec<Option<Arc<Run>>> = planned.iter().map(|p| p.previous.clone()).collect();
        let runs = planned
            .into_iter()
            .map(|p| match p.previous {
                Some(previous) => RunWrite::insert(p.transition.run).over(previous),
                None => RunWrite::insert(p.transition.run),
            })
            .collect();
        let commit = Commit {
            runs,
            block,
            audit,
            claim,
        };
        let (stored, block) = match self.store.submit(commit).await {
            Ok(committed) => (
                committed.runs.into_iter().map(Arc::new).collect::<Vec<_>>(),
                committed.block,
            ),
            Err(e) => {
                // A refused write may mean a cached copy is behind; re-read next time.
                self.live.lock().unwrap_or_else(|p| p.into_inner()).clear();
                return Err(e.into());
            }
        };
        self.remember(&stored);
        for (i, run) in stored.iter().enumerate() {
            self.publish_run(run, previous.get(i).and_then(Option::as_deref));
            // Most commits (a running run, no card on its block) need nothing;
            // only the rest wake the card thread.
            if self.attention.has_work(run) {
                self.cards.push(Arc::clone(run));
            }
        }
        if let Some(block) = block {
            self.events.publish(Event::Block { block });
        }
        Ok(stored)
    }

    /// A changed run goes out as a patch on the copy clients already hold
    /// (a fraction of the bytes); a new run, or one whose shape changed,
    /// goes out whole.
    fn publish_run(&self, run: &Arc<Run>, previous: Option<&Run>) {
        let patch = previous
            .filter(|old| old.rev + 1 == run.rev)
            .and_then(|old| RunPatch::between(old, run));
        match patch {
            Some(patch) => self.events.publish(Event::RunPatch { patch }),
            None => self.events.publish(Event::Run {
                run: Arc::clone(run),
            }),
        }
        if let Some(gate) = run.pending_gate() {
            self.events.publish(Event::GateOpened { gate });
        }
    }

    pub(crate) fn publish_block(&self, id: &str) {
        match self.store.block(id) {
            Ok(Some(block)) => self.events.publish(Event::Block { block }),
            Ok(None) => {}
            Err(e) => tracing::warn!(block = id, error = %e, "cannot read a block to publish it"),
        }
    }

    /// Registers a driver for `run_id`; `None` if one is already running.
    pub(crate) fn claim_driver(&self, run_id: &str) -> Option<watch::Receiver<bool>> {
        let mut drivers = self.drivers.lock().unwrap_or_else(|p| p.into_inner());
        if drivers.contains_key(run_id) {
            return None;
        }
        let (tx, rx) = watch::channel(false);
        drivers.insert(run_id.to_owned(), tx);
        Some(rx)
    }

    pub(crate) fn release_driver(&self, run_id: &str) {
        let mut drivers = self.drivers.lock().unwrap_or_else(|p| p.into_inner());
        drivers.remove(run_id);
    }

    /// Tells a run's driver to kill its job.
    pub(crate) fn signal_stop(&self, run_id: &str) {
        let drivers = self.drivers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stop) = drivers.get(run_id) {
            let _ = stop.send(true);
        }
    }

    pub fn active_drivers(&self) -> usize {
        self.drivers.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
