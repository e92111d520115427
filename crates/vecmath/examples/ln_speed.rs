//! `ln_into` against `f64::ln` value by value: agreement over many random inputs, and speed.
//!
//! `cargo run --release -p tickloop-vecmath --example ln_speed -- [ROUNDS]` (each round 2²⁰
//! values of one kind, the kinds in turn; 16 rounds by default).

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let unit = |bits: u64| (bits >> 11) as f64 / (1u64 << 53) as f64;
    let n = 1 << 20;
    let (mut mismatches, mut checked) = (0u64, 0u64);
    let (mut vector_ns, mut libm_ns) = ([0.0f64; 3], [0.0f64; 3]);
    let mut out = vec![0.0; n];
    for round in 0..rounds {
        // Three kinds: log-return ratios, prices, and any positive bits at all.
        let kind = round % 3;
        let xs: Vec<f64> = (0..n)
            .map(|_| {
                let b = next();
                match kind {
                    0 => 1.0 + (unit(b) - 0.5) * 0.14,
                    1 => 1.0 + unit(b) * 1000.0,
                    _ => f64::from_bits(b >> 1),
                }
            })
            .collect();
        let started = Instant::now();
        tickloop_vecmath::ln_into(&xs, &mut out);
        black_box(&out);
        let vector = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let libm: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
        black_box(&libm);
        let scalar = started.elapsed().as_secs_f64();
        let per = |s: f64| s * 1e9 / n as f64;
        vector_ns[kind] = if round < 3 { per(vector) } else { vector_ns[kind].min(per(vector)) };
        libm_ns[kind] = if round < 3 { per(scalar) } else { libm_ns[kind].min(per(scalar)) };
        mismatches += libm.iter().zip(&out).filter(|(a, b)| a.to_bits() != b.to_bits()).count() as u64;
        checked += n as u64;
    }
    println!("kernel {}: {checked} values, {mismatches} differ from f64::ln", tickloop_vecmath::kernel_name());
    for (kind, name) in ["ratios near 1", "prices 1..1001", "any positive bits"].iter().enumerate() {
        println!("{name}: ln_into {:.2} ns/value, f64::ln {:.2} ns/value (best round)", vector_ns[kind], libm_ns[kind]);
    }
}
