//! The integration tests, one binary: the sandbox, the engine, the CLI and the screen, each
//! exercised over real HTTP or a pty. One binary links once, which keeps `cargo test` fast.

mod support;

mod actions_github;
mod auto_promote;
mod cli;
mod cli_act;
mod client_fixtures;
mod config_credentials;
mod config_errors;
mod config_example;
mod config_fuzz;
mod config_locate;
mod config_promotion;
mod config_smoke_flow;
mod daemon;
mod delivery;
mod e2e_pty;
mod engine_checklist;
mod engine_gates;
mod engine_github_client;
mod engine_guard;
mod engine_local;
mod engine_promote;
mod engine_recovery;
mod engine_sandbox;
mod engine_smoke_flow;
mod engine_triage;
mod error_watch;
mod examples;
mod notify;
mod red_watch;
mod sandbox_behaviour;
mod sandbox_schemas;
mod sandbox_write;
mod screenshot;
mod soak;
mod sources_release;
mod ui_loop;
mod ui_render;
mod ui_wall;
mod watch_session;
