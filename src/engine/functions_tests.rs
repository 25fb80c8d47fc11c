//! Tests of the bucket and function steps, in their own file: they use the shared fixtures,
//! which use the API Gateway backend, which uses [`super::change`]; were they inline, the
//! production file would import the fixtures and close a cycle.

use super::*;
use crate::engine::fixtures;

#[test]
fn desired_and_observed_of_the_same_function_compare_equal_property_by_property() {
    let stack = fixtures::stack();
    let outputs = fixtures::outputs();
    for f in &stack.functions {
        let info = fixtures::function_info(&stack, &f.name, "c1");
        let want = desired_state(f, "c1", &outputs);
        let have = observed_state(&info);
        assert_eq!(
            want.props.keys().collect::<Vec<_>>(),
            have.props.keys().collect::<Vec<_>>()
        );
        assert_eq!(want, have, "{}", f.name);
    }
}

#[test]
fn the_environment_digest_ignores_order_but_not_pending_values_or_the_legacy_code_variable() {
    let a = env_digest([("A", Some("1")), ("B", Some("2"))].into_iter());
    let b = env_digest([("B", Some("2")), ("A", Some("1"))].into_iter());
    assert_eq!(a, b);
    // A function still carrying the variable gets its environment rewritten without it.
    assert_ne!(
        a,
        env_digest(
            [
                ("B", Some("2")),
                (LEGACY_CODE_VAR, Some("x")),
                ("A", Some("1"))
            ]
            .into_iter()
        )
    );
    assert_ne!(a, env_digest([("A", Some("1")), ("B", None)].into_iter()));
    assert_ne!(
        a,
        env_digest([("A", Some("1")), ("B", Some("3"))].into_iter())
    );
}

#[test]
fn each_function_change_kind_renders_its_plan_line() {
    let stack = fixtures::stack();
    let packages = fixtures::packages(&stack, "c1");
    let mut observed = fixtures::deployed(&stack, "c1").functions;
    // ChatReg: gone; ChatTrans: broken; ChatClean: new memory size and role.
    observed[0].detail = None;
    observed[1].detail.as_mut().unwrap().status = "CreateFailed".to_owned();
    let clean = observed[2].detail.as_mut().unwrap();
    clean.memory_size = 256;
    clean.role = "OldRole".to_owned();
    let plans = plan_functions(&stack, &observed, packages, &fixtures::outputs()).unwrap();
    let steps: Vec<_> = plans
        .iter()
        .map(|p| (p.spec.name.as_str(), p.step.clone()))
        .collect();
    assert_eq!(
        steps,
        [
            ("ChatReg", FunctionStep::Create),
            ("ChatTrans", FunctionStep::Replace),
            (
                "ChatClean",
                FunctionStep::Update {
                    fields: vec!["memorySize".to_owned(), "role".to_owned()]
                }
            ),
        ]
    );
    assert_eq!(
        fixtures::summary(&plans.iter().map(FunctionPlan::change).collect::<Vec<_>>()),
        [
            fixtures::row("function ChatReg", "create", &[]),
            fixtures::row("function ChatTrans", "replace", &[]),
            fixtures::row("function ChatClean", "update", &["memorySize", "role"]),
        ]
    );
    assert!(!plans[2].code_changes());
}

