//! A bench's command line: `--bench` for the full run (without it, under
//! `cargo test --all-targets`, a smoke pass), and section names to run only
//! those.

/// What the command line asked for.
pub struct Sections {
    /// `--bench`: the full run.
    pub full: bool,
    named: Vec<String>,
}

impl Sections {
    pub fn from_args() -> Sections {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Sections {
            full: args.iter().any(|a| a == "--bench"),
            named: args.into_iter().filter(|a| !a.starts_with("--")).collect(),
        }
    }

    /// Whether to run `section`: named, or no section named at all.
    pub fn wanted(&self, section: &str) -> bool {
        self.named.is_empty() || self.named.iter().any(|n| n == section)
    }
}
