//! A short, bounded slice of the fuzzing bench, so CI runs every target.

use cattery_tests::fuzz::{Rng, fuzz, peak_rss_kib, targets};

#[test]
fn a_slice_of_mutated_inputs_makes_no_parser_panic_or_balloon() {
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng::new(7);
    for target in targets() {
        let found = fuzz(&target, 300 * u64::from(target.weight), &mut rng);
        assert_eq!(
            found.panics,
            0,
            "{} panicked on {:?}",
            target.name,
            found
                .first_panic
                .map(|i| String::from_utf8_lossy(&i).into_owned())
        );
    }
    assert!(peak_rss_kib() < 1024 * 1024, "memory grew past 1 GiB");
}
