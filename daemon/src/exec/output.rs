//! Turns an agent's raw output into protocol lines; shared by every executor
//! so a line means the same from a process and from a container.

use super::JobEvent;
use cattery_protocol::agent::{AgentLine, AgentResult, LogLevel};
use std::collections::VecDeque;
use tokio::sync::mpsc;

const TAIL_LINES: usize = 30;
const MAX_LINE: usize = 4096;

/// When a job last printed a line, and when its result came: what the
/// supervisor reads to find a stalled agent or one that lingers.
pub struct Activity {
    base: std::time::Instant,
    last_line_ms: std::sync::atomic::AtomicU64,
    result_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: std::time::Instant::now(),
            last_line_ms: std::sync::atomic::AtomicU64::new(0),
            result_ms: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn line(&self) {
        let now = self.now_ms();
        self.last_line_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    fn result(&self) {
        let now = self.now_ms();
        self.result_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long since the last line (or the start).
    pub fn quiet_for(&self) -> std::time::Duration {
        let last = self.last_line_ms.load(std::sync::atomic::Ordering::Relaxed);
        std::time::Duration::from_millis(self.now_ms().saturating_sub(last))
    }

    /// How long since the result line, if there was one.
    pub fn since_result(&self) -> Option<std::time::Duration> {
        let at = self.result_ms.load(std::sync::atomic::Ordering::Relaxed);
        (at != u64::MAX).then(|| std::time::Duration::from_millis(self.now_ms().saturating_sub(at)))
    }
}

/// A CLI runner's own stream, read into agent lines.
enum Translator {
    Claude(crate::runner::claude::Translator),
    Codex(crate::runner::codex::Translator),
}

impl Translator {
    fn line(&mut self, raw: &str) -> Vec<AgentLine> {
        match self {
            Translator::Claude(t) => t.line(raw),
            Translator::Codex(t) => t.line(raw),
        }
    }
}

/// Collects the result line and a bounded tail of everything else.
pub struct OutputReader {
    events: mpsc::UnboundedSender<JobEvent>,
    tail: VecDeque<String>,
    result: Option<AgentResult>,
    lines: u64,
    /// A CLI runner's own stream, read into agent lines; `None` for
    /// cattery's JSON lines.
    translator: Option<Translator>,
    /// The error a CLI runner reported at its end (an error result).
    reported: Option<String>,
    activity: std::sync::Arc<Activity>,
}

impl OutputReader {
    pub fn new(events: mpsc::UnboundedSender<JobEvent>) -> Self {
        Self {
            events,
            tail: VecDeque::with_capacity(TAIL_LINES),
            result: None,
            lines: 0,
            translator: None,
            reported: None,
            activity: std::sync::Arc::new(Activity::new()),
        }
    }

    /// A reader for `job`'s runner.
    pub fn for_job(events: mpsc::UnboundedSender<JobEvent>, job: &super::JobSpec) -> Self {
        let mut reader = Self::new(events);
        use crate::runner::ending::Ending;
        let ending = match (job.context.grades.is_some(), job.agent.role) {
            (true, _) => Ending::Grader,
            (false, cattery_protocol::AgentRole::Merger) => Ending::Merger,
            (false, cattery_protocol::AgentRole::Tester) => Ending::Tester,
            _ => Ending::Plain,
        };
        reader.translator = job.agent.cli.as_ref().map(|cli| match cli.runner {
            cattery_protocol::Runner::Codex => {
                Translator::Codex(crate::runner::codex::Translator::new(ending))
            }
            _ => Translator::Claude(crate::runner::claude::Translator::new(
                cli.max_turns,
                ending,
            )),
        });
        reader
    }

    /// One line from stdout (`from_stderr` false) or stderr.
    pub fn line(&mut self, raw: &str, from_stderr: bool) {
        self.lines += 1;
        self.activity.line();
        let line = truncate(raw);
        if from_stderr {
            self.remember(&line);
            self.send(JobEvent::Log {
                level: LogLevel::Warn,
                line,
            });
            return;
        }
        let lines = match self.translator.as_mut() {
            // Read whole: a CLI's lines (its result among them) can be long.
            Some(translator) => translator.line(raw.trim_end()),
            None => vec![AgentLine::parse(&line, LogLevel::Info)],
        };
        if self.translator.is_some()
            && let Some(AgentLine::Log { msg, .. }) = lines.iter().rev().find(|l| {
                matches!(
                    l,
                    AgentLine::Log {
                        level: LogLevel::Error,
                        ..
                    }
                )
            })
        {
            self.reported = Some(msg.clone());
        }
        for line in lines {
            self.agent_line(line);
        }
    }

    fn agent_line(&mut self, line: AgentLine) {
        match line {
            AgentLine::Result(result) => {
                self.activity.result();
                self.result = Some(*result);
            }
            AgentLine::Log { level, msg } => {
                self.remember(&msg);
                self.send(JobEvent::Log { level, line: msg });
            }
            AgentLine::Progress { done, total, label } => {
                self.send(JobEvent::Progress { done, total, label })
            }
            AgentLine::LlmCall(call) => self.send(JobEvent::LlmCall(call)),
        }
    }

    fn send(&self, event: JobEvent) {
        // The driver may have gone away during shutdown; the job still ends cleanly.
        let _ = self.events.send(event);
    }

    fn remember(&mut self, line: &str) {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    /// The job's activity, for its supervisor.
    pub fn activity(&self) -> std::sync::Arc<Activity> {
        std::sync::Arc::clone(&self.activity)
    }

    /// What a CLI runner said went wrong, when it ended with an error.
    pub fn reported_error(&self) -> Option<&str> {
        self.reported.as_deref()
    }

    pub fn take_result(&mut self) -> Option<AgentResult> {
        self.result.take()
    }

    /// The last lines the agent printed, for a failure's detail.
    pub fn tail(&self) -> String {
        if self.tail.is_empty() {
            return "(the agent printed nothing)".to_owned();
        }
        self.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

fn truncate(raw: &str) -> String {
    let line = raw.trim_end_matches(['\r', '\n']);
    if line.len() <= MAX_LINE {
        return line.to_owned();
    }
    let mut end = MAX_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &line[..end], line.len() - end)
}
