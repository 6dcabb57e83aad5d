//! A tiny command-line parser: `--name value` or `--name=value` flags, each with an
//! environment-variable fallback and a default.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A flag that was given a value its type cannot hold, an unknown flag, or `--help`
/// (then the message is the usage, and not an error: see [`exit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    message: String,
    help: bool,
}

impl ArgError {
    fn new(message: String) -> ArgError {
        ArgError {
            message,
            help: false,
        }
    }

    /// Whether this is the answer to `--help` rather than a mistake.
    pub fn is_help(&self) -> bool {
        self.help
    }
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Ends a binary with the outcome of its work: on failure, `program: error` on stderr (the
/// message, not `main`'s `Error: Debug` form) and exit status 1; the usage asked for with
/// `--help` goes to stdout with status 0.
pub fn exit(program: &str, result: Result<(), crate::service::BoxError>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<ArgError>().is_some_and(ArgError::is_help) => {
            say(std::io::stdout(), e);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            say(std::io::stderr(), format_args!("{program}: {e}"));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes `line` and a newline to `out` (stdout or stderr), if it can: a reader that has
/// gone (`mesh --help | true`, `mesh 2>&1 | head -1`) is no reason to stop, and
/// `println!`/`eprintln!` would panic on the closed pipe (Rust ignores SIGPIPE).
pub fn say(mut out: impl std::io::Write, line: impl fmt::Display) {
    let _ = writeln!(out, "{line}");
}

impl std::error::Error for ArgError {}

/// The flags of one command line, looked up by name with an environment fallback.
///
/// ```
/// use obs_examples::args::Args;
///
/// let args = Args::parse_from(["--addr", "127.0.0.1:9000", "--slow-ms=50"]).unwrap();
/// assert_eq!(args.string("addr", "ADDR", "0.0.0.0:8082"), "127.0.0.1:9000");
/// assert_eq!(args.value::<u64>("slow-ms", "SLOW_MS", 300).unwrap(), 50);
/// assert_eq!(args.optional("orders-url", "OBS_EXAMPLES_UNSET_VARIABLE"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Args {
    flags: HashMap<String, String>,
    /// Flags given without a value, reported by [`Args::reject_unknown`] after unknown
    /// ones: `--verbose` at the end is a typo before it is a flag missing its value.
    without_value: Vec<String>,
    help: bool,
}

impl Args {
    /// Parses the process's arguments (without the program name).
    pub fn from_env() -> Result<Args, ArgError> {
        Args::parse_from(std::env::args().skip(1))
    }

    /// Parses `--name value` and `--name=value` pairs, and `--help` (or `-h`), which
    /// [`Args::reject_unknown`] answers with the usage; anything else is an error. A flag
    /// followed by another flag, or by nothing, has no value: [`Args::reject_unknown`]
    /// says so.
    pub fn parse_from<I, S>(arguments: I) -> Result<Args, ArgError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut flags = HashMap::new();
        let mut without_value = Vec::new();
        let mut help = false;
        let mut arguments = arguments.into_iter().map(Into::into).peekable();
        // What can't be a flag's value: a value may start with one `-` (`-5`), not two.
        let is_flag = |argument: &String| argument.starts_with("--") || argument == "-h";
        while let Some(argument) = arguments.next() {
            if argument == "--help" || argument == "-h" {
                help = true;
                continue;
            }
            let Some(flag) = argument.strip_prefix("--") else {
                return Err(ArgError::new(format!(
                    "unexpected argument {argument:?}: flags look like --name value (--help lists them)"
                )));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => match arguments.next_if(|next| !is_flag(next)) {
                    Some(value) => (flag.to_owned(), value),
                    None => {
                        without_value.push(flag.to_owned());
                        continue;
                    }
                },
            };
            flags.insert(name, value);
        }
        Ok(Args {
            flags,
            without_value,
            help,
        })
    }

    /// The flag `--name`, else the variable `env`, else `None`.
    pub fn optional(&self, name: &str, env: &str) -> Option<String> {
        self.flags
            .get(name)
            .cloned()
            .or_else(|| std::env::var(env).ok().filter(|value| !value.is_empty()))
    }

    /// The flag `--name`, else the variable `env`, else `default`.
    pub fn string(&self, name: &str, env: &str, default: &str) -> String {
        self.optional(name, env)
            .unwrap_or_else(|| default.to_owned())
    }

    /// Like [`Args::string`], parsed as `T`.
    pub fn value<T: FromStr>(&self, name: &str, env: &str, default: T) -> Result<T, ArgError>
    where
        T::Err: fmt::Display,
    {
        match self.optional(name, env) {
            Some(text) => text
                .parse()
                .map_err(|e| ArgError::new(format!("--{name} {text:?}: {e}"))),
            None => Ok(default),
        }
    }

    /// Fails naming the first flag not in `known`, so a typo does not pass silently; after
    /// `--help`, "fails" with the usage (see [`ArgError::is_help`]). `known` pairs each flag
    /// with the environment variable read when it is not given, so that the usage names
    /// both: the variables are documented nowhere else.
    pub fn reject_unknown(&self, known: &[(&str, &str)]) -> Result<(), ArgError> {
        if self.help {
            let lines: Vec<String> = known
                .iter()
                .map(|(flag, env)| format!("  --{flag} VALUE (or env {env})"))
                .collect();
            return Err(ArgError {
                message: format!("flags:\n{}", lines.join("\n")),
                help: true,
            });
        }
        match self
            .flags
            .keys()
            .chain(&self.without_value)
            .find(|name| !known.iter().any(|(flag, _)| flag == name))
        {
            Some(name) => Err(ArgError::new(format!(
                "unknown flag --{name}; known: --{}",
                known
                    .iter()
                    .map(|(flag, _)| *flag)
                    .collect::<Vec<_>>()
                    .join(", --")
            ))),
            None => match self.without_value.first() {
                Some(name) => Err(ArgError::new(format!("--{name} needs a value"))),
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_defaults_and_bad_input_is_named() {
        let args = Args::parse_from(["--requests", "20", "--html=out.html"]).unwrap();
        assert_eq!(
            args.value::<usize>("requests", "OBS_EXAMPLES_UNSET", 300)
                .unwrap(),
            20
        );
        assert_eq!(
            args.optional("html", "OBS_EXAMPLES_UNSET").as_deref(),
            Some("out.html")
        );
        assert_eq!(
            args.string("addr", "OBS_EXAMPLES_UNSET", "0.0.0.0:1"),
            "0.0.0.0:1"
        );
        assert!(
            args.reject_unknown(&[("requests", "R"), ("html", "H")])
                .is_ok()
        );
        let unknown = args.reject_unknown(&[("requests", "R")]).unwrap_err();
        assert!(unknown.to_string().contains("--html"), "{unknown}");

        let bad = Args::parse_from(["--requests", "many"]).unwrap();
        let error = bad
            .value::<usize>("requests", "OBS_EXAMPLES_UNSET", 1)
            .unwrap_err();
        assert!(error.to_string().contains("many"), "{error}");
        assert!(Args::parse_from(["requests"]).is_err());
        assert!(!error.is_help() && !unknown.is_help());
    }

    #[test]
    fn a_flag_without_a_value_is_named_unknown_first_and_takes_no_flag_as_its_value() {
        let known = [("requests", "R"), ("html", "H")];
        let check = |arguments: &[&str]| {
            Args::parse_from(arguments.iter().copied()).and_then(|a| a.reject_unknown(&known))
        };
        // A typo at the end is an unknown flag, not one missing its value.
        let error = check(&["--verbose"]).unwrap_err();
        assert!(
            error.to_string().starts_with("unknown flag --verbose"),
            "{error}"
        );
        // The next flag is no value: `--html` is the one missing it, and `--requests` keeps 10.
        let error = check(&["--html", "--requests", "10"]).unwrap_err();
        assert_eq!(error.to_string(), "--html needs a value");
        assert!(check(&["--requests"]).is_err());
        // `--help` after a flag still asks for the usage.
        assert!(check(&["--requests", "--help"]).unwrap_err().is_help());
    }

    #[test]
    fn help_lists_the_flags_and_is_no_error() {
        for flag in ["--help", "-h"] {
            let args = Args::parse_from(["--requests", "20", flag]).unwrap();
            let help = args
                .reject_unknown(&[("requests", "MESH_REQUESTS"), ("html", "MESH_HTML")])
                .unwrap_err();
            assert!(help.is_help());
            assert_eq!(
                help.to_string(),
                "flags:\n  --requests VALUE (or env MESH_REQUESTS)\n  --html VALUE (or env MESH_HTML)"
            );
            let boxed: crate::service::BoxError = Box::new(help);
            assert_eq!(exit("mesh", Err(boxed)), std::process::ExitCode::SUCCESS);
        }
        let mistake: crate::service::BoxError = Box::new(
            Args::parse_from(["--nope", "1"])
                .unwrap()
                .reject_unknown(&[("requests", "MESH_REQUESTS")])
                .unwrap_err(),
        );
        assert_eq!(exit("mesh", Err(mistake)), std::process::ExitCode::FAILURE);
    }
}
