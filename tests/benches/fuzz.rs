//! Mutation fuzzing of every parser that reads another process's or a
//! person's input: `cargo bench -p cattery-tests --bench fuzz [TOTAL]`
//! (default 10,000,000 inputs), split across the targets by weight. Fails
//! on any panic, printing the input; reports the peak memory.

use cattery_tests::fuzz::{Rng, fuzz, peak_rss_kib, targets};
use std::time::Instant;

fn main() {
    let total: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    // Parsers that panic are the finding; their messages are noise here.
    std::panic::set_hook(Box::new(|_| {}));
    let targets = targets();
    let weights: u64 = targets.iter().map(|t| u64::from(t.weight)).sum();
    let mut rng = Rng::new(0x5eed_cafe);
    let mut inputs = 0;
    let mut failed = false;
    let started = Instant::now();
    for target in &targets {
        let share = total * u64::from(target.weight) / weights;
        let clock = Instant::now();
        let found = fuzz(target, share, &mut rng);
        let secs = clock.elapsed().as_secs_f64();
        println!(
            "{:<20} {:>10} inputs  {:>9.0}/s  {} panics",
            target.name,
            found.inputs,
            found.inputs as f64 / secs.max(1e-9),
            found.panics
        );
        if let Some(input) = found.first_panic {
            failed = true;
            println!(
                "  first panicking input: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
        inputs += found.inputs;
    }
    println!(
        "total {inputs} inputs in {:.1}s, peak memory {} MiB",
        started.elapsed().as_secs_f64(),
        peak_rss_kib() / 1024
    );
    if failed {
        std::process::exit(1);
    }
}
