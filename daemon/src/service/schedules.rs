//! Recurring pipelines (DELIVERY.md §6): schedules on frames, each firing
//! its pipeline on its own recurring task. One tokio task sleeps until the
//! soonest fire (or a change); a fire is held, without advancing, while
//! the task's previous run is live; a start that fails still advances.
//! Fires missed while the daemon was down are fired once, at start.

use super::ops::NewBlock;
use super::{Daemon, Result, ServiceError};
use crate::engine::schedule;
use cattery_protocol::schedule::{FireOrigin, FireOutcome, Recurrence, Schedule, ScheduleFire};
use cattery_protocol::{BlockLevel, Millis, Run};
use std::sync::Arc;
use std::time::Duration;

/// A held fire is looked at again this often, for its run may end any time.
const HELD_RECHECK: Duration = Duration::from_secs(30);
/// The timer looks at the clock at least this often.
const LONGEST_SLEEP: Duration = Duration::from_secs(300);

/// What a new schedule needs.
pub struct NewSchedule {
    pub frame_id: String,
    pub pipeline_id: String,
    pub title: String,
    pub description: String,
    pub recurrence: Recurrence,
    pub first_at: Option<Millis>,
}

impl Daemon {
    pub fn schedules(&self) -> Result<Vec<Schedule>> {
        Ok(self.store.schedules()?)
    }

