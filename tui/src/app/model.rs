//! The client's copy of daemon state, kept current from the event stream.

use cattery_protocol::agent::LogLevel;
use cattery_protocol::event::Event;
use cattery_protocol::wire::ServerFrame;
use cattery_protocol::{
    Block, BlockLevel, GateKind, Millis, Notification, NotificationStatus, PendingGate, Pipeline,
    Run, Severity,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Lines kept per step log; older lines fall off.
pub const LOG_LINES: usize = 5_000;
/// Step logs kept at once; the least recently written goes first.
const LOG_BUFFERS: usize = 32;
/// Longest log line kept, in bytes.
const LOG_LINE_BYTES: usize = 2_000;
/// Token samples kept per step for the sparkline.
const TOKEN_SAMPLES: usize = 120;

pub type StepKey = (String, usize);

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: Millis,
    pub level: LogLevel,
    pub kind: cattery_protocol::transcript::EntryKind,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Model {
    pub blocks: HashMap<String, Block>,
    pub runs: HashMap<String, Arc<Run>>,
    /// Open attention cards by id.
    pub cards: HashMap<String, Notification>,
    pub pipelines: Vec<Pipeline>,
    pub logs: HashMap<StepKey, VecDeque<LogLine>>,
    log_order: VecDeque<StepKey>,
    /// Completion tokens after each metrics update, for the sparkline.
    pub tokens: HashMap<StepKey, VecDeque<u64>>,
    /// Newest event applied; 0 before the first snapshot.
    pub seq: u64,
    pub synced: bool,
    /// Board rows in tree order with their depth; rebuilt when blocks change.
    board_order: Vec<(String, u16)>,
    /// The daemon's own health, as of its welcome, snapshot or last event.
    pub health: cattery_protocol::wire::Health,
}

/// What applying a frame did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    Unchanged,
    /// Events were missed; a fresh snapshot is needed.
    Gap,
}

impl Model {
    pub fn apply(&mut self, frame: ServerFrame) -> Applied {
        match frame {
            ServerFrame::Snapshot {
                seq,
                board,
                runs,
                notifications,
                health,
                ..
            } => {
                self.health = health;
                self.cards = notifications
                    .into_iter()
                    .map(|c| (c.id.clone(), c))
                    .collect();
                self.blocks = board.into_iter().map(|b| (b.id.clone(), b)).collect();
                self.runs = runs
                    .into_iter()
                    .map(|r| (r.id.clone(), Arc::new(r)))
                    .collect();
                self.board_order = tree_order(&self.blocks);
                self.seq = seq;
                self.synced = true;
                Applied::Changed
            }
            ServerFrame::Event { seq, event } => self.apply_event(seq, event),
            ServerFrame::Resync { .. } => Applied::Gap,
            _ => Applied::Unchanged,
        }
    }

    fn apply_event(&mut self, seq: u64, event: Event) -> Applied {
        if !self.synced || seq <= self.seq {
            return Applied::Unchanged;
        }
        if seq != self.seq + 1 {
            return Applied::Gap;
        }
        self.seq = seq;
        match event {
            Event::Block { block } => self.put_block(block),
            Event::Run { run } => self.put_run(run),
            Event::RunPatch { patch } => {
                let held = self.runs.get(&patch.id).map(|run| run.rev);
                // A snapshot taken just before a commit's event was published
                // already holds that commit: nothing to do, and no gap.
                if held.is_some_and(|rev| patch.rev <= rev) {
                    return Applied::Unchanged;
                }
                let applied = self
                    .runs
                    .get_mut(&patch.id)
                    .is_some_and(|run| patch.apply(Arc::make_mut(run)));
                if !applied {
                    // Not the copy the patch was made for: start over from a snapshot.
                    return Applied::Gap;
                }
            }
            Event::GateOpened { .. } => {}
            Event::Notification { card } => self.put_card(card),
            Event::Bell { .. } => {}
            Event::Health { health } => self.health = health,
            // Schedules are not part of the model; the view asks for them.
            Event::SchedulesChanged => {}
            Event::StepLog {
                run_id,
                step_index,
                at,
                level,
                line,
            } => self.push_log(
                (run_id, step_index),
                LogLine {
                    at,
                    level,
                    kind: cattery_protocol::transcript::EntryKind::Line,
                    text: clip(line),
                },
            ),
            Event::StepMetrics {
                run_id,
                step_index,
                metrics,
            } => {
                self.sample_tokens((run_id.clone(), step_index), metrics.completion_tokens);
                if let Some(step) = self
                    .runs
                    .get_mut(&run_id)
                    .and_then(|run| Arc::make_mut(run).steps.get_mut(step_index))
                {
                    step.metrics = metrics;
                }
            }
        }
        Applied::Changed
    }

