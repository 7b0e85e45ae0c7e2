//! `shipdeck screenshot` as the README uses it: the demo world drawn into an SVG, by the
//! same drawing code as the terminal, for the captain's screen and the wall.

use std::time::Duration;

use crate::support::screen::text_of;
use shipdeck::ui::Theme;
use shipdeck::ui::screenshot::{Layout, ScreenshotOptions, render_demo};

fn options(layout: Layout, theme: &str) -> ScreenshotOptions {
    ScreenshotOptions {
        width: 160,
        height: 48,
        layout,
        theme: Theme::builtin(theme).expect("a built-in theme"),
        after: Duration::from_secs(20 * 60),
        patience: Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_captains_screen_is_drawn_with_every_panel_filled() {
    let theme = Theme::builtin("high-contrast").expect("built-in");
    let buffer = render_demo(&options(Layout::Captain, "high-contrast"))
        .await
        .expect("a picture");
    let screen = text_of(&buffer);
    for word in [
        "dev", "staging", "prod", "Pipeline", "Smoke", "Errors", "Delivery",
    ] {
        assert!(screen.contains(word), "{word} is on the picture:\n{screen}");
    }
    assert!(screen.contains("p promote"), "the acting footer shows");
    let corner = buffer.cell((0, 1)).expect("a cell").bg;
    assert_eq!(
        corner, theme.background,
        "the theme's background is painted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_and_its_svg() {
    let buffer = render_demo(&options(Layout::Wall, "default"))
        .await
        .expect("a picture");
    let screen = text_of(&buffer);
    for word in ["DEV", "STAGING", "PROD", "details", "read-only wall"] {
        assert!(screen.contains(word), "{word} is on the wall:\n{screen}");
    }
    assert!(!screen.contains("p promote"), "a wall offers no action");
    let svg = shipdeck::ui::svg::buffer_to_svg(&buffer, &shipdeck::ui::svg::SvgOptions::default());
    let document = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    assert!(
        svg.len() < 120_000,
        "a picture stays small: {} bytes",
        svg.len()
    );
}

#[test]
fn the_command_writes_the_file_and_refuses_unknown_themes() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join("shot.svg");
    let run = |theme: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
            .args([
                "screenshot",
                "--size",
                "100x30",
                "--after",
                "5m",
                "--theme",
                theme,
            ])
            .arg("--out")
            .arg(&out)
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("HOME", dir.path())
            .output()
            .expect("shipdeck runs")
    };
    let done = run("light");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let svg = std::fs::read_to_string(&out).expect("the picture was written");
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{:.80}",
        svg
    );
    let refused = run("sparkly");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("sparkly") && stderr.contains("high-contrast"),
        "{stderr}"
    );
}
