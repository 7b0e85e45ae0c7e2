//! Gates judged by the engine on what the sandbox shows, blocking and then passing as the
//! world changes: the source environment's smoke checks.

use std::time::Duration;

use crate::support::release::{Bench, PROD_PR, STAGING_FF, quiet_scenario, request, wait_preview};
use shipdeck::engine::Submitted;
use shipdeck::model::{ActionKind, GateKind, GateState};
use tempfile::TempDir;

fn smoke_state(preview: &shipdeck::model::ActionPreview) -> Option<GateState> {
    preview.gates.gate(GateKind::SourceSmoke).map(|g| g.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_smoke_check_in_the_source_blocks_until_it_recovers() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    // The bench starts 30 world minutes in; staging's e-mail health is degraded from minute
    // 35 for two minutes (the scenario's 15-minute cycle).
    wait_preview(&engine, "prod", ActionKind::Promote, |p| {
        smoke_state(p) == Some(GateState::Pass)
    })
    .await;
    bench.clock.advance(Duration::from_secs(5 * 60 + 10));
    let blocked = wait_preview(&engine, "prod", ActionKind::Promote, |p| {
        smoke_state(p) == Some(GateState::Fail)
    })
    .await;
    let gate = blocked.gates.gate(GateKind::SourceSmoke).unwrap();
    assert!(gate.reason.as_str().contains("email"), "{gate:?}");
    assert!(!blocked.allowed());
    // The engine, asked now, refuses with that gate and changes nothing.
    let sender = engine.actions().unwrap();
    let mut ask = request(ActionKind::Promote, "prod");
    ask.confirmed_high_risk = true;
    match sender.submit(ask).await.unwrap() {
        Submitted::Blocked(report) => assert!(
            report
                .blocking()
                .iter()
                .any(|g| g.kind == GateKind::SourceSmoke),
            "{report:?}"
        ),
        other => panic!("expected blocked, got {other:?}"),
    }
    assert_eq!(
        bench.sandbox.write_count(),
        0,
        "a blocked promotion writes nothing"
    );

    bench.clock.advance(Duration::from_secs(150));
    let open = wait_preview(&engine, "prod", ActionKind::Promote, |p| {
        smoke_state(p) == Some(GateState::Pass)
    })
    .await;
    assert!(open.allowed(), "{:?}", open.gates);
    engine.shutdown().await;
}
