//! `shipdeck promote` and `shipdeck rollback` (part of the binary): wait until the engine has
//! seen every environment, show what would move and every gate, confirm (unless `--yes`),
//! submit through the same engine entrance the keys use, follow the steps, and exit
//! 0 done, 3 blocked, 1 failed, 2 bad input.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use shipdeck::clock::Clock;
use shipdeck::engine::checklist::{self, ChecklistMode};
use shipdeck::engine::{ActionRequest, EngineHandle, Origin, Submitted};
use shipdeck::model::{
    ActionKind, ActionPreview, ActionResult, ActionStepState, EnvironmentSnapshot, GateReport,
    GateState, Snapshot, sanitize,
};

pub const EXIT_BLOCKED: u8 = 3;
/// How long the sources get to report before the gates are judged anyway (unknown blocks).
const READY_WAIT: Duration = Duration::from_secs(90);

/// What the command line asked for.
#[derive(Debug)]
pub struct Request {
    pub kind: ActionKind,
    pub env: String,
    pub sha: Option<String>,
    pub yes: bool,
    pub break_lock: Option<String>,
    pub override_freeze: Option<String>,
    pub confirm_high_risk: bool,
    /// Release checklist items ticked with `--tick`.
    pub ticks: Vec<String>,
}

fn exit(code: u8) -> Result<ExitCode> {
    Ok(ExitCode::from(code))
}

/// Whether every source of every environment has reported once.
fn sources_seen(snapshot: &Arc<Snapshot>) -> bool {
    snapshot.environments.iter().all(|e| {
        let seen =
            |h: &shipdeck::model::SourceHealth| h.last_success.is_some() || h.last_error.is_some();
        seen(&e.health.deployments) && seen(&e.health.pipeline) && seen(&e.health.smoke)
    })
}

fn environment<'a>(snapshot: &'a Snapshot, env: &str) -> Option<&'a EnvironmentSnapshot> {
    snapshot
        .environments
        .iter()
        .find(|e| e.name.as_str() == env)
}

fn preview<'a>(snapshot: &'a Snapshot, env: &str, kind: ActionKind) -> Option<&'a ActionPreview> {
    let release = &environment(snapshot, env)?.release;
    match kind {
        ActionKind::Promote => release.promotion.as_ref(),
        ActionKind::Rollback => release.rollback.as_ref(),
    }
}

/// The preview with its checklist judged on the `--tick`s given (the engine judges them
/// again when the request arrives).
fn ticked_preview(snapshot: &Snapshot, request: &Request) -> Option<ActionPreview> {
    let mut preview = preview(snapshot, &request.env, request.kind)?.clone();
    let items = preview.checklist.clone();
    checklist::rejudge(
        &mut preview.gates,
        &items,
        &request.ticks,
        None,
        ChecklistMode::Human,
    );
    Some(preview)
}

fn print_gates(out: &mut impl Write, report: &GateReport) {
    for gate in &report.gates {
        let mark = match gate.state {
            GateState::Pass => "ok  ",
            GateState::Fail => "FAIL",
            GateState::Unknown => "??  ",
        };
        let _ = writeln!(
            out,
            "  [{mark}] {:<16} {} (needs: {}) {}",
            gate.kind.label(),
            gate.measured,
            gate.threshold,
            if gate.state == GateState::Pass {
                String::new()
            } else {
                format!("- {}", gate.reason)
            }
        );
    }
}

fn print_blocking(out: &mut impl Write, report: &GateReport) {
    let blocking = GateReport {
        gates: report.blocking().into_iter().cloned().collect(),
    };
    print_gates(out, &blocking);
}

