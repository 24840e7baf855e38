//! Mutation fuzzing on stable Rust, with no extra tools: every parser that
//! reads what another process or a person wrote gets seeds mutated byte by
//! byte (flips, inserts, deletions, repeats, truncations, and tokens that
//! break parsers), and must neither panic nor allocate without bound.
//! `benches/fuzz.rs` runs millions of inputs; a test runs a short slice.

use cattery_daemon::config::{Catalog, Settings};
use cattery_protocol::Run;
use cattery_protocol::agent::{AgentLine, LogLevel};
use cattery_protocol::event::RunPatch;
use cattery_protocol::wire::ClientFrame;
use cattery_protocol::workspace::WorkspaceFile;
use std::path::Path;
use std::sync::OnceLock;

/// A small, fast, seeded generator (xorshift64*): runs are repeatable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Tokens that tend to break parsers.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "[[",
    "]]",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    ",",
    ":",
    "=",
    "\n",
    "null",
    "true",
    "-1",
    "0",
    "1e999",
    "18446744073709551616",
    "-9223372036854775809",
    "nan",
    "inf",
    "\"type\"",
    "\"request\"",
    "\"id\"",
    "\"method\"",
    "\"params\"",
    "é",
    "\u{feff}",
    "'''",
    "\"\"\"",
];

/// Inputs never grow past this, so a parser's memory stays bounded.
pub const MAX_INPUT: usize = 8 * 1024;

/// One to eight random edits of `seed`.
pub fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => bytes.insert(at, rng.next_u64() as u8),
            2 if at < bytes.len() => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 if at < bytes.len() => {
                let end = (at + 1 + rng.below(32)).min(bytes.len());
                let piece: Vec<u8> = bytes[at..end].to_vec();
                let times = 1 + rng.below(64);
                for _ in 0..times {
                    bytes.splice(at..at, piece.iter().copied());
                }
            }
            4 => bytes.truncate(at),
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
        }
        bytes.truncate(MAX_INPUT);
    }
    bytes
}

/// A parser under test, with the inputs its mutations start from.
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub run: fn(&[u8]),
    /// Its share of the inputs, against the others' (slow parsers get fewer).
    pub weight: u32,
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

fn client_frame(bytes: &[u8]) {
    if let Ok(frame) = serde_json::from_slice::<ClientFrame>(bytes) {
        // Whatever parses must write back to something that parses the same.
        let again = serde_json::to_vec(&frame).unwrap_or_default();
        let back = serde_json::from_slice::<ClientFrame>(&again);
        assert!(back.is_ok_and(|b| b == frame), "a frame did not round-trip");
    }
}

fn agent_line(bytes: &[u8]) {
    let _ = AgentLine::parse(&text(bytes), LogLevel::Info);
}

fn settings(bytes: &[u8]) {
    let _ = Settings::parse("config.toml", &text(bytes));
}

fn agents(bytes: &[u8]) {
    let text = text(bytes);
    let _ = Catalog::from_texts(
        Some(("agents.toml".to_owned(), &text)),
        &[],
        Path::new("/a"),
    );
}

fn pipeline(bytes: &[u8]) {
    let text = text(bytes);
    let files = [("fuzz", "fuzz.toml".to_owned(), text.as_ref())];
    let _ = Catalog::from_texts(None, &files, Path::new("/a"));
}

fn workspace(bytes: &[u8]) {
    let _ = toml::from_str::<WorkspaceFile>(&text(bytes));
}

fn base_run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| serde_json::from_str(RUN_JSON).unwrap_or_else(|e| panic!("{e}")))
}

fn run_patch(bytes: &[u8]) {
    if let Ok(patch) = serde_json::from_slice::<RunPatch>(bytes) {
        let mut run = base_run().clone();
        let _ = patch.apply(&mut run);
    }
}

/// A run as the daemon stores it, for the patch target.
const RUN_JSON: &str = r#"{"id":"r_1","block_id":"b_1","pipeline_id":"quick","pipeline_name":"Quick","steps":[{"agent_kind":"architect","state":"done","progress":1.0,"output":"plan","requires_approval":true,"timeout_secs":60,"attempts":1,"recoveries":0},{"agent_kind":"coder","state":"working","progress":0.5,"requires_approval":false,"timeout_secs":60,"attempts":1,"recoveries":0}],"current_step":1,"status":"running","failure_history":[],"output_history":[],"resolved_gates":[],"initiated_by":"ana","created_at":1,"updated_at":2,"rev":4}"#;

