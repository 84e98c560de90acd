//! The demo's voice: headings, plain lines, and one live status line that rewrites itself
//! on a terminal (and is printed about once a second when the output is a file or pipe).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Prints the story.
#[derive(Debug)]
pub struct Narrator {
    tty: bool,
    live_shown: bool,
    last_live: Option<Instant>,
    started: Instant,
}

impl Narrator {
    /// A narrator for this process's stdout.
    pub fn new() -> Narrator {
        Narrator {
            tty: std::io::stdout().is_terminal(),
            live_shown: false,
            last_live: None,
            started: Instant::now(),
        }
    }

    fn clear_live(&mut self) {
        if self.tty && self.live_shown {
            print!("\r\x1b[2K");
        }
        self.live_shown = false;
    }

    /// A new chapter.
    pub fn heading(&mut self, title: &str) {
        self.clear_live();
        let at = self.started.elapsed().as_secs_f64();
        println!("\n== {title}  (t+{at:.1}s)");
    }

    /// One line of the story.
    pub fn say(&mut self, line: &str) {
        self.clear_live();
        println!("   {line}");
    }

    /// The live status line.
    pub fn live(&mut self, line: &str) {
        if self.tty {
            print!("\r\x1b[2K   {line}");
            let _ = std::io::stdout().flush();
            self.live_shown = true;
        } else if self
            .last_live
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            println!("   {line}");
            self.last_live = Some(Instant::now());
        }
    }

    /// Ends the live line so that the next output starts on a fresh line.
    pub fn settle(&mut self) {
        if self.tty && self.live_shown {
            println!();
        }
        self.live_shown = false;
    }

    /// Time since the story began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Default for Narrator {
    fn default() -> Self {
        Narrator::new()
    }
}
