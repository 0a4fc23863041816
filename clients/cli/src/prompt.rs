//! Talking to the person at the terminal: confirmations and reading the recovery phrase.
//!
//! Prompts go to stderr (or, for the hidden phrase prompt, to the terminal itself), so stdout
//! carries only the command's result. Nothing here asks when stdin is not a terminal: a
//! script gets a clear error instead of a hang.

use crate::error::CliError;
use std::io::{BufRead, IsTerminal, Read, Write};
use zeroize::Zeroizing;

/// Longest recovery phrase read from stdin, in bytes; a phrase is well under 200.
const MAX_PHRASE_BYTES: u64 = 64 * 1024;

/// What the person must type to confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The word `yes`.
    Yes,
    /// This text (the start of an Account ID), ignoring case.
    Text(String),
}

impl Expect {
    /// Whether `answer` (a line as typed) confirms.
    pub fn matches(&self, answer: &str) -> bool {
        let answer = answer.trim();
        match self {
            Expect::Yes => answer.eq_ignore_ascii_case("yes"),
            Expect::Text(text) => !text.is_empty() && answer.eq_ignore_ascii_case(text),
        }
    }
}

/// Ask for confirmation unless `yes` was given.
///
/// `action` completes "refusing to …" in the error a script gets; `prompt` is shown to a
/// person, who must answer with `expect`.
pub fn confirm(yes: bool, action: &str, prompt: &str, expect: &Expect) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::confirmation_needs_terminal(action));
    }
    let mut stderr = std::io::stderr().lock();
    stderr
        .write_all(prompt.as_bytes())
        .and_then(|()| stderr.flush())
        .map_err(|e| CliError::io("writing the prompt", &e))?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::io("reading the answer", &e))?;
    if expect.matches(&answer) {
        Ok(())
    } else {
        Err(CliError::aborted())
    }
}

/// Read the recovery phrase: all of stdin when it is not a terminal, otherwise a prompt on
/// the terminal with echo off.
pub fn read_phrase() -> Result<Zeroizing<String>, CliError> {
    let stdin = std::io::stdin();
    let (phrase, source) = if stdin.is_terminal() {
        let phrase = rpassword::prompt_password("Recovery phrase (13 words, not shown): ")
            .map_err(|e| CliError::io("reading the recovery phrase", &e))?;
        (Zeroizing::new(phrase), "the terminal")
    } else {
        let mut phrase = Zeroizing::new(String::new());
        stdin
            .lock()
            .take(MAX_PHRASE_BYTES)
            .read_to_string(&mut phrase)
            .map_err(|e| CliError::io("reading the recovery phrase from stdin", &e))?;
        (phrase, "stdin")
    };
    if phrase.trim().is_empty() {
        return Err(CliError::empty_phrase(source));
    }
    Ok(phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_is_accepted_in_any_case_with_surrounding_space() {
        assert!(Expect::Yes.matches("yes\n"));
        assert!(Expect::Yes.matches("  YES "));
        assert!(!Expect::Yes.matches("y"));
        assert!(!Expect::Yes.matches(""));
    }

    #[test]
    fn text_must_match_exactly_ignoring_case() {
        let expect = Expect::Text("05abcdef".into());
        assert!(expect.matches("05ABCDEF\n"));
        assert!(!expect.matches("05abcde"));
        assert!(!expect.matches("yes"));
        assert!(!Expect::Text(String::new()).matches(""));
    }
}
