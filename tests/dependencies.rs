//! A function's `requirements.txt`, end to end on the local cloud: a pure-Python package and a
//! compiled wheel from PyPI installed into the package and imported by the deployed function;
//! an unchanged redeploy starts no pip and writes nothing; a pin change plans a code update
//! that names it; a requirement pip cannot find is a clear exit 2 before any cloud call.
//!
//! These tests need PyPI (or the index pip is configured for). Without it they fail, with pip's
//! reason in the message: they never pass without having installed anything.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{self, Cloud, Run, chatstack};

/// A project whose three functions share a code directory with `requirements`, pip run through
/// a wrapper that records each call in `pip-calls.log` (CHATSTACK_PYTHON is the interpreter
/// that runs pip).
struct Project {
    _dir: tempfile::TempDir,
    code: tempfile::TempDir,
    stack: PathBuf,
    wrapper: PathBuf,
    calls: PathBuf,
}

impl Project {
    fn new(requirements: &str) -> Project {
        let code = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &str| std::fs::write(code.path().join(name), body).unwrap();
        write(
            "reg.py",
            "import sys\nimport bcrypt\nimport text_unidecode\n\n\
             def main_handler(event, context):\n    \
             hashed = bcrypt.hashpw(b'pw', bcrypt.gensalt(rounds=4))\n    \
             return {'bcrypt': bcrypt.__version__, 'checks': bcrypt.checkpw(b'pw', hashed),\n            \
             'unidecode': text_unidecode.unidecode('Привет'),\n            \
             'from': text_unidecode.__file__, 'errNo': 0,\n            \
             'python': '%d.%d' % sys.version_info[:2]}\n",
        );
        write(
            "trans.py",
            "def main_handler(event, context):\n    return {}\n",
        );
        write(
            "clean.py",
            "def main_handler(event, context):\n    return {}\n",
        );
        write("requirements.txt", requirements);
        let (dir, stack) = support::chat_project(Some(code.path()));
        let wrapper = dir.path().join("python-wrapper");
        let calls = dir.path().join("pip-calls.log");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\nexec python3 \"$@\"\n",
                calls.display()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Project {
            _dir: dir,
            code,
            stack,
            wrapper,
            calls,
        }
    }

    fn run(&self, cloud: &Cloud, args: &[&str]) -> Run {
        self.run_with(cloud, args, &[])
    }

    fn run_with(&self, cloud: &Cloud, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = chatstack()
            .envs(env.iter().copied())
            .arg("-c")
            .arg(&self.stack)
            .args(["--endpoint", &cloud.url()])
            .args(args)
            .env("RUST_LOG", "chatstack=debug")
            .env("CHATSTACK_PYTHON", &self.wrapper)
            .output()
            .unwrap();
        Run::of(&out)
    }

    /// How many times pip was started.
    fn pip_calls(&self) -> usize {
        std::fs::read_to_string(&self.calls)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn requirements(&self, text: &str) {
        std::fs::write(self.code.path().join("requirements.txt"), text).unwrap();
    }

    fn journal(&self) -> PathBuf {
        let dir = self.stack.parent().unwrap().join(".chatstack");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a journal")
    }
}

fn deploy_ok(p: &Project, cloud: &Cloud) -> Run {
    let run = p.run(cloud, &["--json", "deploy", "--yes"]);
    assert_eq!(
        run.code, 0,
        "deploy failed (these tests need PyPI; pip's reason is below):\n{}",
        run.stderr
    );
    run
}

fn function_changes(plan: &Value) -> Vec<Value> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["resource"].as_str().unwrap().starts_with("function "))
        .cloned()
        .collect()
}

