//! Reading a model call's exact figures from the API's own response as it
//! streams past, or from the whole JSON answer when the call did not stream:
//! - Anthropic Messages: `message_start` carries the model and input usage,
//!   `message_delta` the stop reason and output tokens;
//! - OpenAI Responses: `response.completed` (or `.incomplete`) carries the
//!   model, status and usage; `input_tokens` includes the cached ones;
//! - OpenAI Chat Completions: chunks carry the model and finish reason, the
//!   last one the usage; `prompt_tokens` includes the cached ones.
//!
//! `prompt_tokens` is always the uncached input, so cached tokens are not
//! counted twice whatever the vendor.

use cattery_protocol::agent::{FinishReason, LlmCall};
use serde_json::Value;

/// The largest non-streamed answer read for its usage; past it, the
/// figures come from whatever was read.
const JSON_LIMIT: usize = 8 * 1024 * 1024;

/// Which API a call speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wire {
    #[default]
    AnthropicMessages,
    OpenAiResponses,
    OpenAiChat,
}

impl Wire {
    /// The API a request path names (under the provider's prefix).
    pub fn of_path(openai: bool, path: &str) -> Self {
        match (openai, path.contains("/chat/completions")) {
            (false, _) => Wire::AnthropicMessages,
            (true, true) => Wire::OpenAiChat,
            (true, false) => Wire::OpenAiResponses,
        }
    }
}

