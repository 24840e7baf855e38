//! The Schedules view: every recurring pipeline with its next fire, the
//! selected one's fires, and `n` to fire it now. The list is asked for
//! when the view opens (and after a fire); history when the selection
//! moves.

use super::requests::Pending;
use super::{App, ConnState, Effect, View};
use cattery_protocol::schedule::{Schedule, ScheduleFire};
use cattery_protocol::wire::{Call, FromReply, Reply, WireError};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulesView {
    pub list: Vec<Schedule>,
    pub selected: usize,
    /// The fires of the schedule they were asked for.
    pub history: Option<(String, Vec<ScheduleFire>)>,
    /// The list arrived at least once.
    pub loaded: bool,
}

impl SchedulesView {
    pub fn selected(&self) -> Option<&Schedule> {
        self.list
            .get(self.selected.min(self.list.len().checked_sub(1)?))
    }
}

impl App {
    /// Opens the view and asks for the list.
    pub(super) fn open_schedules(&mut self) -> Vec<Effect> {
        self.jump(View::Schedules);
        self.ask_schedules()
    }

    pub(super) fn ask_schedules(&mut self) -> Vec<Effect> {
        if self.conn != ConnState::Connected {
            return Vec::new();
        }
        let id = self.register(Pending::Schedules);
        vec![Effect::Send {
            id,
            call: Call::Schedules,
        }]
    }

    pub(super) fn move_schedule(&mut self, delta: isize) -> Vec<Effect> {
        let count = self.schedules.list.len();
        self.schedules.selected = super::nav::step(self.schedules.selected, delta, count);
        self.ask_schedule_history()
    }

    /// Asks for the selected schedule's fires unless they are on screen.
    fn ask_schedule_history(&mut self) -> Vec<Effect> {
        let Some(id) = self.schedules.selected().map(|s| s.id.clone()) else {
            return Vec::new();
        };
        if self
            .schedules
            .history
            .as_ref()
            .is_some_and(|(at, _)| *at == id)
            || self.conn != ConnState::Connected
        {
            return Vec::new();
        }
        let pending = self.register(Pending::ScheduleHistory { id: id.clone() });
        vec![Effect::Send {
            id: pending,
            call: Call::ScheduleHistory { id },
        }]
    }

    pub(super) fn on_schedules(
        &mut self,
        result: Option<Reply>,
        error: Option<WireError>,
    ) -> Vec<Effect> {
        if let Some(e) = error {
            self.error(format!("cannot list schedules: {}", e.message));
            return Vec::new();
        }
        self.schedules.list = result
            .and_then(|r| FromReply::from_reply(r).ok())
            .unwrap_or_default();
        self.schedules.loaded = true;
        // A fire changes the selected schedule's history: ask again.
        self.schedules.history = None;
        self.dirty = true;
        self.ask_schedule_history()
    }

    pub(super) fn on_schedule_history(
        &mut self,
        id: String,
        result: Option<Reply>,
        error: Option<WireError>,
    ) {
        match error {
            Some(e) => self.error(format!("cannot read schedule {id}'s fires: {}", e.message)),
            None => {
                let fires = result.and_then(|r| FromReply::from_reply(r).ok());
                self.schedules.history = Some((id, fires.unwrap_or_default()));
            }
        }
        self.dirty = true;
    }

    pub(super) fn schedule_applies(&self) -> Result<(), String> {
        if self.view() != View::Schedules {
            return Err("schedules are fired from the Schedules view (5)".to_owned());
        }
        self.schedules.selected().map(drop).ok_or_else(|| {
            "no schedule is selected; add one with `cattery ctl schedules add`".to_owned()
        })
    }

    /// Fires the selected schedule now, then reads the list again.
    pub(super) fn run_schedule_now(&mut self) -> Vec<Effect> {
        let Some(id) = self.schedules.selected().map(|s| s.id.clone()) else {
            return Vec::new();
        };
        let mut effects: Vec<Effect> = self
            .send(
                Call::RunSchedule { id: id.clone() },
                format!("fire schedule {id}"),
            )
            .into_iter()
            .collect();
        effects.extend(self.ask_schedules());
        effects
    }
}
