//! What the look-ups found → the observed model, as a table ([`observed`] is where the
//! concurrent look-ups meet; the entry point's own reading is in the backend's tests). In its
//! own file, like the other tests that use the shared fixtures.

use super::*;
use crate::engine::fixtures;
use crate::providers::tencent::scf::Variable;

/// `(name, status, code hash)` of each function, for comparing with a table.
type Function = (&'static str, Option<&'static str>, Option<&'static str>);

/// One row: what the look-ups answer (each starts from the deployed fixture's answers: HeadBucket
/// `ap-guangzhou`, the gateway, GetFunction ×3 with code `c1`), and the observed model.
struct Row {
    case: &'static str,
    edit: fn(&mut Option<BucketRegion>, &mut Option<ObservedEntry>, &mut [Option<FunctionInfo>]),
    /// `(exists, region)` of the bucket.
    bucket: (bool, &'static str),
    entry: bool,
    functions: [Function; 3],
    empty: bool,
}

const DEPLOYED: [Function; 3] = [
    ("ChatReg", Some("Active"), Some("c1")),
    ("ChatTrans", Some("Active"), Some("c1")),
    ("ChatClean", Some("Active"), Some("c1")),
];

const NONE: [Function; 3] = [
    ("ChatReg", None, None),
    ("ChatTrans", None, None),
    ("ChatClean", None, None),
];

fn set_code_var(info: &mut FunctionInfo, value: Option<&str>) {
    let vars = &mut info.environment.variables;
    vars.retain(|v| v.key != crate::engine::functions::LEGACY_CODE_VAR);
    if let Some(value) = value {
        vars.push(Variable::new(
            crate::engine::functions::LEGACY_CODE_VAR,
            value,
        ));
    }
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            case: "everything found",
            edit: |_, _, _| {},
            bucket: (true, "ap-guangzhou"),
            entry: true,
            functions: DEPLOYED,
            empty: false,
        },
        Row {
            case: "nothing found: the bucket keeps its name and the file's region",
            edit: |b, e, f| {
                *b = None;
                *e = None;
                f.iter_mut().for_each(|i| *i = None);
            },
            bucket: (false, "ap-guangzhou"),
            entry: false,
            functions: NONE,
            empty: true,
        },
        Row {
            case: "the bucket reports its own region",
            edit: |b, _, _| *b = Some(BucketRegion("ap-shanghai".to_owned())),
            bucket: (true, "ap-shanghai"),
            entry: true,
            functions: DEPLOYED,
            empty: false,
        },
        Row {
            case: "only the bucket: not empty",
            edit: |_, e, f| {
                *e = None;
                f.iter_mut().for_each(|i| *i = None);
            },
            bucket: (true, "ap-guangzhou"),
            entry: false,
            functions: NONE,
            empty: false,
        },
        Row {
            case: "only the entry point: not empty",
            edit: |b, _, f| {
                *b = None;
                f.iter_mut().for_each(|i| *i = None);
            },
            bucket: (false, "ap-guangzhou"),
            entry: true,
            functions: NONE,
            empty: false,
        },
        Row {
            case: "only one function: not empty, the others absent",
            edit: |b, e, f| {
                *b = None;
                *e = None;
                f[0] = None;
                f[2] = None;
            },
            bucket: (false, "ap-guangzhou"),
            entry: false,
            functions: [
                ("ChatReg", None, None),
                ("ChatTrans", Some("Active"), Some("c1")),
                ("ChatClean", None, None),
            ],
            empty: false,
        },
        Row {
            case: "the status passes through, broken or busy",
            edit: |_, _, f| {
                f[0].as_mut().unwrap().status = "CreateFailed".to_owned();
                f[1].as_mut().unwrap().status = "Updating".to_owned();
            },
            bucket: (true, "ap-guangzhou"),
            entry: true,
            functions: [
                ("ChatReg", Some("CreateFailed"), Some("c1")),
                ("ChatTrans", Some("Updating"), Some("c1")),
                ("ChatClean", Some("Active"), Some("c1")),
            ],
            empty: false,
        },
        Row {
            case: "the legacy code variable wins over the tag while a function has it",
            edit: |_, _, f| {
                // ChatReg: deployed by an earlier version, updated since (variable c2, tag c1).
                set_code_var(f[0].as_mut().unwrap(), Some("c2"));
                // ChatTrans: the tag only, as deployed now.
                set_code_var(f[1].as_mut().unwrap(), None);
                // ChatClean: neither (not created by chatstack).
                let clean = f[2].as_mut().unwrap();
                set_code_var(clean, None);
                clean.tags.clear();
            },
            bucket: (true, "ap-guangzhou"),
            entry: true,
            functions: [
                ("ChatReg", Some("Active"), Some("c2")),
                ("ChatTrans", Some("Active"), Some("c1")),
                ("ChatClean", Some("Active"), None),
            ],
            empty: false,
        },
    ]
}

