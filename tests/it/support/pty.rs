//! Drives the real `shipdeck` binary in a pseudo-terminal and reads its screen through a
//! terminal emulator, as a user would see it. Raw output bytes are kept too, for checks on
//! what reached the terminal.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

pub const DEADLINE: Duration = Duration::from_secs(45);

/// Records what the program asked of the terminal beyond drawing: titles and bells.
#[derive(Default)]
struct TerminalRequests {
    titles: Vec<Vec<u8>>,
    bells: usize,
}

impl vt100::Callbacks for TerminalRequests {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.bells += 1;
    }

    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles.push(title.to_vec());
    }

    fn set_window_icon_name(&mut self, _: &mut vt100::Screen, name: &[u8]) {
        self.titles.push(name.to_vec());
    }
}

struct Screen {
    parser: vt100::Parser<TerminalRequests>,
    raw: Vec<u8>,
}

pub struct PtySession {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Mutex<Screen>>,
    _home: tempfile::TempDir,
}

impl PtySession {
    /// Starts the binary with `args` in a `cols` x `rows` terminal, with a private HOME and
    /// XDG dirs so parallel tests share no files.
    pub fn spawn(args: &[&str], cols: u16, rows: u16) -> Self {
        Self::spawn_with_env(args, cols, rows, &[])
    }

    pub fn spawn_with_env(args: &[&str], cols: u16, rows: u16, env: &[(&str, &str)]) -> Self {
        Self::spawn_with_files(args, cols, rows, env, &[])
    }

    /// Like [`PtySession::spawn_with_env`], with `files` (paths relative to the private
    /// HOME, e.g. `config/shipdeck/themes/mine.toml`) written before the start.
    pub fn spawn_with_files(
        args: &[&str],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Self {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let home = tempfile::tempdir().expect("temp home");
        for (path, text) in files {
            let path = home.path().join(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("a dir for the file");
            }
            std::fs::write(&path, text).expect("write the file");
        }
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_shipdeck"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env("HOME", home.path());
        cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
        cmd.env("XDG_STATE_HOME", home.path().join("state"));
        cmd.env("XDG_CACHE_HOME", home.path().join("cache"));
        cmd.env_remove("SHIPDECK_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn shipdeck");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let size = |n: u16| NonZeroU16::new(n).expect("non-zero terminal size");
        let screen = Arc::new(Mutex::new(Screen {
            parser: vt100::Parser::new_with_callbacks(
                size(rows),
                size(cols),
                0,
                TerminalRequests::default(),
            ),
            raw: Vec::new(),
        }));
        let sink = Arc::clone(&screen);
        // The master must outlive the reader thread; move it there.
        let master = pair.master;
        std::thread::spawn(move || {
            let _master = master;
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut s = sink.lock().unwrap();
                        s.parser.process(&buf[..n]);
                        s.raw.extend_from_slice(&buf[..n]);
                    }
                }
            }
        });
        Self {
            child,
            writer,
            screen,
            _home: home,
        }
    }

    /// The screen's text, row by row.
    pub fn contents(&self) -> String {
        self.screen.lock().unwrap().parser.screen().contents()
    }

    /// Every window title (or icon name) the program set, in order.
    pub fn titles(&self) -> Vec<String> {
        let screen = self.screen.lock().unwrap();
        let requests = screen.parser.callbacks();
        requests
            .titles
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect()
    }

    /// How many times the program rang the terminal bell.
    pub fn bells(&self) -> usize {
        self.screen.lock().unwrap().parser.callbacks().bells
    }

    pub fn raw_output(&self) -> Vec<u8> {
        self.screen.lock().unwrap().raw.clone()
    }

    /// Waits until `ready` holds for the screen text; panics with the screen on timeout.
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.contents();
            if ready(&text) {
                return text;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; screen:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to pty");
        self.writer.flush().expect("flush pty");
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                return status.exit_code();
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("shipdeck did not exit; screen:\n{}", self.contents());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}
