//! The docs cannot drift from the tool: the README's commands run as written, in order, on the
//! devnet they start themselves, and every `hrm` command line anywhere in the docs parses.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::web::HttpVisitor;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// The command lines of a Markdown text's ```sh blocks: continuation lines joined, blank and
/// comment-only lines left out.
fn shell_lines(markdown: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block && trimmed == "```sh";
            continue;
        }
        if !in_block || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => pending.push_str(&format!("{} ", start.trim_end())),
            None => {
                pending.push_str(trimmed);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    lines
}

/// Splits a command line into words as a shell would, up to a comment; operators (`|`, `&&`,
/// `;`, `>`, `&`) become words of their own.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '|' | '&' | ';' | '>' | '<') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                let mut operator = c.to_string();
                if chars.peek() == Some(&c) {
                    operator.push(chars.next().unwrap());
                }
                words.push(operator);
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The arguments of each `hrm` command in a line (`hrm a b | x && hrm c` gives `[a, b]`, `[c]`).
fn hrm_invocations(line: &str) -> Vec<Vec<String>> {
    let operators = ["|", "||", "&", "&&", ";", ">", ">>", "<"];
    let words = shell_words(line);
    let mut invocations = Vec::new();
    let mut segment_start = true;
    let mut skip_target = false;
    let mut current: Option<Vec<String>> = None;
    for word in words {
        if operators.contains(&word.as_str()) {
            invocations.extend(current.take());
            skip_target = word.starts_with('>') || word == "<";
            segment_start = !skip_target;
            continue;
        }
        if skip_target {
            skip_target = false;
            segment_start = false;
            continue;
        }
        match &mut current {
            Some(args) => args.push(word),
            None if segment_start && word == "hrm" => current = Some(Vec::new()),
            None => {}
        }
        segment_start = false;
    }
    invocations.extend(current);
    invocations
}

/// Runs command lines the way a reader pastes them into a shell: with `hrm` on the PATH, its own
/// home, and nothing of the test's environment that hrm reads. A line ending in `&` runs in the
/// background until `kill %N`; its first line of output says it is ready. Whatever is still
/// running, and the devnet, are stopped when the reader is dropped, also after a failure.
struct Reader {
    home: PathBuf,
    workdir: PathBuf,
    jobs: Vec<Option<Child>>,
}

impl Reader {
    fn new(dir: &Path) -> Self {
        let (home, workdir) = (dir.join("home"), dir.join("work"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&workdir).unwrap();
        Self { home, workdir, jobs: Vec::new() }
    }

    fn shell(&self, line: &str) -> Command {
        let hrm_dir = Path::new(env!("CARGO_BIN_EXE_hrm")).parent().unwrap();
        let path = format!("{}:{}", hrm_dir.display(), std::env::var("PATH").unwrap_or_default());
        let mut command = Command::new("bash");
        command.args(["-euo", "pipefail", "-c", line]);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("HRM_") || name == "MONGODB_URI" {
                command.env_remove(name);
            }
        }
        command.env("PATH", path).env("HRM_HOME", &self.home).env("NO_COLOR", "1").current_dir(&self.workdir);
        command
    }

    /// Runs one line and returns its output, or panics naming the line.
    fn run(&mut self, line: &str) -> Output {
        if let Some(job) = line.strip_prefix("kill %") {
            let job: usize = job.trim().parse().unwrap_or_else(|_| panic!("`{line}`: not a job number"));
            let mut child = self.jobs[job - 1].take().unwrap_or_else(|| panic!("`{line}`: no such job"));
            // SAFETY: signalling a child this test started and has not yet waited for.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let output = wait_with_timeout(&mut child, Duration::from_secs(30), line);
            assert!(output.status.success(), "`{line}`: the job ended with {}", output.status);
            return output;
        }
        if let Some(background) = line.strip_suffix('&') {
            let mut child = self
                .shell(&format!("exec {background}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("`{line}`: {e}"));
            let ready = first_line(&mut child, Duration::from_secs(60));
            assert!(ready.is_some(), "`{line}` ended or said nothing within a minute");
            self.jobs.push(Some(child));
            return Output { status: std::process::ExitStatus::default(), stdout: Vec::new(), stderr: Vec::new() };
        }
        let output = self.shell(line).output().unwrap_or_else(|e| panic!("`{line}`: {e}"));
        assert!(
            output.status.success(),
            "the README's `{line}` failed with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        for mut child in self.jobs.drain(..).flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.home.join("devnet").exists() {
            let _ = self.shell("hrm devnet down").output();
        }
    }
}

/// The first line `child` prints, or `None` when it ends or stays quiet for `timeout`. The rest of
/// its output is drained in the background so that it never blocks on a full pipe.
fn first_line(child: &mut Child, timeout: Duration) -> Option<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next().and_then(Result::ok));
        lines.for_each(drop);
    });
    receiver.recv_timeout(timeout).ok().flatten()
}

fn wait_with_timeout(child: &mut Child, timeout: Duration, line: &str) -> Output {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Output { status, stdout: Vec::new(), stderr: Vec::new() };
        }
        assert!(std::time::Instant::now() < deadline, "`{line}`: the job did not stop within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn shell_lines_and_words_are_read_as_a_shell_reads_them() {
    let markdown =
        "text\n```sh\n# a comment\nhrm a \\\n    --b \"c d\"   # why\n\nhrm e | man -l -\n```\n```toml\nx = 1\n```\n";
    assert_eq!(shell_lines(markdown), ["hrm a --b \"c d\"   # why", "hrm e | man -l -"]);
    assert_eq!(shell_words("hrm a --b \"c d\"   # why"), ["hrm", "a", "--b", "c d"]);
    assert_eq!(hrm_invocations("hrm a --b 'c d' # why"), [vec!["a", "--b", "c d"]]);
    assert_eq!(hrm_invocations("hrm e | man -l -"), [vec!["e"]]);
    assert_eq!(hrm_invocations("hrm f > out/hrm && hrm g &"), [vec!["f"], vec!["g"]]);
    assert_eq!(hrm_invocations("echo hrm"), Vec::<Vec<String>>::new());
}