#[test]
fn what_the_look_ups_found_becomes_the_observed_model() {
    let stack = fixtures::stack();
    for r in rows() {
        let mut region = Some(BucketRegion("ap-guangzhou".to_owned()));
        let mut entry = Some(fixtures::gateway(&stack).entry(&stack));
        let mut infos: Vec<Option<FunctionInfo>> = stack
            .functions
            .iter()
            .map(|f| Some(fixtures::function_info(&stack, &f.name, "c1")))
            .collect();
        (r.edit)(&mut region, &mut entry, &mut infos);
        let o = observed(
            &stack,
            "chat-1250000000".to_owned(),
            region,
            entry,
            infos.clone(),
        );
        assert_eq!(
            (
                o.bucket.name.as_str(),
                o.bucket.exists,
                o.bucket.region.as_str()
            ),
            ("chat-1250000000", r.bucket.0, r.bucket.1),
            "{}",
            r.case
        );
        assert_eq!(o.entry.is_some(), r.entry, "{}", r.case);
        let functions: Vec<_> = o
            .functions
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.status.as_deref(),
                    f.code_sha256.as_deref(),
                )
            })
            .collect();
        let want: Vec<(&str, Option<&str>, Option<&str>)> = r.functions.to_vec();
        assert_eq!(functions, want, "{}", r.case);
        // The role comes from the file, the details are GetFunction's answer as it was.
        for ((f, spec), info) in o.functions.iter().zip(&stack.functions).zip(&infos) {
            assert_eq!(f.role, spec.role, "{}", r.case);
            assert_eq!(
                f.detail.as_ref().map(|d| &d.function_name),
                info.as_ref().map(|d| &d.function_name),
                "{}",
                r.case
            );
        }
        assert_eq!(o.is_empty(), r.empty, "{}", r.case);
    }
}

#[test]
fn the_deployed_answers_observe_as_the_deployed_fixture() {
    // The fixture the plan and remove tables start from is what observation makes of the
    // deployed answers.
    let stack = fixtures::stack();
    let infos = stack
        .functions
        .iter()
        .map(|f| Some(fixtures::function_info(&stack, &f.name, "c1")))
        .collect();
    let o = observed(
        &stack,
        "chat-1250000000".to_owned(),
        Some(BucketRegion("ap-guangzhou".to_owned())),
        Some(fixtures::gateway(&stack).entry(&stack)),
        infos,
    );
    let want = fixtures::deployed(&stack, "c1");
    assert_eq!(o.bucket, want.bucket);
    assert_eq!(
        serde_json::to_value(&o).unwrap(),
        serde_json::to_value(&want).unwrap()
    );
    let details = |o: &Observed| {
        o.functions
            .iter()
            .map(|f| format!("{:?}", f.detail))
            .collect::<Vec<_>>()
    };
    assert_eq!(details(&o), details(&want));
}