    fn put_block(&mut self, block: Block) {
        let moved = self
            .blocks
            .get(&block.id)
            .is_none_or(|old| old.parent_id != block.parent_id);
        self.blocks.insert(block.id.clone(), block);
        // Kept built, so drawing never has to change the model.
        if moved {
            self.board_order = tree_order(&self.blocks);
        }
    }

    fn put_run(&mut self, run: Arc<Run>) {
        let newer = self.runs.get(&run.id).is_none_or(|old| old.rev <= run.rev);
        if newer {
            self.runs.insert(run.id.clone(), run);
        }
    }

    fn put_card(&mut self, card: Notification) {
        match card.status {
            NotificationStatus::Open => {
                self.cards.insert(card.id.clone(), card);
            }
            _ => {
                self.cards.remove(&card.id);
            }
        }
    }

    fn push_log(&mut self, key: StepKey, line: LogLine) {
        if !self.logs.contains_key(&key) {
            if self.log_order.len() >= LOG_BUFFERS
                && let Some(oldest) = self.log_order.pop_front()
            {
                self.logs.remove(&oldest);
            }
            self.log_order.push_back(key.clone());
        }
        let buffer = self.logs.entry(key).or_default();
        if buffer.len() >= LOG_LINES {
            buffer.pop_front();
        }
        buffer.push_back(line);
    }

    fn sample_tokens(&mut self, key: StepKey, tokens: u64) {
        let samples = self.tokens.entry(key).or_default();
        if samples.len() >= TOKEN_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(tokens);
    }

    /// Every gate waiting for a human, in inbox order.
    pub fn inbox(&self) -> Vec<PendingGate> {
        self.inbox_rows()
            .into_iter()
            .filter_map(|row| match row {
                InboxRow::Gate { gate, .. } => Some(gate),
                InboxRow::Card(_) => None,
            })
            .collect()
    }

    /// Gates and the cards that stand for no gate: urgent ones first, then
    /// gates by kind (cap, decision, approval), then cards; oldest first.
    pub fn inbox_rows(&self) -> Vec<InboxRow> {
        let gates = self
            .runs
            .values()
            .filter_map(|r| r.pending_gate())
            .map(|gate| {
                let urgent = self
                    .gate_card(&gate)
                    .is_some_and(|c| c.severity == Severity::Urgent);
                InboxRow::Gate { gate, urgent }
            });
        let cards = self
            .cards
            .values()
            .filter(|c| !self.stands_for_a_gate(c))
            .cloned()
            .map(InboxRow::Card);
        let mut rows: Vec<InboxRow> = gates.chain(cards).collect();
        rows.sort_by(|a, b| {
            b.urgent()
                .cmp(&a.urgent())
                .then(b.rank().cmp(&a.rank()))
                .then(a.since().cmp(&b.since()))
                .then(a.id().cmp(b.id()))
        });
        rows
    }

    /// Whether `card` is how a gate the inbox lists already reached a human.
    /// A merge review with no gate (a merge left to the user) stands alone.
    fn stands_for_a_gate(&self, card: &Notification) -> bool {
        card.kind.is_waiting()
            && card
                .run_id
                .as_deref()
                .and_then(|id| self.runs.get(id))
                .is_some_and(|run| run.pending_gate().is_some())
    }

