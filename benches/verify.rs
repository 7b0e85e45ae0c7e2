//! `cargo bench --bench verify`: the post-deploy verification decision benchmark, the same run
//! as `shipdeck bench verify`, printing the same table; exits 1 when a target is not met.
//! Without `--bench` (as `cargo test --benches` runs it) it only checks that a small run works.

use std::process::ExitCode;
use std::time::Instant;

use shipdeck::engine::verify_bench::{BenchConfig, run};

/// Deploys per cell for the quick check under `cargo test`.
const SMOKE_DEPLOYS_PER_CELL: usize = 20;

fn main() -> ExitCode {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let config = if benchmarking {
        BenchConfig::default()
    } else {
        BenchConfig {
            deploys_per_cell: SMOKE_DEPLOYS_PER_CELL,
            ..BenchConfig::default()
        }
    };
    let started = Instant::now();
    let report = match run(&config) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("verify bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    if !benchmarking {
        println!(
            "verify bench: {} deploys ran in {:.2} s (run with --bench for the full table)",
            report.total_deploys(),
            elapsed.as_secs_f64()
        );
        return ExitCode::SUCCESS;
    }
    print!("{}", report.table());
    println!(
        "\n{} deploys in {:.2} s",
        report.total_deploys(),
        elapsed.as_secs_f64()
    );
    if report.all_targets_met() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