    /// A schedule on a frame, with a new planned task under it for its
    /// runs. Refused with the reason: not a frame, an unknown pipeline, a
    /// recurrence that is out of range or names an unknown timezone.
    pub fn add_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        let frame = self.block(&new.frame_id)?;
        if frame.level != BlockLevel::Frame {
            return Err(ServiceError::Invalid(format!(
                "block {} is a {}, not a frame; a schedule belongs on a frame (`ctl block add --level frame`)",
                frame.id, frame.level
            )));
        }
        if !self.catalog.pipelines.contains_key(&new.pipeline_id) {
            let known: Vec<_> = self.catalog.pipelines.keys().cloned().collect();
            return Err(ServiceError::not_found(
                "pipeline",
                &new.pipeline_id,
                &format!("known pipelines: {}", known.join(", ")),
            ));
        }
        let now = self.clock.now();
        let next_run_at = match new.first_at {
            Some(at) => {
                schedule::checked(&new.recurrence).map_err(ServiceError::Invalid)?;
                at
            }
            None => schedule::next_run(now, &new.recurrence).map_err(ServiceError::Invalid)?,
        };
        let task = self.planned_block(NewBlock {
            level: BlockLevel::Task,
            parent_id: Some(frame.id.clone()),
            title: new.title,
            description: new.description,
            repository: None,
        })?;
        let created = Schedule {
            id: self.ids.mint("s"),
            frame_id: frame.id,
            block_id: task.id.clone(),
            pipeline_id: new.pipeline_id,
            recurrence: new.recurrence,
            next_run_at,
            last_run_at: None,
            held: None,
            created_at: now,
        };
        self.store.insert_schedule(&task, &created)?;
        self.events
            .publish(cattery_protocol::event::Event::Block { block: task });
        self.schedules_changed();
        Ok(created)
    }

    /// Removes a schedule; its task and runs stay on the board.
    pub fn remove_schedule(&self, id: &str) -> Result<()> {
        match self.store.delete_schedule(id)? {
            true => {
                self.schedules_changed();
                Ok(())
            }
            false => Err(self.no_schedule(id)),
        }
    }

    pub fn schedule_history(&self, id: &str) -> Result<Vec<ScheduleFire>> {
        self.find_schedule(id)?;
        Ok(self.store.schedule_fires(id)?)
    }

    /// Fires a schedule now; refused while its task's previous run is live.
    pub async fn run_schedule(self: &Arc<Self>, id: &str, actor: &str) -> Result<Arc<Run>> {
        let _firing = self.firing.lock().await;
        let found = self.find_schedule(id)?;
        if let Some(why) = self.held_by(&found)? {
            return Err(ServiceError::Conflict(format!(
                "schedule {id} already has a run in progress: {why}; wait for it to end, or cancel it"
            )));
        }
        let (fire, run) = self
            .fire(found, self.clock.now(), FireOrigin::Manual, actor)
            .await?;
        match run {
            Some(run) => Ok(run),
            None => Err(ServiceError::Invalid(fire.message)),
        }
    }

    /// Fires every schedule due by `now` (`runDue`), once each; answers
    /// the fires made. `origin` says whether they were missed while down.
    pub async fn fire_due_schedules(
        self: &Arc<Self>,
        now: Millis,
        origin: FireOrigin,
    ) -> Result<Vec<ScheduleFire>> {
        let _firing = self.firing.lock().await;
        let mut fires = Vec::new();
        for due in self
            .store
            .schedules()?
            .into_iter()
            .filter(|s| s.next_run_at <= now)
        {
            if let Some(why) = self.held_by(&due)? {
                if due.held.as_deref() != Some(why.as_str()) {
                    let held = Schedule {
                        held: Some(why),
                        ..due
                    };
                    self.store.record_fire(&held, None)?;
                    self.schedules_changed();
                }
                continue;
            }
            fires.push(self.fire(due, now, origin, "schedule").await?.0);
        }
        Ok(fires)
    }

    /// Starts the schedule's pipeline and records the fire; the next fire
    /// is one interval from `now` whether the start worked or not.
    async fn fire(
        self: &Arc<Self>,
        due: Schedule,
        now: Millis,
        origin: FireOrigin,
        actor: &str,
    ) -> Result<(ScheduleFire, Option<Arc<Run>>)> {
        let started = self.start(&due.block_id, &due.pipeline_id, actor).await;
        let (outcome, run_id, message) = match &started {
            Ok(run) => (FireOutcome::Started, Some(run.id.clone()), String::new()),
            Err(e) => (FireOutcome::Failed, None, e.to_string()),
        };
        let next_run_at = schedule::next_run(now, &due.recurrence).unwrap_or(now + 3_600_000);
        let fire = ScheduleFire {
            schedule_id: due.id.clone(),
            at: now,
            origin,
            outcome,
            run_id,
            message,
        };
        let advanced = Schedule {
            next_run_at,
            last_run_at: Some(now),
            held: None,
            ..due
        };
        self.store.record_fire(&advanced, Some(&fire))?;
        self.schedules_changed();
        if let Err(e) = &started {
            tracing::warn!(schedule = %advanced.id, "a scheduled start failed: {e}");
        }
        Ok((fire, started.ok()))
    }

    /// Wakes the timer to look again, and tells clients to.
    fn schedules_changed(&self) {
        self.schedule_changed.notify_one();
        self.events
            .publish(cattery_protocol::event::Event::SchedulesChanged);
    }

    /// Why the schedule's task cannot start now, if it cannot.
    fn held_by(&self, of: &Schedule) -> Result<Option<String>> {
        let block = self.block(&of.block_id)?;
        let prior = block.run_id.as_deref().map(|id| self.run(id)).transpose()?;
        Ok(schedule::held_by(prior.as_deref()))
    }

    fn find_schedule(&self, id: &str) -> Result<Schedule> {
        self.store.schedule(id)?.ok_or_else(|| self.no_schedule(id))
    }

    fn no_schedule(&self, id: &str) -> ServiceError {
        ServiceError::not_found("schedule", id, "`cattery ctl schedules` lists them")
    }

    /// The schedules' timer: fires what is due, then sleeps until the
    /// soonest fire, a change, or a recheck of held fires. Its first pass
    /// fires what came due while the daemon was down, once each.
    pub fn serve_schedules(
        self: &Arc<Self>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let daemon = Arc::clone(self);
        async move {
            let mut origin = FireOrigin::Missed;
            loop {
                let now = daemon.clock.now();
                if let Err(e) = daemon.fire_due_schedules(now, origin).await {
                    tracing::warn!("cannot fire due schedules: {e}");
                }
                origin = FireOrigin::Due;
                let sleep = daemon.until_next_fire(now);
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    _ = daemon.schedule_changed.notified() => {}
                }
            }
        }
    }

    fn until_next_fire(&self, now: Millis) -> Duration {
        let next = self.store.next_schedule_due().ok().flatten();
        match next {
            Some(at) if at <= now => HELD_RECHECK,
            Some(at) => Duration::from_millis((at - now) as u64).min(LONGEST_SLEEP),
            None => LONGEST_SLEEP,
        }
    }
}