#[derive(Debug, Default)]
pub struct Meter {
    wire: Wire,
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
    pub fn new(request: &Value, streaming: bool, wire: Wire) -> Self {
        let max_tokens = ["max_tokens", "max_output_tokens", "max_completion_tokens"]
            .iter()
            .find_map(|key| request[key].as_u64())
            .unwrap_or(0);
        Self {
            wire,
            max_tokens,
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
        match self.wire {
            Wire::AnthropicMessages => self.anthropic_event(event),
            Wire::OpenAiResponses => {
                let kind = event["type"].as_str().unwrap_or_default();
                let ended = [
                    "response.completed",
                    "response.incomplete",
                    "response.failed",
                ];
                if kind == "response.created" || ended.contains(&kind) {
                    self.response(&event["response"]);
                }
            }
            Wire::OpenAiChat => self.chat(event),
        }
    }

    /// A Responses API response object: model, status, usage.
    fn response(&mut self, response: &Value) {
        if let Some(model) = response["model"].as_str() {
            self.model = model.to_owned();
        }
        let reason = response["incomplete_details"]["reason"].as_str();
        match (response["status"].as_str(), reason) {
            (Some("incomplete"), Some("max_output_tokens")) => {
                self.stop_reason = Some("max_tokens".to_owned())
            }
            (Some("completed"), _) => self.stop_reason = Some("end_turn".to_owned()),
            (Some(other), _) if other != "in_progress" => self.stop_reason = Some(other.to_owned()),
            _ => {}
        }
        let usage = &response["usage"];
        self.openai_usage(
            usage,
            "input_tokens",
            "input_tokens_details",
            "output_tokens",
        );
    }

    /// A Chat Completions chunk or whole answer.
    fn chat(&mut self, chunk: &Value) {
        if let Some(model) = chunk["model"].as_str() {
            self.model = model.to_owned();
        }
        let reasons = chunk["choices"].as_array().into_iter().flatten();
        if let Some(reason) = reasons
            .filter_map(|c| c["finish_reason"].as_str())
            .next_back()
        {
            self.stop_reason = Some(match reason {
                "length" => "max_tokens".to_owned(),
                "stop" | "tool_calls" | "function_call" => "end_turn".to_owned(),
                other => other.to_owned(),
            });
        }
        let usage = &chunk["usage"];
        self.openai_usage(
            usage,
            "prompt_tokens",
            "prompt_tokens_details",
            "completion_tokens",
        );
    }

    /// OpenAI's input counts include the cached tokens: split them out.
    fn openai_usage(&mut self, usage: &Value, input: &str, details: &str, output: &str) {
        let Some(all_input) = usage[input].as_u64() else {
            return;
        };
        let cached = usage[details]["cached_tokens"].as_u64().unwrap_or(0);
        self.cache_read = cached;
        self.input = all_input.saturating_sub(cached);
        self.output = usage[output].as_u64().unwrap_or(0);
    }

    fn anthropic_event(&mut self, event: &Value) {
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
    pub fn finish(mut self, upstream_ms: u64, first_token_ms: u64) -> LlmCall {
        if !self.streaming
            && let Ok(message) = serde_json::from_slice::<Value>(&self.pending)
        {
            match self.wire {
                Wire::AnthropicMessages => self.message(&message),
                Wire::OpenAiResponses => self.response(&message),
                Wire::OpenAiChat => self.chat(&message),
            }
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
            first_token_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sse(events: &[Value]) -> Vec<u8> {
        events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn a_responses_stream_is_metered_with_cached_input_split_out() {
        let request = serde_json::json!({"model": "gpt-x", "max_output_tokens": 500});
        let mut meter = Meter::new(&request, true, Wire::OpenAiResponses);
        let body = sse(&[
            serde_json::json!({"type": "response.created", "response": {"model": "gpt-x-2026", "status": "in_progress"}}),
            serde_json::json!({"type": "response.output_text.delta", "delta": "hi"}),
            serde_json::json!({"type": "response.completed", "response": {"model": "gpt-x-2026", "status": "completed",
                "usage": {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1000}, "output_tokens": 40}}}),
        ]);
        // Split mid-line, as a network would.
        let (a, b) = body.split_at(body.len() / 2);
        meter.feed(a);
        meter.feed(b);
        let call = meter.finish(12, 3);
        assert_eq!(call.model, "gpt-x-2026");
        assert_eq!(
            (
                call.prompt_tokens,
                call.cache_read_tokens,
                call.completion_tokens
            ),
            (200, 1000, 40)
        );
        assert_eq!(call.max_output_tokens, 500);
        assert_eq!(call.finish_reason, FinishReason::Stop);
    }

    #[test]
    fn a_responses_call_cut_at_its_output_limit_counts_as_truncated() {
        let mut meter = Meter::new(&serde_json::json!({}), true, Wire::OpenAiResponses);
        meter.feed(&sse(&[serde_json::json!({"type": "response.incomplete", "response": {"status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"}, "usage": {"input_tokens": 5, "output_tokens": 9}}})]));
        assert_eq!(meter.finish(1, 1).finish_reason, FinishReason::Length);
    }

    #[test]
    fn chat_completions_are_metered_streamed_and_whole() {
        let request = serde_json::json!({"model": "m", "max_completion_tokens": 64});
        let mut meter = Meter::new(&request, true, Wire::OpenAiChat);
        let chunks = [
            serde_json::json!({"model": "m-1", "choices": [{"delta": {"content": "x"}, "finish_reason": null}]}),
            serde_json::json!({"model": "m-1", "choices": [{"delta": {}, "finish_reason": "length"}]}),
            serde_json::json!({"model": "m-1", "choices": [], "usage": {"prompt_tokens": 30, "prompt_tokens_details": {"cached_tokens": 10}, "completion_tokens": 64}}),
        ];
        let body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        meter.feed(body.as_bytes());
        meter.feed(b"data: [DONE]\n\n");
        let call = meter.finish(3, 1);
        assert_eq!(
            (
                call.model.as_str(),
                call.prompt_tokens,
                call.cache_read_tokens
            ),
            ("m-1", 20, 10)
        );
        assert_eq!((call.completion_tokens, call.max_output_tokens), (64, 64));
        assert_eq!(call.finish_reason, FinishReason::Length);

        let mut whole = Meter::new(&request, false, Wire::OpenAiChat);
        whole.feed(
            serde_json::json!({"model": "m-1", "choices": [{"finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
            .to_string()
            .as_bytes(),
        );
        let call = whole.finish(2, 1);
        assert_eq!((call.prompt_tokens, call.completion_tokens), (7, 3));
        assert_eq!(call.finish_reason, FinishReason::Stop);
    }
}
