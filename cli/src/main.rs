//! `mdlsim`: audit the built-in buffer strategies, replay scenario files with their page
//! maps, explain bug classes. The whole command is [`mdlsim_cli::Cli`] over the built-in
//! and zoo strategies; a program adds its own with `Cli::new().strategy(..)`. Exit
//! status: 0 all as expected, 1 a strategy or scenario did not behave as documented,
//! 2 bad input or a usage error (one line on stderr: the file and position, the flag, or
//! the variable, and what was expected).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

fn main() -> std::process::ExitCode {
    mdlsim_cli::Cli::new().run_from_env()
}
