//! The `command` strategy: runs a configured local program (never through a shell) with the
//! candidate's SHA, the environment and the previous SHA substituted into its arguments,
//! streams what it prints line by line as sanitized text, and kills it when it overruns its
//! time.

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use crate::model::SafeText;

/// Bytes of one output line kept before the rest of that line is dropped (a program printing
/// without newlines must not grow memory without bound).
const MAX_LINE_BYTES: usize = 8 * 1024;
/// Characters of one line reported after sanitizing.
const MAX_LINE_CHARS: usize = 1_000;
/// Lines reported per run; later ones are only counted.
pub const MAX_REPORTED_LINES: usize = 10_000;

/// The program and its arguments, from `promotion.command` or `rollback.command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub argv: Vec<String>,
}

/// What the placeholders `{sha}`, `{env}` and `{previous_sha}` stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandVars {
    pub sha: String,
    pub env: String,
    /// Absent when the environment never ran anything; substituted as an empty string.
    pub previous_sha: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One line the program printed, sanitized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: OutputStream,
    pub text: SafeText,
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandExit {
    /// The exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// The signal that ended it (unix only).
    pub signal: Option<i32>,
    /// Lines printed beyond [`MAX_REPORTED_LINES`], counted but not reported.
    pub lines_dropped: usize,
}

impl CommandExit {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("no command is configured")]
    EmptyCommand,
    #[error("refusing to run: {0:?} is not a commit SHA (7 to 40 hex characters)")]
    BadSha(SafeText),
    #[error("program not found: {0}")]
    NotFound(SafeText),
    #[error("cannot start the program: {0}")]
    Spawn(String),
    #[error("the command did not finish within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
}

/// Runs `spec` with `vars` substituted, reporting each output line to `lines` as it comes.
/// The SHAs are checked before anything runs; the child is killed at `timeout` (and if this
/// future is dropped).
pub async fn run_command(
    spec: &CommandSpec,
    vars: &CommandVars,
    timeout: Duration,
    mut lines: impl FnMut(OutputLine),
) -> Result<CommandExit, CommandError> {
    let argv = substitute(spec, vars)?;
    let (program, args) = argv.split_first().ok_or(CommandError::EmptyCommand)?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                CommandError::NotFound(SafeText::with_max(program, 200))
            }
            _ => CommandError::Spawn(crate::model::sanitize(&e.to_string(), 200)),
        })?;
    let deadline = tokio::time::Instant::now() + timeout;

    let mut sources: Vec<BoxStream<'static, OutputLine>> = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        sources.push(line_stream(stdout, OutputStream::Stdout));
    }
    if let Some(stderr) = child.stderr.take() {
        sources.push(line_stream(stderr, OutputStream::Stderr));
    }
    let mut output = stream::select_all(sources);
    let mut reported = 0usize;
    let mut dropped = 0usize;
    loop {
        tokio::select! {
            line = output.next() => match line {
                Some(line) => {
                    if reported < MAX_REPORTED_LINES {
                        reported += 1;
                        lines(line);
                    } else {
                        dropped += 1;
                    }
                }
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => {
                return Err(kill(&mut child, timeout).await);
            }
        }
    }
    // The program may close its output and keep running: its time limit still holds.
    let waited = tokio::select! {
        waited = child.wait() => waited,
        () = tokio::time::sleep_until(deadline) => return Err(kill(&mut child, timeout).await),
    };
    let status =
        waited.map_err(|e| CommandError::Spawn(crate::model::sanitize(&e.to_string(), 200)))?;
    Ok(CommandExit {
        code: status.code(),
        signal: exit_signal(&status),
        lines_dropped: dropped,
    })
}

async fn kill(child: &mut tokio::process::Child, timeout: Duration) -> CommandError {
    // Errors here mean the child already exited; the timeout is still what happened.
    let _ = child.kill().await;
    CommandError::TimedOut(timeout)
}