#[test]
fn requirements_are_installed_cached_and_their_pin_changes_planned() {
    let cloud = support::cloud();
    let p = Project::new("# what reg needs\ntext-unidecode==1.3\nbcrypt==4.2.1\n");

    // First deploy: pip runs once for the three functions (one codeUri, one cache key).
    let first = deploy_ok(&p, &cloud);
    assert_eq!(p.pip_calls(), 1, "{}", first.stderr);
    let call = std::fs::read_to_string(&p.calls).unwrap();
    for arg in [
        "--python-version 3.9",
        "--implementation cp",
        "--platform manylinux2014_x86_64",
        "--only-binary=:all:",
        "--target",
    ] {
        assert!(call.contains(arg), "{arg} in {call}");
    }
    assert_eq!(
        first.stderr.matches("running pip").count(),
        1,
        "{}",
        first.stderr
    );

    // The deployed function imports both from its own package.
    let out = p.run(&cloud, &["--json", "invoke", "ChatReg", "--log"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    let result = &doc["result"];
    // The local cloud runs it on python3.9 when there is one; otherwise its log says so.
    if result["python"] != "3.9" {
        let log = doc["log"].as_str().unwrap_or_default();
        assert!(
            log.contains("runtime Python3.9 runs on Python"),
            "{result}\n{log}"
        );
    }
    assert_eq!(result["bcrypt"], "4.2.1", "{result}");
    assert_eq!(result["checks"], true, "{result}");
    assert_eq!(result["unidecode"], "Privet", "{result}");
    assert!(
        !result["from"]
            .as_str()
            .unwrap()
            .starts_with(p.code.path().to_str().unwrap()),
        "imported from the deployed package, not the source directory: {result}"
    );

    // Unchanged redeploy: no pip process, no write.
    let again = deploy_ok(&p, &cloud);
    assert_eq!(p.pip_calls(), 1, "pip ran again:\n{}", again.stderr);
    assert!(!again.stderr.contains("running pip"), "{}", again.stderr);
    assert!(
        again.stderr.contains("dependencies cached"),
        "{}",
        again.stderr
    );
    assert_eq!(again.writes(), Vec::<String>::new(), "{}", again.stderr);

    // A pin change: a code update of each function that names it.
    p.requirements("# what reg needs\ntext-unidecode==1.2\nbcrypt==4.2.1\n");
    let plan = p.run(&cloud, &["--json", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let changes = function_changes(&plan.json());
    assert_eq!(changes.len(), 3, "{changes:?}");
    for c in &changes {
        assert_eq!(c["action"], "update", "{c}");
        assert_eq!(c["fields"], serde_json::json!(["code"]), "{c}");
        assert_eq!(
            c["dependencies"],
            serde_json::json!(["text-unidecode 1.3 → 1.2"]),
            "{c}"
        );
        assert_eq!(c["files"], serde_json::json!(["requirements.txt"]), "{c}");
    }
    assert_eq!(p.pip_calls(), 2);
    let human = p.run(&cloud, &["plan"]);
    assert!(
        human
            .stdout
            .contains("update (code (requirements.txt: text-unidecode 1.3 → 1.2))"),
        "{}",
        human.stdout
    );
    // Both pins are cached now: the human plan started no pip.
    assert_eq!(p.pip_calls(), 2);

    // A fresh runner (no journal): the digest says the dependencies changed.
    std::fs::remove_file(p.journal()).unwrap();
    let fresh = p.run(&cloud, &["--json", "plan"]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    for c in function_changes(&fresh.json()) {
        assert_eq!(c["fields"], serde_json::json!(["code"]), "{c}");
        assert_eq!(
            c["dependencies"],
            serde_json::json!(["dependencies changed"]),
            "{c}"
        );
    }

    // Deploying it ships the new pin.
    deploy_ok(&p, &cloud);
    let out = p.run(&cloud, &["--json", "invoke", "ChatReg"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["result"]["unidecode"], "Privet");
}

#[test]
fn a_requirement_pip_cannot_find_is_exit_2_before_any_cloud_call() {
    let cloud = support::cloud();
    let p = Project::new(
        "text-unidecode==1.3\nbcrypt==4.2.1\nbcrypt-does-not-exist-chatstack==0.0.1\n",
    );
    let run = p.run(&cloud, &["--json", "deploy", "--yes"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let req = Path::new(p.code.path()).join("requirements.txt");
    let want = format!(
        "function `ChatReg`: {}:3: `bcrypt-does-not-exist-chatstack==0.0.1` has no wheel for Python3.9",
        req.display()
    );
    assert!(run.stderr.contains(&want), "{want}\nin:\n{}", run.stderr);
    assert!(
        run.stderr.contains("vendor its code into"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("api call"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn an_unreachable_index_is_exit_2_naming_the_first_requirement() {
    let cloud = support::cloud();
    let p = Project::new("# deps\ntext-unidecode==1.3\nbcrypt==4.2.1\n");
    // Nothing listens on port 9 of loopback: pip's connections are refused at once.
    let run = p.run_with(
        &cloud,
        &["deploy", "--yes"],
        &[("PIP_INDEX_URL", "http://127.0.0.1:9/simple")],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "requirements.txt:2: cannot install `text-unidecode==1.3`: the package index could \
             not be reached"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("PIP_INDEX_URL"), "{}", run.stderr);
    assert!(!run.stderr.contains("api call"), "{}", run.stderr);
    assert!(
        !p.stack
            .parent()
            .unwrap()
            .join(".chatstack/deps")
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().path().join("pins.json").exists() })
    );
}
