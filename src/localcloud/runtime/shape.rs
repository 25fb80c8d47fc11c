//! What makes two function records run on the same workers: a worker is started for one
//! [`Shape`] (the function's identity, its code, and the configuration a worker is built
//! with), and a record whose shape differs needs new workers. Compared field by field: no
//! encoding, no hashing.

use crate::localcloud::model::function::{FunctionRecord, KeyValue};

/// The fields of a function record a worker depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shape {
    function_id: String,
    code_blob: String,
    code_sha256: String,
    handler: String,
    runtime: String,
    timeout: u32,
    init_timeout: u32,
    memory_size: u32,
    environment: Vec<KeyValue>,
}

impl Shape {
    /// The shape of `r`.
    pub(super) fn of(r: &FunctionRecord) -> Self {
        Shape {
            function_id: r.function_id.clone(),
            code_blob: r.code_blob.clone(),
            code_sha256: r.code_sha256.clone(),
            handler: r.handler.clone(),
            runtime: r.runtime.clone(),
            timeout: r.timeout,
            init_timeout: r.init_timeout,
            memory_size: r.memory_size,
            environment: r.environment.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localcloud::model::function::Status;

    fn record() -> FunctionRecord {
        FunctionRecord {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
            name: "chat".into(),
            function_id: "lam-1".into(),
            runtime: "Python3.9".into(),
            handler: "index.main_handler".into(),
            description: String::new(),
            memory_size: 128,
            timeout: 3,
            init_timeout: 65,
            role: String::new(),
            function_type: "Event".into(),
            protocol_type: String::new(),
            ws_idle_timeout: 0,
            max_concurrency: 0,
            reserved_concurrency: None,
            environment: vec![KeyValue {
                key: "K".into(),
                value: "v".into(),
            }],
            tags: vec![],
            code_blob: "scf-1.zip".into(),
            code_size: 1,
            code_sha256: "aa".into(),
            add_time: 0,
            mod_time: 0,
            status: Status::Active,
            settles_at_ms: 0,
        }
    }

    #[test]
    fn what_a_worker_is_built_with_changes_the_shape_and_nothing_else_does() {
        type Edit = fn(&mut FunctionRecord);
        let new_workers: &[(&str, Edit)] = &[
            ("function id (deleted and created again)", |r| {
                r.function_id = "lam-2".into()
            }),
            ("code blob", |r| r.code_blob = "scf-2.zip".into()),
            ("code digest", |r| r.code_sha256 = "bb".into()),
            ("handler", |r| r.handler = "other.main_handler".into()),
            ("runtime", |r| r.runtime = "Python3.10".into()),
            ("timeout", |r| r.timeout = 4),
            ("init timeout", |r| r.init_timeout = 10),
            ("memory", |r| r.memory_size = 256),
            ("a variable's value", |r| {
                r.environment[0].value = "w".into()
            }),
            ("a variable more", |r| {
                r.environment.push(KeyValue {
                    key: "L".into(),
                    value: String::new(),
                })
            }),
        ];
        let same_workers: &[(&str, Edit)] = &[
            ("description", |r| r.description = "chat".into()),
            ("tags", |r| {
                r.tags.push(KeyValue {
                    key: "t".into(),
                    value: "1".into(),
                })
            }),
            ("modification time", |r| r.mod_time = 9),
            ("status", |r| r.status = Status::Updating),
            ("role", |r| r.role = "SCF_QcsRole".into()),
        ];
        let base = Shape::of(&record());
        for (what, edit) in new_workers {
            let mut r = record();
            edit(&mut r);
            assert_ne!(Shape::of(&r), base, "{what} must start new workers");
        }
        for (what, edit) in same_workers {
            let mut r = record();
            edit(&mut r);
            assert_eq!(Shape::of(&r), base, "{what} must keep the workers");
        }
    }
}