#[cfg(unix)]
fn exit_signal(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn exit_signal(_status: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// The argument vector with placeholders filled in, after checking the SHAs.
pub fn substitute(spec: &CommandSpec, vars: &CommandVars) -> Result<Vec<String>, CommandError> {
    if spec.argv.is_empty() || spec.argv[0].is_empty() {
        return Err(CommandError::EmptyCommand);
    }
    check_sha(&vars.sha)?;
    if let Some(previous) = &vars.previous_sha {
        check_sha(previous)?;
    }
    let previous = vars.previous_sha.as_deref().unwrap_or("");
    let placeholders = [
        ("{previous_sha}", previous),
        ("{sha}", vars.sha.as_str()),
        ("{env}", vars.env.as_str()),
    ];
    Ok(spec
        .argv
        .iter()
        .map(|arg| fill(arg, &placeholders))
        .collect())
}

/// One pass over `arg`, so a value that itself looks like a placeholder is not expanded again.
fn fill(arg: &str, placeholders: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    'scan: while !rest.is_empty() {
        if rest.starts_with('{') {
            for (name, value) in placeholders {
                if let Some(after) = rest.strip_prefix(name) {
                    out.push_str(value);
                    rest = after;
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn check_sha(sha: &str) -> Result<(), CommandError> {
    let valid = (7..=40).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit());
    if valid {
        Ok(())
    } else {
        Err(CommandError::BadSha(SafeText::with_max(sha, 60)))
    }
}

/// The lines of one pipe, each cut at [`MAX_LINE_BYTES`] and sanitized.
fn line_stream<R>(pipe: R, stream_kind: OutputStream) -> BoxStream<'static, OutputLine>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    stream::unfold(BufReader::new(pipe), move |mut reader| async move {
        let raw = read_capped_line(&mut reader).await?;
        let text = String::from_utf8_lossy(&raw);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let line = OutputLine {
            stream: stream_kind,
            text: SafeText::with_max(text, MAX_LINE_CHARS),
        };
        Some((line, reader))
    })
    .boxed()
}

/// The next line without its newline (`None` at end of output or on a read error); bytes past
/// the cap are read and thrown away.
async fn read_capped_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut read_any = false;
    loop {
        let buffer = reader.fill_buf().await.ok()?;
        if buffer.is_empty() {
            return read_any.then_some(line);
        }
        read_any = true;
        let (chunk, used, ended) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..at], at + 1, true),
            None => (buffer, buffer.len(), false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        reader.consume(used);
        if ended {
            return Some(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const PREVIOUS: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn vars() -> CommandVars {
        CommandVars {
            sha: SHA.to_string(),
            env: "prod".to_string(),
            previous_sha: Some(PREVIOUS.to_string()),
        }
    }

    fn spec(argv: &[&str]) -> CommandSpec {
        CommandSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn sh(script: &str) -> CommandSpec {
        spec(&["sh", "-c", script])
    }

    async fn run(
        spec: &CommandSpec,
        vars: &CommandVars,
        timeout: Duration,
    ) -> (Result<CommandExit, CommandError>, Vec<OutputLine>) {
        let mut seen = Vec::new();
        let result = run_command(spec, vars, timeout, |line| seen.push(line)).await;
        (result, seen)
    }

    fn texts(lines: &[OutputLine], stream: OutputStream) -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.to_string())
            .collect()
    }

    #[test]
    fn substitutes_whole_and_partial_arguments() {
        let argv = substitute(
            &spec(&[
                "deploy",
                "{sha}",
                "--env={env}",
                "--from={previous_sha}",
                "{other}",
            ]),
            &vars(),
        )
        .unwrap();
        assert_eq!(
            argv,
            vec![
                "deploy".to_string(),
                SHA.to_string(),
                "--env=prod".to_string(),
                format!("--from={PREVIOUS}"),
                "{other}".to_string(),
            ]
        );
    }

    #[test]
    fn a_missing_previous_sha_is_empty_and_values_are_not_expanded_twice() {
        let vars = CommandVars {
            env: "{sha}".to_string(),
            previous_sha: None,
            ..vars()
        };
        let argv = substitute(&spec(&["x", "[{previous_sha}]", "{env}"]), &vars).unwrap();
        assert_eq!(argv, vec!["x", "[]", "{sha}"]);
    }

    #[test]
    fn short_shas_pass_and_non_hex_fail() {
        let mut v = vars();
        v.sha = "abc1234".to_string();
        assert!(substitute(&spec(&["x"]), &v).is_ok());
        for bad in [
            "abc123",
            "xyz1234",
            "",
            &"a".repeat(41),
            "abc1234; rm -rf /",
        ] {
            v.sha = bad.to_string();
            assert!(matches!(
                substitute(&spec(&["x"]), &v),
                Err(CommandError::BadSha(_))
            ));
        }
        let mut v = vars();
        v.previous_sha = Some("not-a-sha".to_string());
        assert!(matches!(
            substitute(&spec(&["x"]), &v),
            Err(CommandError::BadSha(_))
        ));
    }

    #[tokio::test]
    async fn a_bad_sha_is_refused_before_anything_runs() {
        let dir = tempfile::TempDir::new().unwrap();
        let marker = dir.path().join("ran");
        let script = format!("touch '{}'", marker.display());
        let mut v = vars();
        v.sha = "$(reboot)".to_string();
        let (result, lines) = run(&sh(&script), &v, Duration::from_secs(10)).await;
        assert!(matches!(result, Err(CommandError::BadSha(_))));
        assert!(lines.is_empty());
        assert!(!marker.exists());

        // The same program with a good SHA does run, so the check above proves something.
        let (result, _) = run(&sh(&script), &vars(), Duration::from_secs(10)).await;
        assert!(result.unwrap().success());
        assert!(marker.exists());
    }

    #[tokio::test]
    async fn echo_receives_the_substituted_sha_as_one_argument() {
        let (result, lines) = run(
            &spec(&["/bin/echo", "{sha}", "to {env}"]),
            &vars(),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(result.unwrap().code, Some(0));
        assert_eq!(
            texts(&lines, OutputStream::Stdout),
            vec![format!("{SHA} to prod")]
        );
    }

    #[tokio::test]
    async fn lines_arrive_in_order_per_stream_with_the_exit_code() {
        let script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf tail; exit 3";
        let (result, lines) = run(&sh(script), &vars(), Duration::from_secs(10)).await;
        let exit = result.unwrap();
        assert_eq!(exit.code, Some(3));
        assert!(!exit.success());
        assert_eq!(
            texts(&lines, OutputStream::Stdout),
            vec!["out1", "out2", "out3", "out4", "out5", "tail"]
        );
        assert_eq!(
            texts(&lines, OutputStream::Stderr),
            vec!["err1", "err2", "err3", "err4", "err5"]
        );
    }

    #[tokio::test]
    async fn lines_are_reported_while_the_program_still_runs() {
        let dir = tempfile::TempDir::new().unwrap();
        let gate = dir.path().join("go");
        // The program prints, then waits for a file that only the line callback creates.
        let script = format!(
            "echo ready; while [ ! -e '{0}' ]; do sleep 0.05; done; echo finished",
            gate.display()
        );
        let mut seen = Vec::new();
        let result = run_command(&sh(&script), &vars(), Duration::from_secs(20), |line| {
            if line.text.as_str() == "ready" {
                std::fs::write(&gate, b"").unwrap();
            }
            seen.push(line.text.to_string());
        })
        .await;
        assert!(result.unwrap().success());
        assert_eq!(seen, vec!["ready", "finished"]);
    }

    #[tokio::test]
    async fn a_signal_is_reported() {
        let (result, _) = run(&sh("kill -TERM $$"), &vars(), Duration::from_secs(10)).await;
        let exit = result.unwrap();
        assert_eq!(exit.code, None);
        assert_eq!(exit.signal, Some(15));
    }

    #[tokio::test]
    async fn an_overrunning_program_is_killed_at_the_timeout() {
        let started = std::time::Instant::now();
        let (result, _) = run(&spec(&["sleep", "30"]), &vars(), Duration::from_millis(300)).await;
        assert!(matches!(result, Err(CommandError::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[tokio::test]
    async fn closing_its_output_does_not_escape_the_timeout() {
        let (result, lines) = run(
            &sh("echo bye; exec >&- 2>&-; exec sleep 30"),
            &vars(),
            Duration::from_millis(500),
        )
        .await;
        assert!(matches!(result, Err(CommandError::TimedOut(_))));
        assert_eq!(texts(&lines, OutputStream::Stdout), vec!["bye"]);
    }

    #[tokio::test]
    async fn a_missing_program_is_not_found() {
        let (result, _) = run(
            &spec(&["/nonexistent/shipdeck-deploy"]),
            &vars(),
            Duration::from_secs(5),
        )
        .await;
        match result {
            Err(CommandError::NotFound(program)) => {
                assert_eq!(program.as_str(), "/nonexistent/shipdeck-deploy")
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        let (result, _) = run(&spec(&[]), &vars(), Duration::from_secs(5)).await;
        assert!(matches!(result, Err(CommandError::EmptyCommand)));
    }

    #[tokio::test]
    async fn hostile_output_is_sanitized() {
        let script = r"printf '\033]0;owned\007\033[31mred\033[0m \342\200\256evil\r\n'";
        let (result, lines) = run(&sh(script), &vars(), Duration::from_secs(10)).await;
        assert!(result.unwrap().success());
        let out = texts(&lines, OutputStream::Stdout);
        assert_eq!(out, vec!["]0;owned[31mred[0m evil"]);
        assert!(out[0].chars().all(|c| !c.is_control()));
    }

    #[tokio::test]
    async fn long_lines_are_capped_and_extra_lines_counted() {
        let script = format!(
            "head -c 100000 /dev/zero | tr '\\0' x; echo; i=0; while [ $i -lt {} ]; do echo l; i=$((i+1)); done",
            MAX_REPORTED_LINES + 5
        );
        let (result, lines) = run(&sh(&script), &vars(), Duration::from_secs(60)).await;
        let exit = result.unwrap();
        assert_eq!(lines.len(), MAX_REPORTED_LINES);
        assert_eq!(exit.lines_dropped, 6);
        assert!(lines[0].text.as_str().chars().count() <= MAX_LINE_CHARS);
        assert!(lines[0].text.as_str().ends_with('…'));
    }
}