fn print_preview(out: &mut impl Write, preview: &ActionPreview, ticks: &[String]) {
    let sha = preview.sha.as_deref().map(short).unwrap_or("?");
    let subject = preview.subject.as_ref().map(|s| s.as_str()).unwrap_or("");
    match preview.kind {
        ActionKind::Promote => {
            let _ = writeln!(
                out,
                "promote {sha} {subject} from {} into {}",
                preview.source.as_ref().map(|s| s.as_str()).unwrap_or("?"),
                preview.target
            );
        }
        ActionKind::Rollback => {
            let _ = writeln!(out, "roll {} back to {sha} {subject}", preview.target);
        }
    }
    if let Some(from) = &preview.from_sha {
        let _ = writeln!(out, "  now running {}", short(from));
    }
    for commit in &preview.commits {
        let _ = writeln!(
            out,
            "  {} {} ({})",
            short(&commit.sha),
            commit.subject,
            commit.author
        );
    }
    if preview.more_commits > 0 {
        let _ = writeln!(out, "  ... and {} more commits", preview.more_commits);
    }
    if !preview.high_risk_files.is_empty() {
        let _ = writeln!(out, "  high-risk files:");
        for file in &preview.high_risk_files {
            let _ = writeln!(out, "    {file}");
        }
    }
    if let Some(note) = &preview.freeze_note {
        let _ = writeln!(out, "  {note}");
    }
    if !preview.checklist.is_empty() {
        let _ = writeln!(out, "  checklist (--tick ID):");
        for item in &preview.checklist {
            let mark = if ticks.iter().any(|t| t == item.id.as_str()) {
                "x"
            } else {
                " "
            };
            let optional = if item.required { "" } else { " (optional)" };
            let _ = writeln!(out, "    [{mark}] {} {}{optional}", item.id, item.text);
        }
    }
    print_gates(out, &preview.gates);
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Asks on the terminal; `expected` is what must be typed.
fn ask(question: &str, expected: &str) -> bool {
    eprint!("{question} ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    line.trim() == expected
}

pub async fn run(engine: &EngineHandle, request: Request, clock: &Clock) -> Result<ExitCode> {
    let Some(actions) = engine.actions() else {
        eprintln!("shipdeck: this engine is read-only");
        return exit(super::EXIT_BAD_INPUT);
    };
    let mut snapshots = engine.snapshots();
    // First every source reports, then the gates are judged on what they said: a preview
    // from before the last source answered would show its gates as unknown.
    let timed_out = tokio::time::timeout(READY_WAIT, async {
        let seen = snapshots.wait_for(sources_seen).await.map(|s| s.version);
        let Ok(seen) = seen else { return };
        let _ = snapshots
            .wait_for(|s| {
                preview(s, &request.env, request.kind).is_some_and(|p| p.snapshot_version >= seen)
            })
            .await;
    })
    .await
    .is_err();
    let snapshot = snapshots.borrow().clone();
    if timed_out {
        eprintln!(
            "shipdeck: not every source answered within {} s; judging the gates with what is known",
            READY_WAIT.as_secs()
        );
    }
    let mut stdout = std::io::stdout();
    let confirm_by_name =
        environment(&snapshot, &request.env).is_some_and(|e| e.release.confirm_by_name);
    let ticked = ticked_preview(&snapshot, &request);
    if let Some(preview) = &ticked {
        print_preview(&mut stdout, preview, &request.ticks);
    }

    let blocked_now = ticked
        .as_ref()
        .is_some_and(|p| p.sha.is_none() || !p.gates.allowed());
    if blocked_now && !request.yes {
        // Nothing to confirm: say why and leave it to the captain to try again.
        eprintln!("shipdeck: blocked; nothing was changed:");
        if let Some(preview) = &ticked {
            print_blocking(&mut std::io::stderr(), &preview.gates);
        }
        return exit(EXIT_BLOCKED);
    }
    if !request.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("shipdeck: not confirmed: pass --yes when not running in a terminal");
            return exit(super::EXIT_BAD_INPUT);
        }
        let confirmed = if confirm_by_name {
            ask(
                &format!("Type the environment's name ({}) to go ahead:", request.env),
                &request.env,
            )
        } else {
            ask("Go ahead? Type yes:", "yes")
        };
        if !confirmed {
            eprintln!("shipdeck: not confirmed; nothing was changed");
            return exit(super::EXIT_BAD_INPUT);
        }
    }

    let mut action = ActionRequest::new(request.kind, &request.env, &super::actor(), Origin::Cli);
    action.sha = request.sha.clone();
    action.override_freeze = request.override_freeze.clone();
    action.break_lock = request.break_lock.clone();
    action.confirmed_high_risk = request.confirm_high_risk;
    action.checklist_ticks = request.ticks.clone();
    let mut answer = actions.submit(action.clone()).await?;
    if let Submitted::NeedsConfirmation(report) = &answer {
        let files = preview(&snapshot, &request.env, request.kind)
            .map(|p| {
                p.high_risk_files
                    .iter()
                    .map(|f| f.as_str().to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let interactive = !request.yes && std::io::stdin().is_terminal();
        if !interactive {
            eprintln!("shipdeck: high-risk change, not confirmed: pass --confirm-high-risk");
            for gate in report.gates.iter().filter(|g| g.needs_confirmation) {
                eprintln!("  {}: {}", gate.kind.label(), gate.reason);
            }
            return exit(EXIT_BLOCKED);
        }
        eprintln!("High-risk files change:");
        for file in &files {
            eprintln!("  {file}");
        }
        if !ask("Promote these high-risk changes? Type yes again:", "yes") {
            eprintln!("shipdeck: not confirmed; nothing was changed");
            return exit(super::EXIT_BAD_INPUT);
        }
        action.confirmed_high_risk = true;
        answer = actions.submit(action).await?;
    }
    match answer {
        Submitted::Rejected(reason) => {
            eprintln!("shipdeck: {}", sanitize(&reason, 500));
            exit(super::EXIT_BAD_INPUT)
        }
        Submitted::Blocked(report) | Submitted::NeedsConfirmation(report) => {
            eprintln!("shipdeck: blocked; nothing was changed:");
            print_blocking(&mut std::io::stderr(), &report);
            exit(EXIT_BLOCKED)
        }
        Submitted::Started { id, done } => {
            println!("{} started ({})", request.kind.word(), sanitize(&id, 80));
            follow(engine, &request.env, &id, done, clock).await
        }
    }
}

/// Prints each step as it changes until the action ends.
async fn follow(
    engine: &EngineHandle,
    env: &str,
    id: &str,
    done: tokio::sync::oneshot::Receiver<shipdeck::engine::commands::ActionOutcome>,
    clock: &Clock,
) -> Result<ExitCode> {
    let mut snapshots = engine.snapshots();
    let mut printed: Vec<(String, ActionStepState)> = Vec::new();
    let mut done = done;
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if let Some(activity) = environment(&snapshot, env)
            .and_then(|e| e.release.activity.as_ref())
            .filter(|a| a.id.as_str() == id)
        {
            for step in &activity.steps {
                let key = (step.name.as_str().to_string(), step.state);
                if step.state != ActionStepState::Pending && !printed.contains(&key) {
                    let word = match step.state {
                        ActionStepState::Running => "..",
                        ActionStepState::Done => "ok",
                        ActionStepState::Failed => "FAILED",
                        ActionStepState::Skipped => "skipped",
                        ActionStepState::Pending => "",
                    };
                    let detail = step
                        .detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    println!(
                        "{} {word:>7} {}{detail}",
                        clock.now().format("%H:%M:%S"),
                        step.name
                    );
                    printed.push(key);
                }
            }
        }
        tokio::select! {
            outcome = &mut done => {
                return match outcome {
                    Ok(outcome) if outcome.result == ActionResult::Succeeded => {
                        println!("done");
                        Ok(ExitCode::SUCCESS)
                    }
                    Ok(outcome) => {
                        eprintln!(
                            "shipdeck: {}: {}",
                            outcome.result.word(),
                            sanitize(outcome.reason.as_deref().unwrap_or("no reason given"), 500)
                        );
                        Ok(ExitCode::FAILURE)
                    }
                    Err(_) => {
                        eprintln!("shipdeck: the engine stopped before the action ended");
                        Ok(ExitCode::FAILURE)
                    }
                };
            }
            changed = snapshots.changed() => {
                if changed.is_err() {
                    eprintln!("shipdeck: the engine stopped before the action ended");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
}
