//! Reading a model call's exact figures from the API's own response as it
//! streams past: Anthropic Messages SSE (`message_start` carries the model
//! and input usage, `message_delta` the stop reason and output tokens), or
//! a whole JSON message when the call did not stream.

use cattery_protocol::agent::{FinishReason, LlmCall};
use serde_json::Value;

/// The largest non-streamed answer read for its usage; past it, the
/// figures come from whatever was read.
const JSON_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Meter {
    /// `max_tokens` from the request.
    pub max_tokens: u64,
    pub model: String,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    stop_reason: Option<String>,
    streaming: bool,
    /// The unfinished line of an SSE stream, or the JSON body so far.
    pending: Vec<u8>,
}

impl Meter {
    /// A meter for a call whose request asked for `max_tokens` of `model`,
    /// answered as SSE (`streaming`) or as one JSON message.
    pub fn new(request: &Value, streaming: bool) -> Self {
        Self {
            max_tokens: request["max_tokens"].as_u64().unwrap_or(0),
            model: request["model"].as_str().unwrap_or_default().to_owned(),
            streaming,
            ..Self::default()
        }
    }

    /// Reads a chunk of the answer as it passes.
    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.streaming {
            let room = JSON_LIMIT.saturating_sub(self.pending.len());
            self.pending
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
            return;
        }
        self.pending.extend_from_slice(chunk);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            if let Some(data) = text.trim_end().strip_prefix("data:")
                && let Ok(event) = serde_json::from_str::<Value>(data.trim())
            {
                self.event(&event);
            }
        }
    }

    fn event(&mut self, event: &Value) {
        match event["type"].as_str() {
            Some("message_start") => self.message(&event["message"]),
            Some("message_delta") => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.usage(&event["usage"]);
            }
            _ => {}
        }
    }

    /// A whole message (or `message_start`'s): its model and usage.
    fn message(&mut self, message: &Value) {
        if let Some(model) = message["model"].as_str() {
            self.model = model.to_owned();
        }
        if let Some(reason) = message["stop_reason"].as_str() {
            self.stop_reason = Some(reason.to_owned());
        }
        self.usage(&message["usage"]);
    }

    /// Usage figures are totals so far: a later one replaces an earlier one.
    fn usage(&mut self, usage: &Value) {
        let take = |key: &str, into: &mut u64| {
            if let Some(n) = usage[key].as_u64() {
                *into = n;
            }
        };
        take("input_tokens", &mut self.input);
        take("output_tokens", &mut self.output);
        take("cache_read_input_tokens", &mut self.cache_read);
        take("cache_creation_input_tokens", &mut self.cache_write);
    }

    /// The call as metered, once its answer has ended.
    pub fn finish(mut self, upstream_ms: u64) -> LlmCall {
        if !self.streaming
            && let Ok(message) = serde_json::from_slice::<Value>(&self.pending)
        {
            self.message(&message);
        }
        let finish_reason = match self.stop_reason.as_deref() {
            Some("max_tokens") => FinishReason::Length,
            Some("end_turn" | "tool_use" | "stop_sequence" | "pause_turn") => FinishReason::Stop,
            _ => FinishReason::Other,
        };
        LlmCall {
            model: self.model,
            prompt_tokens: self.input,
            completion_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            max_output_tokens: self.max_tokens,
            finish_reason,
            upstream_ms,
            overhead_ms: 0,
        }
    }
}
