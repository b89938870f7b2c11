//! Both sides of the bpf_conformance plugin protocol (FORMAT.md section 6): driving an external
//! plugin from our runner, and reading a request when xbpf itself is the plugin.

use crate::hex;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// An external plugin: the program and its leading arguments, plus options passed after the
/// memory argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginCommand {
    program: String,
    args: Vec<String>,
    options: Vec<String>,
}

/// Why a plugin command cannot be used or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The command line has no program.
    #[error("the plugin command is empty")]
    Empty,
    /// A quote is not closed; the command line.
    #[error("unterminated quote in the plugin command `{0}`")]
    UnterminatedQuote(String),
    /// The plugin process could not start.
    #[error("cannot start plugin `{program}`: {source}")]
    Spawn {
        /// The program of the command.
        program: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// Writing the plugin's input or reading its output failed.
    #[error("plugin I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The plugin ran longer than the timeout (and was killed).
    #[error("plugin did not finish within {0:?} (killed)")]
    Timeout(Duration),
}

/// What a plugin printed and how it exited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Exit status, or -1 when killed by a signal.
    pub status: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Splits a command line on whitespace, honouring single and double quotes.
pub fn split_command_line(line: &str) -> Result<Vec<String>, PluginError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for character in line.chars() {
        match quote {
            Some(open) if character == open => quote = None,
            Some(_) => current.push(character),
            None if character == '\'' || character == '"' => {
                quote = Some(character);
                in_word = true;
            }
            None if character.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(character);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(PluginError::UnterminatedQuote(line.to_string()));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

impl PluginCommand {
    /// Parses `command` (program and arguments, shell-like quoting) and `options` (split on
    /// whitespace, as the upstream runner splits `--plugin_options`).
    pub fn parse(command: &str, options: &str) -> Result<PluginCommand, PluginError> {
        let mut words = split_command_line(command)?.into_iter();
        let program = words.next().ok_or(PluginError::Empty)?;
        Ok(PluginCommand {
            program,
            args: words.collect(),
            options: options.split_whitespace().map(str::to_string).collect(),
        })
    }

    /// The command as typed.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs one test: memory hex as the first argument (when not empty), then the options;
    /// the program hex on stdin.
    pub fn run(
        &self,
        program: &[u8],
        memory: &[u8],
        timeout: Duration,
    ) -> Result<PluginOutput, PluginError> {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        if !memory.is_empty() {
            command.arg(hex::encode(memory));
        }
        command
            .args(&self.options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| PluginError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        let stdout = child.stdout.take().map(read_in_background);
        let stderr = child.stderr.take().map(read_in_background);
        if let Some(mut stdin) = child.stdin.take() {
            let text = format!("{}\n", hex::encode(program));
            // A plugin that exits without reading its input closes the pipe: not our error.
            let _ = stdin.write_all(text.as_bytes());
        }
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(50);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PluginError::Timeout(timeout));
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        };
        let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
            reader
                .and_then(|handle| handle.join().ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default()
        };
        Ok(PluginOutput {
            success: status.success(),
            status: status.code().unwrap_or(-1),
            stdout: collect(stdout),
            stderr: collect(stderr),
        })
    }
}

fn read_in_background<R: Read + Send + 'static>(mut reader: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        bytes
    })
}

/// A request to xbpf acting as a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRequest {
    /// The program bytes (8-byte slots).
    pub program: Vec<u8>,
    /// The test memory.
    pub memory: Vec<u8>,
}

impl PluginRequest {
    /// Builds a request from the plugin's arguments (the memory hex is the first argument when
    /// it does not start with `--`; `--program HEX` may replace stdin) and the stdin text.
    pub fn parse(memory_arg: Option<&str>, program_hex: &str) -> Result<Self, hex::HexError> {
        Ok(PluginRequest {
            program: hex::decode(program_hex)?,
            memory: match memory_arg {
                Some(text) => hex::decode(text)?,
                None => Vec::new(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell() {
        assert_eq!(
            split_command_line(r#"xbpf plugin --engine "jit x" 'a b'"#).unwrap(),
            vec!["xbpf", "plugin", "--engine", "jit x", "a b"]
        );
        assert!(split_command_line("a 'b").is_err());
        assert!(matches!(
            PluginCommand::parse("  ", ""),
            Err(PluginError::Empty)
        ));
    }

    #[test]
    fn requests_decode_program_and_memory() {
        let request =
            PluginRequest::parse(Some("01  02  "), "95  00  00  00  00  00  00  00  \n").unwrap();
        assert_eq!(request.memory, vec![1, 2]);
        assert_eq!(request.program.len(), 8);
    }

    #[cfg(unix)]
    #[test]
    fn runs_an_external_command_and_collects_its_output() {
        let command = PluginCommand::parse("sh -c 'cat >/dev/null; echo 0x2a'", "").unwrap();
        let output = command
            .run(&[0x95, 0, 0, 0, 0, 0, 0, 0], &[], Duration::from_secs(10))
            .unwrap();
        assert!(output.success);
        assert_eq!(output.stdout.trim(), "0x2a");
    }

    #[cfg(unix)]
    #[test]
    fn a_plugin_that_hangs_is_killed() {
        let command = PluginCommand::parse("sh -c 'exec sleep 10'", "").unwrap();
        let error = command
            .run(&[], &[], Duration::from_millis(100))
            .unwrap_err();
        assert!(matches!(error, PluginError::Timeout(_)));
    }
}
