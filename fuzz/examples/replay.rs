//! Runs fuzz inputs through a target on stable Rust, with timing, for triage:
//!
//! ```sh
//! cargo run --release --manifest-path fuzz/Cargo.toml --example replay -- TARGET FILE...
//! ```
//!
//! A failing input panics as it does under the fuzzer, with the same message.

use std::time::Instant;
use xbpf_fuzz::targets;

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_default();
    let run: fn(&[u8]) = match target.as_str() {
        "decode" => targets::decode,
        "assemble" => targets::assemble_text,
        "differential" => targets::differential,
        "verify" => targets::verify_any,
        "soundness" => targets::soundness,
        "conformance_data" => targets::conformance_data,
        "elf" => targets::elf,
        _ => {
            eprintln!(
                "usage: replay TARGET FILE... (TARGET: decode, assemble, differential, verify, \
                 soundness, conformance_data, elf)"
            );
            std::process::exit(2);
        }
    };
    for path in args {
        let data = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        let started = Instant::now();
        run(&data);
        println!("{path}: ok in {:.3} s", started.elapsed().as_secs_f64());
    }
}