#[test]
fn dependency_changes_say_which_pins_moved_when_known() {
    use crate::package::Dependencies;
    let deps = |sha: &str, pins: &[(&str, &str)]| Dependencies {
        sha256: sha.to_owned(),
        pins: pins
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        skipped: Vec::new(),
    };
    let package = |d: Option<Dependencies>| Package {
        zip: Vec::new(),
        sha256: "c2".to_owned(),
        file_count: 0,
        files: Vec::new(),
        file_hashes: BTreeMap::new(),
        dependencies: d,
    };
    let old = deps("d1", &[("bcrypt", "4.1.0")]);
    let new = deps("d2", &[("bcrypt", "4.2.1"), ("six", "1.16.0")]);
    let changed = ["dependencies changed"];
    let moved = ["bcrypt 4.1.0 → 4.2.1", "+six==1.16.0"];
    for (want, deployed, recorded, expect) in [
        // Same digest deployed: a code change of the function's own files only.
        (Some(new.clone()), Some("d2"), Some(&old), &[][..]),
        // The tag matches what this machine recorded: the pins that moved.
        (Some(new.clone()), Some("d1"), Some(&old), &moved[..]),
        // No tag (not written yet), but the journal's code hash is the deployed one.
        (Some(new.clone()), None, Some(&old), &moved[..]),
        // The journal recorded other dependencies than the deployed ones: unknown.
        (Some(new.clone()), Some("d9"), Some(&old), &changed[..]),
        // A fresh runner: only the digest is known.
        (Some(new.clone()), Some("d1"), None, &changed[..]),
        (Some(new.clone()), None, None, &changed[..]),
        // requirements.txt removed.
        (None, Some("d1"), Some(&old), &["-bcrypt==4.1.0"][..]),
        (None, Some("d1"), None, &changed[..]),
        // Never had any, still has none.
        (None, None, None, &[][..]),
    ] {
        assert_eq!(
            dependency_changes(&package(want), deployed, recorded),
            expect,
            "deployed {deployed:?}, recorded {:?}",
            recorded.map(|r| &r.sha256)
        );
    }
}

#[test]
fn the_code_tags_say_which_code_and_dependencies_a_function_runs() {
    use crate::package::Dependencies;
    let stack = fixtures::stack();
    let with_deps = |sha: &str| {
        let mut p = fixtures::packages(&stack, "c1").remove(0);
        p.dependencies = Some(Dependencies {
            sha256: sha.to_owned(),
            pins: Default::default(),
            skipped: Vec::new(),
        });
        p
    };
    let plain = fixtures::packages(&stack, "c1").remove(0);
    let info = |tags: &[(&str, &str)]| FunctionInfo {
        tags: tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect(),
        ..FunctionInfo::default()
    };
    const CODE: &str = tags::CODE_SHA256;
    const DEPS: &str = tags::DEPS_SHA256;
    type Row<'a> = (
        &'a str,
        FunctionInfo,
        Package,
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
        bool,
    );
    let rows: Vec<Row> = vec![
        (
            "no dependencies, tags current",
            info(&[(CODE, "c1")]),
            plain.clone(),
            &[(CODE, "c1")],
            &[],
            true,
        ),
        (
            "no code tag",
            info(&[]),
            plain.clone(),
            &[(CODE, "c1")],
            &[],
            false,
        ),
        (
            "other code",
            info(&[(CODE, "c0")]),
            plain.clone(),
            &[(CODE, "c1")],
            &[],
            false,
        ),
        (
            "dependencies gone: their tag is unbound",
            info(&[(CODE, "c1"), (DEPS, "d1")]),
            plain.clone(),
            &[(CODE, "c1")],
            &[DEPS],
            false,
        ),
        (
            "dependencies added",
            info(&[(CODE, "c1")]),
            with_deps("d1"),
            &[(CODE, "c1"), (DEPS, "d1")],
            &[],
            false,
        ),
        (
            "dependencies current",
            info(&[(DEPS, "d1"), (CODE, "c1")]),
            with_deps("d1"),
            &[(CODE, "c1"), (DEPS, "d1")],
            &[],
            true,
        ),
    ];
    for (case, info, package, set, unbind, current) in rows {
        let want: Vec<Tag> = set.iter().map(|(k, v)| Tag::new(*k, *v)).collect();
        assert_eq!(code_tags(&package), want, "{case}");
        assert_eq!(stale_code_tags(&info, &package), unbind, "{case}");
        assert_eq!(code_tags_current(&info, &package), current, "{case}");
        let after = with_code_tags(info, &package);
        assert!(
            code_tags_current(&after, &package),
            "{case}: {:?}",
            after.tags
        );
    }
}
