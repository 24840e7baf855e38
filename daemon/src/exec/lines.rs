//! Splits a container's multiplexed output chunks back into lines.

use super::OutputReader;

/// A line longer than this is passed on in pieces, so one endless line
/// cannot hold unbounded memory.
const MAX_PENDING: usize = 64 * 1024;

#[derive(Default)]
pub struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    pub fn feed(&mut self, chunk: &[u8], from_stderr: bool, reader: &mut OutputReader) {
        let pending = if from_stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        pending.extend_from_slice(chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            reader.line(&String::from_utf8_lossy(&line), from_stderr);
        }
        if pending.len() > MAX_PENDING {
            let piece = std::mem::take(pending);
            reader.line(&String::from_utf8_lossy(&piece), from_stderr);
        }
    }

    /// Passes on what is left without a final newline.
    pub fn finish(&mut self, reader: &mut OutputReader) {
        for (pending, from_stderr) in [(&mut self.stdout, false), (&mut self.stderr, true)] {
            if !pending.is_empty() {
                let rest = std::mem::take(pending);
                reader.line(&String::from_utf8_lossy(&rest), from_stderr);
            }
        }
    }
}