/// The README's tour, every line as written and in order, on the devnet its first line starts.
/// `./demo.sh` and `./test.sh`, the README's first two lines, are not run here: CI runs
/// `./test.sh` itself, and `demo::the_demo_serves_its_data_until_ctrl_c_and_cleans_up` runs the
/// `hrm demo` that `./demo.sh` starts after `tools/setup`.
#[tokio::test]
async fn the_readme_commands_run_as_written() {
    let readme = repo_file("README.md");
    let lines = shell_lines(&readme);
    assert!(lines[0].starts_with("./demo.sh") && lines[1].starts_with("./test.sh"), "{lines:?}");
    let tour = &lines[2..];
    assert!(tour.first().is_some_and(|l| l == "hrm devnet up"), "the tour starts its devnet: {tour:?}");
    assert!(tour.last().is_some_and(|l| l == "hrm devnet down"), "the tour stops its devnet: {tour:?}");

    let dir = tempfile::Builder::new().prefix("hrm-readme-").tempdir().unwrap();
    let mut reader = Reader::new(dir.path());
    let mut said = String::new();
    for line in tour {
        let output = reader.run(line);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(!stdout.contains('\u{1b}'), "`{line}` wrote terminal escapes into a pipe:\n{stdout}");
        if line.starts_with("hrm --from asha login ") {
            open_sign_in_link(&stdout).await;
        }
        said.push_str(&stdout);
    }
    // What the tour says happens, happened.
    // "(grant)": the access log holds Lakeside's read, allowed by Asha's grant.
    // "erased (block": the tour's erasure is confirmed on chain and shown.
    for expected in
        ["now approved", "The archive matches the chain.", "probability of diabetes", "(grant)", "erased (block"]
    {
        assert!(said.contains(expected), "the tour never said '{expected}':\n{said}");
    }
}

/// The link `hrm login` printed signs Asha in, and her page shows the tour's record.
async fn open_sign_in_link(stdout: &str) {
    let link = stdout.split_whitespace().find(|w| w.starts_with("http://")).expect("login printed a link");
    let base = &link[..link.find("/sign-in").expect("a sign-in link")];
    let mut browser = HttpVisitor::at(base);
    let signed_in = browser.get(&link[base.len()..]).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let page = browser.get(&signed_in.header("location")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("148") && page.body.contains("2026-11-02"), "Asha's page lacks her record");
}

/// Every `hrm` command line in the docs (README, ARCHITECTURE.md, docs/) names commands and flags
/// that exist: each is parsed by hrm itself, with `--help` appended so that nothing runs.
#[test]
fn every_hrm_command_in_the_docs_parses() {
    let mut files = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for entry in std::fs::read_dir(&docs).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            files.push(format!("docs/{name}"));
        }
    }
    let mut checked = 0;
    for file in &files {
        for line in shell_lines(&repo_file(file)) {
            for args in hrm_invocations(&line) {
                let output = Command::new(env!("CARGO_BIN_EXE_hrm"))
                    .args(&args)
                    .arg("--help")
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "{file}: `hrm {}` does not parse:\n{}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} hrm command lines found in {files:?}");
}

fn hrm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hrm")).args(args).env("NO_COLOR", "1").output().unwrap()
}

/// `hrm completions` and `hrm man` describe every command, and need no settings: a broken config
/// file does not stop them.
#[test]
fn completions_and_manual_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let broken_config = dir.path().join("hrm.toml");
    std::fs::write(&broken_config, "rpc_url = [").unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_hrm"))
            .args(["completions", shell])
            .env("HRM_CONFIG", &broken_config)
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}: {}", String::from_utf8_lossy(&output.stderr));
        let script = String::from_utf8(output.stdout).unwrap();
        for command in ["submit-health", "access-log", "completions", "patient"] {
            assert!(script.contains(command), "the {shell} completions lack {command}");
        }
    }
    // bash itself loads the script and registers it.
    let script = dir.path().join("hrm.bash");
    std::fs::write(&script, hrm(&["completions", "bash"]).stdout).unwrap();
    let loaded =
        Command::new("bash").args(["-c", &format!("source {} && complete -p hrm", script.display())]).output().unwrap();
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    assert!(String::from_utf8_lossy(&loaded.stdout).ends_with("hrm\n"));
    let refused = hrm(&["completions", "powershell"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("bash, zsh, fish"));

    let page = String::from_utf8(hrm(&["man"]).stdout).unwrap();
    assert!(page.contains("\n.TH hrm 1"), "not a manual page:\n{}", &page[..200.min(page.len())]);
    assert!(
        page.contains("submit\\-health") && page.contains("Exit status"),
        "the page lacks commands or exit statuses"
    );

    let pages_dir = dir.path().join("man1");
    let output = hrm(&["--json", "man", "--out-dir", pages_dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for page in ["hrm.1", "hrm-submit-health.1", "hrm-access-log-verify.1", "hrm-serve-user-add.1"] {
        assert!(pages_dir.join(page).is_file(), "no {page}");
        assert!(listed["pages"].as_array().unwrap().iter().any(|p| p == page), "{listed}");
    }
}