const PATCH_JSON: &str = r#"{"id":"r_1","base_rev":4,"rev":5,"status":"running","current_step":1,"updated_at":3,"steps":[{"index":1,"step":{"agent_kind":"coder","state":"done","progress":1.0,"output":"code","requires_approval":false,"timeout_secs":60,"attempts":1,"recoveries":0}}]}"#;

pub fn targets() -> Vec<Target> {
    let seeds = |texts: &[&str]| texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    vec![
        Target {
            name: "client frames",
            seeds: seeds(&[
                r#"{"type":"hello","protocol_version":2,"token":"t","client":"ctl"}"#,
                r#"{"type":"subscribe","since_seq":4}"#,
                r#"{"type":"request","id":1,"method":"status"}"#,
                r#"{"type":"request","id":2,"method":"decide","params":{"run_id":"r","gate_id":"g","rev":3,"action":{"action":"request_changes","feedback":"f","comments":[{"quote":"q","severity":"major","body":"b"}]}}}"#,
                r#"{"type":"request","id":3,"method":"import","params":{"source":"s","blocks":[{"line":1,"block":{"title":"t","key":"k","pipeline":"quick"}}]}}"#,
            ]),
            run: client_frame,
            weight: 40,
        },
        Target {
            name: "agent output lines",
            seeds: seeds(&[
                r#"{"type":"llm_call","model":"m","prompt_tokens":10,"completion_tokens":5,"max_output_tokens":100,"finish_reason":"stop","upstream_ms":3}"#,
                r#"{"type":"progress","value":0.5,"label":"half"}"#,
                r#"{"type":"result","output":"done","grade":{"rating":0.9,"feedback":"ok","comments":[]}}"#,
                r#"{"type":"decision","question":"q?","options":["a","b"]}"#,
                "plain text from an agent",
            ]),
            run: agent_line,
            weight: 40,
        },
        Target {
            name: "config.toml",
            seeds: seeds(&[
                "executor = \"process\"\nport = 0\n[notify]\nescalate_after_minutes = 30\nnotify_command = [\"x\"]\n[spend]\nmonthly_budget = 10.0\ncurrency = \"EUR\"\n[prices.m]\nprompt_per_million = 1.0\ncompletion_per_million = 2.0\n[limits]\nrunning_per_frame = 2\n",
            ]),
            run: settings,
            weight: 6,
        },
        Target {
            name: "agents.toml",
            seeds: seeds(&[
                "[defaults]\ntimeout_secs = 60\n[agents.bot]\ncommand = [\"sh\", \"x\"]\nrole = \"merger\"\nmemory_mb = 64\ncpus = 0.5\n[agents.grader]\ncompanion_of = \"coder\"\nthreshold = 0.7\nmax_attempts = 2\n",
            ]),
            run: agents,
            weight: 2,
        },
        Target {
            name: "pipeline toml",
            seeds: seeds(&[
                "name = \"Fuzz\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\ntimeout_secs = 30\n[[steps]]\nagent = \"reviewer\"\nthreshold = 0.9\nmax_attempts = 1\n",
            ]),
            run: pipeline,
            weight: 2,
        },
        Target {
            name: "workspace files",
            seeds: seeds(&[
                "[[blocks]]\nkey = \"p\"\nlevel = \"frame\"\ntitle = \"P\"\n[[blocks]]\nparent = \"p\"\ntitle = \"T\"\npipeline = \"quick\"\ndescription = \"\"\"\n@demo * sleep 0\n\"\"\"\n",
            ]),
            run: workspace,
            weight: 5,
        },
        Target {
            name: "run-patch apply",
            seeds: seeds(&[PATCH_JSON]),
            run: run_patch,
            weight: 5,
        },
    ]
}

/// What fuzzing one target found.
#[derive(Debug, Default)]
pub struct Found {
    pub inputs: u64,
    pub panics: u64,
    /// The first input that panicked, for a regression test.
    pub first_panic: Option<Vec<u8>>,
}

/// Runs `inputs` mutated inputs through `target`, catching panics.
pub fn fuzz(target: &Target, inputs: u64, rng: &mut Rng) -> Found {
    let mut found = Found::default();
    let mut corpus = target.seeds.clone();
    for _ in 0..inputs {
        let seed = &corpus[rng.below(corpus.len())];
        let input = mutate(seed, rng);
        let run = target.run;
        let ok = std::panic::catch_unwind(|| run(&input)).is_ok();
        found.inputs += 1;
        if !ok {
            found.panics += 1;
            found.first_panic.get_or_insert(input);
        } else if corpus.len() < 256 && rng.below(64) == 0 {
            // Keep some mutants as seeds, so edits compound.
            corpus.push(input);
        }
    }
    found
}

/// Peak resident memory of this process, in KiB (VmHWM).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