    /// The open card that stands for a waiting gate, if the daemon raised one.
    pub fn gate_card(&self, gate: &PendingGate) -> Option<&Notification> {
        self.cards
            .values()
            .find(|c| c.kind.is_waiting() && c.run_id.as_deref() == Some(gate.run_id.as_str()))
    }

    pub fn run_of_block(&self, block_id: &str) -> Option<&Arc<Run>> {
        let run_id = self.blocks.get(block_id)?.run_id.as_ref()?;
        self.runs.get(run_id)
    }

    /// Frames, then their modules, then tasks, each level oldest first.
    pub fn board_order(&self) -> &[(String, u16)] {
        &self.board_order
    }
}

/// One line of the inbox: a gate to decide, or a card to act on or dismiss.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxRow {
    Gate { gate: PendingGate, urgent: bool },
    Card(Notification),
}

impl InboxRow {
    pub fn id(&self) -> &str {
        match self {
            InboxRow::Gate { gate, .. } => &gate.id,
            InboxRow::Card(card) => &card.id,
        }
    }

    pub fn urgent(&self) -> bool {
        match self {
            InboxRow::Gate { urgent, .. } => *urgent,
            InboxRow::Card(card) => card.severity == Severity::Urgent,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            InboxRow::Gate { gate, .. } => severity(gate.kind),
            InboxRow::Card(_) => 0,
        }
    }

    pub fn since(&self) -> Millis {
        match self {
            InboxRow::Gate { gate, .. } => gate.since,
            InboxRow::Card(card) => card.created_at,
        }
    }

    pub fn block_id(&self) -> &str {
        match self {
            InboxRow::Gate { gate, .. } => &gate.block_id,
            InboxRow::Card(card) => &card.block_id,
        }
    }

    pub fn gate(&self) -> Option<&PendingGate> {
        match self {
            InboxRow::Gate { gate, .. } => Some(gate),
            InboxRow::Card(_) => None,
        }
    }
}

/// An iteration cap means a loop ran out; a decision blocks an agent
/// mid-thought; an approval is routine.
pub fn severity(kind: GateKind) -> u8 {
    match kind {
        GateKind::IterationCap => 3,
        GateKind::Decision | GateKind::Review => 2,
        GateKind::Approval => 1,
    }
}

fn clip(mut line: String) -> String {
    if line.len() > LOG_LINE_BYTES {
        let mut end = LOG_LINE_BYTES;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

fn tree_order(blocks: &HashMap<String, Block>) -> Vec<(String, u16)> {
    let mut children: HashMap<Option<&str>, Vec<&Block>> = HashMap::new();
    for block in blocks.values() {
        let parent = block
            .parent_id
            .as_deref()
            .filter(|p| blocks.contains_key(*p));
        children.entry(parent).or_default().push(block);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| {
            rank(a.level)
                .cmp(&rank(b.level))
                .then(a.created_at.cmp(&b.created_at))
                .then(a.id.cmp(&b.id))
        });
    }
    let mut order = Vec::with_capacity(blocks.len());
    let mut stack: Vec<(&Block, u16)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|b| (*b, 0)).collect())
        .unwrap_or_default();
    while let Some((block, depth)) = stack.pop() {
        order.push((block.id.clone(), depth));
        if let Some(kids) = children.get(&Some(block.id.as_str())) {
            stack.extend(kids.iter().rev().map(|b| (*b, depth + 1)));
        }
    }
    order
}

fn rank(level: BlockLevel) -> u8 {
    match level {
        BlockLevel::Initiative => 0,
        BlockLevel::Epic => 1,
        BlockLevel::Frame => 2,
        BlockLevel::Module => 3,
        BlockLevel::Task => 4,
    }
}

/// Blocks grouped by status, for the header counts, in workflow order.
pub fn status_counts(
    blocks: &HashMap<String, Block>,
) -> BTreeMap<cattery_protocol::BlockStatus, usize> {
    let mut counts = BTreeMap::new();
    for block in blocks.values().filter(|b| b.level == BlockLevel::Task) {
        *counts.entry(block.status).or_insert(0) += 1;
    }
    counts
}
