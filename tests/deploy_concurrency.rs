//! Concurrency (issue 11): two deploys of one stack and stage from one checkout at once (the
//! second fails clearly on the lock), two stages side by side (neither touches the other), and
//! two "CI runners" — separate checkouts, separate `.chatstack/` — deploying the same stack and
//! stage one after the other and at once: never a duplicate, since what exists is found by its
//! cloud-side tags. Everything is counted through the official SDKs (`tests/census.rs`).

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::census::{self, BUCKET, FUNCTIONS};
use crate::deploy_faults::{cloud as test_cloud, command, run};
use crate::support::{self, Cloud, chat_project};

/// `deploy --yes` (or `args`) in the background, its stderr piped.
fn spawn(cloud: &Cloud, stack: &Path, args: &[&str]) -> Child {
    command(cloud, stack, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a spawned run: (exit code, stderr).
fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_second_deploy_or_remove_of_the_same_stage_fails_clearly_while_one_runs() {
    let cloud = test_cloud(None);
    let (dir, stack) = chat_project(None);
    let first = spawn(&cloud, &stack, &["deploy", "--yes"]);
    let lock = dir.path().join(".chatstack/ChatDemo.dev.lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&lock).map_or(0, |m| m.len()) == 0 {
        assert!(
            Instant::now() < deadline,
            "the first deploy never took the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let holder = format!("`chatstack deploy` (pid {})", first.id());
    for args in [["deploy", "--yes"], ["remove", "--yes"]] {
        let (code, stderr) = run(&cloud, &stack, &args);
        assert_eq!(code, 1, "{args:?}:\n{stderr}");
        assert!(
            stderr.contains("another chatstack run holds the lock for stack ChatDemo, stage dev: ")
                && stderr.contains(&holder),
            "{args:?}:\n{stderr}"
        );
        assert!(
            stderr.contains("wait for it to finish and run the command again"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("api call"),
            "{args:?} called the cloud:\n{stderr}"
        );
    }
    let (code, log) = finish(first);
    assert_eq!(code, 0, "{log}");
    census::take(cloud.addr, &[BUCKET]).assert_desired(&log);
    // The lock is free again.
    let (code, log) = run(&cloud, &stack, &["deploy", "--yes"]);
    assert_eq!(code, 0, "{log}");
}

/// The chat stack with `${stage}` in every name that must differ between stages.
pub(crate) fn staged_project() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, stack) = chat_project(None);
    let mut text = std::fs::read_to_string(&stack).unwrap();
    for f in FUNCTIONS {
        for key in [
            "name",
            "transportFunctionName",
            "registerFunctionName",
            "cleanupFunctionName",
        ] {
            text = text.replace(
                &format!("{key}: {f}\n"),
                &format!("{key}: {f}-${{stage}}\n"),
            );
        }
    }
    text = text.replace(
        "bucket: chat-cos-1256773370\n",
        "bucket: chat-cos-${stage}-1256773370\n",
    );
    assert_eq!(
        text.matches("${stage}").count(),
        7,
        "the stack changed shape"
    );
    std::fs::write(&stack, text).unwrap();
    (dir, stack)
}

fn staged(stage: &str) -> ([String; 3], String) {
    (
        FUNCTIONS.map(|f| format!("{f}-{stage}")),
        format!("chat-cos-{stage}-1256773370"),
    )
}

#[test]
fn two_stages_deploy_side_by_side_and_removing_one_leaves_the_other_untouched() {
    let cloud = test_cloud(None);
    let (_dir, stack) = staged_project();
    let dev = spawn(&cloud, &stack, &["--stage", "dev", "deploy", "--yes"]);
    let prod = spawn(&cloud, &stack, &["--stage", "prod", "deploy", "--yes"]);
    let (dev, prod) = (finish(dev), finish(prod));
    assert_eq!(dev.0, 0, "{}", dev.1);
    assert_eq!(prod.0, 0, "{}", prod.1);
    let (dev_fns, dev_bucket) = staged("dev");
    let (prod_fns, prod_bucket) = staged("prod");
    let dev_names = dev_fns.each_ref().map(String::as_str);
    let prod_names = prod_fns.each_ref().map(String::as_str);
    let buckets = [dev_bucket.as_str(), prod_bucket.as_str()];
    let both = census::take(cloud.addr, &buckets);
    let context = format!("{}\n--- prod\n{}", dev.1, prod.1);
    let dev_ids = both.assert_stage("dev", &dev_names, &dev_bucket, &context);
    let prod_ids = both.assert_stage("prod", &prod_names, &prod_bucket, &context);
    assert_eq!(both.functions().len(), 6, "{}", both.summary());
    assert_eq!(both.services().len(), 2, "{}", both.summary());
    assert_ne!(dev_ids.pushback_url, prod_ids.pushback_url);

    let (code, removed) = run(&cloud, &stack, &["--stage", "prod", "remove", "--yes"]);
    assert_eq!(code, 0, "{removed}");
    let after = census::take(cloud.addr, &buckets);
    let context = format!("after removing prod:\n{removed}");
    assert_eq!(
        after.assert_stage("dev", &dev_names, &dev_bucket, &context),
        dev_ids,
        "dev changed"
    );
    assert_eq!(after.functions().len(), 3, "{}", after.summary());
    assert!(
        after.services_of("ChatDemo", "prod").is_empty(),
        "{}",
        after.summary()
    );
    assert!(!after.bucket_exists(&prod_bucket), "{}", after.summary());
    let (code, plan) = run(
        &cloud,
        &stack,
        &["--stage", "dev", "plan", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{plan}");
}

/// Two CI runners: two checkouts of the same stack, each with its own (initially absent)
/// `.chatstack/`, deploying the same stage to one account, first one after the other, then
/// both at once. Either way the account ends with exactly one service, three functions and one
/// bucket (counted through the official SDKs), both runners' `plan` finds nothing to do, and
/// either runner's `remove` leaves nothing.
///
/// At once, both runners observe an empty account and both create the gateway service (service
/// names are not unique); the one whose service ranks second deletes it and uses the other's.
/// The default run does each once; `CHATSTACK_RUNNER_ROUNDS=N` repeats the race N times:
/// `CHATSTACK_RUNNER_ROUNDS=20 cargo test --test integration two_ci_runners -- --nocapture`.
#[test]
fn two_ci_runners_without_shared_state_never_duplicate_the_stack() {
    let rounds = std::env::var("CHATSTACK_RUNNER_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);

    // One after the other.
    let cloud = test_cloud(None);
    let (_a, stack_a) = chat_project(None);
    let (_b, stack_b) = chat_project(None);
    let (code, log_a) = run(&cloud, &stack_a, &["deploy", "--yes"]);
    assert_eq!(code, 0, "{log_a}");
    let first = census::take(cloud.addr, &[BUCKET]).assert_desired(&log_a);
    let (code, log_b) = run(&cloud, &stack_b, &["deploy", "--yes"]);
    assert_eq!(code, 0, "{log_b}");
    assert!(
        !log_b.contains("action=\"Create"),
        "the second runner created something:\n{log_b}"
    );
    let second = census::take(cloud.addr, &[BUCKET]).assert_desired(&log_b);
    assert_eq!(first, second);
    drop(cloud);

    // At once.
    let mut settled = 0;
    for round in 1..=rounds {
        let cloud = test_cloud(None);
        let (_a, stack_a) = chat_project(None);
        let (_b, stack_b) = chat_project(None);
        let a = spawn(&cloud, &stack_a, &["deploy", "--yes"]);
        let b = spawn(&cloud, &stack_b, &["deploy", "--yes"]);
        let ((code_a, log_a), (code_b, log_b)) = (finish(a), finish(b));
        let context = format!("round {round}\n--- runner A\n{log_a}\n--- runner B\n{log_b}");
        assert_eq!((code_a, code_b), (0, 0), "{context}");
        let census = census::take(cloud.addr, &[BUCKET]);
        census.assert_desired(&context);
        let creates = |log: &str| log.matches("action=\"CreateService\" attempt=1").count();
        if creates(&log_a) + creates(&log_b) > 1 {
            settled += 1;
        }
        for stack in [&stack_a, &stack_b] {
            let (code, plan) = run(&cloud, stack, &["plan", "--detailed-exitcode"]);
            assert_eq!(code, 0, "{context}\n--- plan\n{plan}");
        }
        let (code, removed) = run(&cloud, &stack_b, &["remove", "--yes"]);
        assert_eq!(code, 0, "{context}\n--- remove\n{removed}");
        census::take(cloud.addr, &[BUCKET]).assert_nothing(&context);
    }
    support::note(&format!(
        "two CI runners at once: {rounds} round(s), both created a service in {settled}, one \
         service left every time"
    ));
}
