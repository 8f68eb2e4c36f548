//! The README's GraphQL examples, run as written: the `$ ` commands of the console blocks of
//! its "GraphQL API" section go through `bash` (with real `curl`) against a served Tally, after
//! the setup its "Meters and usage" section shows, and must print what the README shows. Only
//! `localhost:8080` is replaced (by the served address) and dates are normalised, since the
//! README's output was captured on another day.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::process::Command;

use super::support::{Serve, TestEnv, eventually, run_bounded};

/// A `$ ` command of a console block and the lines shown after it.
#[derive(Debug)]
struct Example {
    command: String,
    output: String,
}

/// The text of the README section under `## HEADING`, up to the next `## `.
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let title = format!("## {heading}\n");
    let start = if readme.starts_with(&title) {
        0
    } else {
        readme
            .find(&format!("\n{title}"))
            .unwrap_or_else(|| panic!("the README has a section {heading:?}"))
            + 1
    };
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |end| start + 3 + end);
    &readme[start..end]
}

/// Whether `command` is complete as bash reads it: no open quote, no trailing backslash.
fn complete(command: &str) -> bool {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for character in command.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match character {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '\\' if !single => escaped = true,
            _ => {}
        }
    }
    !single && !double && !escaped
}

/// The commands of a section's console blocks, each with the output shown after it.
fn examples(section: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut in_console = false;
    let mut open_command: Option<String> = None;
    for line in section.lines() {
        if !in_console {
            in_console = line == "```console";
            continue;
        }
        if line == "```" {
            in_console = false;
            assert!(open_command.is_none(), "an unfinished command in {section}");
            continue;
        }
        if let Some(mut command) = open_command.take() {
            command.push('\n');
            command.push_str(line);
            if complete(&command) {
                examples.push(Example {
                    command,
                    output: String::new(),
                });
            } else {
                open_command = Some(command);
            }
        } else if let Some(command) = line.strip_prefix("$ ") {
            if complete(command) {
                examples.push(Example {
                    command: command.to_owned(),
                    output: String::new(),
                });
            } else {
                open_command = Some(command.to_owned());
            }
        } else {
            let example = examples
                .last_mut()
                .unwrap_or_else(|| panic!("output before any command: {line}"));
            if !example.output.is_empty() {
                example.output.push('\n');
            }
            example.output.push_str(line);
        }
    }
    examples
}

/// `text` with every date (`YYYY-MM-DD`) replaced by `<date>`.
fn without_dates(text: &str) -> String {
    let pattern = b"dddd-dd-dd";
    let bytes = text.as_bytes();
    let mut normalised = String::with_capacity(text.len());
    let mut index = 0;
    while index < bytes.len() {
        let is_date = bytes.len() - index >= pattern.len()
            && pattern
                .iter()
                .zip(&bytes[index..])
                .all(|(expected, byte)| match expected {
                    b'd' => byte.is_ascii_digit(),
                    other => byte == other,
                });
        if is_date {
            normalised.push_str("<date>");
            index += pattern.len();
        } else {
            let character = text[index..].chars().next().expect("a character");
            normalised.push(character);
            index += character.len_utf8();
        }
    }
    normalised
}

/// Runs README commands in `bash` with the variables the README uses and `tally` bound to the
/// binary under test, configured for the test's namespace.
struct Shell {
    base: String,
    variables: BTreeMap<String, String>,
}

impl Shell {
    fn new(env: &TestEnv, serve: &Serve, keys: &[(&str, &str)]) -> Self {
        let tally = env.tally();
        let tally = tally.as_std();
        let mut variables: BTreeMap<String, String> = tally
            .get_envs()
            .filter_map(|(name, value)| {
                Some((name.to_str()?.to_owned(), value?.to_str()?.to_owned()))
            })
            .collect();
        variables.insert(
            "TALLY_BIN".to_owned(),
            tally.get_program().to_string_lossy().into_owned(),
        );
        for (name, value) in keys {
            variables.insert((*name).to_owned(), (*value).to_owned());
        }
        Self {
            base: serve.base.clone(),
            variables,
        }
    }

    /// Runs `command`, insisting that it succeeds; returns what it printed on standard output
    /// and standard error, in order.
    async fn run(&self, command: &str) -> String {
        let script = format!(
            "set -euo pipefail\nexec 2>&1\ntally() {{ \"$TALLY_BIN\" \"$@\"; }}\n{}",
            command.replace("localhost:8080", &self.base)
        );
        let output = run_bounded(
            Command::new("bash")
                .arg("-c")
                .arg(&script)
                .envs(&self.variables)
                .current_dir(std::env::temp_dir()),
        )
        .await;
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "`{command}` failed ({}): {printed}",
            output.status
        );
        printed
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_graphql_examples_run_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("reads README.md");
    let setup = examples(section(&readme, "Meters and usage"));
    let graphql = examples(section(&readme, "GraphQL API"));
    assert!(
        graphql
            .iter()
            .any(|example| example.command.starts_with("curl ")),
        "the GraphQL section has curl examples: {graphql:?}"
    );

    // The tenant and keys of the Quick start, plus the admin key the GraphQL section asks for.
    let env = TestEnv::migrated().await;
    let serve = env.serve("ingest,meter,api", &[]).await;
    env.run_ok(&["tenant", "create", "--name", "acme"]).await;
    let key = async |scope: &str| {
        env.run_ok(&["key", "create", "--tenant", "acme", "--scope", scope])
            .await
            .trim()
            .to_owned()
    };
    let ingest = key("ingest").await;
    let admin = key("admin").await;
    let shell = Shell::new(
        &env,
        &serve,
        &[
            ("KEY", &ingest),
            ("INGEST_KEY", &ingest),
            ("ADMIN_KEY", &admin),
        ],
    );

    // "Meters and usage": its meter and events. Its `tally usage` reads show per-minute times of
    // the day it was written, so they are left out; commands shown without output run for their
    // effect.
    let mut ran_setup = 0;
    for example in setup
        .iter()
        .filter(|example| !example.command.starts_with("tally usage"))
    {
        let printed = shell.run(&example.command).await;
        if !example.output.is_empty() {
            assert_eq!(
                without_dates(printed.trim_end()),
                without_dates(&example.output),
                "`{}`",
                example.command
            );
        }
        ran_setup += 1;
    }
    assert!(ran_setup >= 2, "the meter and the events: {setup:?}");

    // "GraphQL API": each example until it prints what the README shows (the aggregator needs
    // a moment to count the events).
    for example in &graphql {
        let expected = without_dates(&example.output);
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(300),
            async || {
                let printed = without_dates(shell.run(&example.command).await.trim_end());
                if printed == expected {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` printed\n{printed}\nbut the README shows\n{expected}",
                        example.command
                    ))
                }
            },
        )
        .await;
    }
}

#[test]
fn console_blocks_split_into_commands_and_output() {
    let text = "## S\n```console\n$ a \\\n  b\nout 1\nout 2\n$ c '[\nd]'\n$ e\n```\n";
    let found = examples(section(text, "S"));
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|example| (example.command.as_str(), example.output.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [("a \\\n  b", "out 1\nout 2"), ("c '[\nd]'", ""), ("e", "")]
    );
    assert_eq!(
        without_dates("at 2026-11-22T00:00:00Z, 1-2"),
        "at <date>T00:00:00Z, 1-2"
    );
}
