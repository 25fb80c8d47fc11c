//! The steps every backend shares: the COS bucket and the SCF functions — planning them
//! (compared properties, environment digest, ownership and runtime checks, `CreateFailed` →
//! replace, `UpdateFailed` → update the code again) and applying them (upload a large package,
//! create, update code/configuration, wire the entry point's outputs in).
//!
//! Change detection: the deterministic zip's SHA-256 is the function's `chatstack:code-sha256`
//! tag, set at CreateFunction and, after each UpdateFunctionCode, through the tag service
//! (ModifyResourceTags: SCF's own API sets tags only at creation). A code change is therefore
//! one SCF update call, and a fresh CI runner reads the hash from GetFunction's `Tags`. Functions
//! deployed before this carry the hash in [`LEGACY_CODE_VAR`]; it is read first while present,
//! and the next configuration update drops it (the environment compares unequal while it is
//! there). The other configuration fields are compared with GetFunction's.
//!
//! Code goes inline (`Code.ZipFile`) up to [`MAX_INLINE_ZIP`]; a larger package is uploaded to
//! the stack's bucket under [`CODE_PREFIX`]`{sha256}.zip` first and named by `CosBucketName`/
//! `CosObjectName`.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::context::ApplyCx;
use super::error::Error;
use super::observed::{ObservedBucket, ObservedFunction};
use super::plan::{self, Action, Change, ResourceState};
use super::tags;
use crate::config::{Function, Outputs, Stack};
use crate::package::{MAX_INLINE_ZIP, Package};
use crate::providers::tencent::scf::{
    Code, CreateFunctionRequest, Environment, FunctionInfo, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest, Variable,
};
use crate::providers::tencent::{self, Tag, tag};

/// The environment variable earlier versions kept the code package's SHA-256 in (see the
/// module docs); read, never written.
pub const LEGACY_CODE_VAR: &str = "CHATSTACK_CODE_SHA256";

/// Where in the stack's bucket packages over the inline limit are uploaded.
pub const CODE_PREFIX: &str = "chatstack-code/";

/// The bucket key of a package uploaded to COS: content-addressed, so a retry finds it there.
pub fn code_key(package: &Package) -> String {
    format!("{CODE_PREFIX}{}.zip", package.sha256)
}

/// What deploy does to the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketStep {
    /// PutBucket.
    Create,
    /// It exists.
    Keep,
}

/// The bucket's part of a plan.
#[derive(Debug, Clone)]
pub struct BucketPlan {
    /// Full bucket id.
    pub name: String,
    /// The step.
    pub step: BucketStep,
}

impl BucketPlan {
    /// Plans the bucket: created when it does not exist.
    pub fn new(observed: &ObservedBucket) -> Self {
        BucketPlan {
            name: observed.name.clone(),
            step: if observed.exists {
                BucketStep::Keep
            } else {
                BucketStep::Create
            },
        }
    }

    /// The plan line.
    pub fn change(&self) -> Change {
        let action = match self.step {
            BucketStep::Create => Action::Create,
            BucketStep::Keep => Action::NoChange,
        };
        change(format!("bucket {}", self.name), action, Vec::new())
    }
}

/// What deploy does to one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionStep {
    /// It does not exist.
    Create,
    /// It exists in `CreateFailed`: delete it, then create it.
    Replace,
    /// These compared properties differ (`code` means new code).
    Update {
        /// The property names, sorted.
        fields: Vec<String>,
    },
    /// Nothing differs.
    Keep,
}

/// One function's part of a plan: its spec, its package and what happens to it.
#[derive(Debug, Clone)]
pub struct FunctionPlan {
    /// The function as the stack file wants it.
    pub spec: Function,
    /// Its code.
    pub package: Package,
    /// The step.
    pub step: FunctionStep,
    /// For a code change: the package's files that changed since the last deploy from this
    /// machine (see [`super::journal::Record::changed_files`]).
    pub files: Vec<String>,
    /// For a code change: how its dependencies changed (see [`dependency_changes`]).
    pub dependencies: Vec<String>,
}

impl FunctionPlan {
    /// Whether its code changes.
    pub fn code_changes(&self) -> bool {
        matches!(&self.step, FunctionStep::Update { fields } if fields.iter().any(|f| f == "code"))
    }

    /// Whether applying sends its code, and the package is too large to go inline: it is
    /// uploaded to COS first.
    pub fn uploads_code(&self) -> bool {
        let sends = match &self.step {
            FunctionStep::Create | FunctionStep::Replace => true,
            FunctionStep::Update { .. } => self.code_changes(),
            FunctionStep::Keep => false,
        };
        sends && !fits_inline(&self.package)
    }

    /// The plan line.
    pub fn change(&self) -> Change {
        let (action, fields) = match &self.step {
            FunctionStep::Create => (Action::Create, Vec::new()),
            FunctionStep::Replace => (Action::Replace, Vec::new()),
            FunctionStep::Update { fields } => (Action::Update, fields.clone()),
            FunctionStep::Keep => (Action::NoChange, Vec::new()),
        };
        Change {
            files: self.files.clone(),
            dependencies: self.dependencies.clone(),
            ..change(format!("function {}", self.spec.name), action, fields)
        }
    }

    /// Whether its environment waits for an entry-point output.
    pub fn needs_outputs(&self) -> bool {
        self.spec.environment.iter().any(|v| v.value.is_deferred())
    }
}

/// A plan line without files.
pub(crate) fn change(resource: String, action: Action, fields: Vec<String>) -> Change {
    Change {
        resource,
        action,
        fields,
        files: Vec::new(),
        dependencies: Vec::new(),
    }
}

/// The properties of a function that deploy compares, filled from the stack file on one side
/// and from GetFunction on the other: one struct, so the two cannot drift apart.
struct Compared<'a> {
    code: &'a str,
    handler: &'a str,
    runtime: &'a str,
    timeout: u32,
    memory_size: u32,
    role: &'a str,
    description: &'a str,
    environment: String,
}

impl Compared<'_> {
    fn state(self, name: &str) -> ResourceState {
        ResourceState::new("function", name)
            .prop("code", self.code)
            .prop("handler", self.handler)
            .prop("runtime", self.runtime)
            .prop("timeout", self.timeout.to_string())
            .prop("memorySize", self.memory_size.to_string())
            .prop("role", self.role)
            .prop("description", self.description)
            .prop("environment", self.environment)
    }
}

/// What the stack file wants of `f` with code `sha256`, the outputs filled in as far as known.
fn desired_state(f: &Function, sha256: &str, outputs: &Outputs) -> ResourceState {
    let env = desired_env(f, outputs);
    Compared {
        code: sha256,
        handler: &f.handler,
        runtime: &f.runtime,
        timeout: f.timeout,
        memory_size: f.memory_size,
        role: f.exec_role.as_deref().unwrap_or_default(),
        description: f.description.as_deref().unwrap_or_default(),
        environment: env_digest(env.iter().map(|(k, v)| (k.as_str(), v.as_deref()))),
    }
    .state(&f.name)
}

/// What GetFunction says of a function, in the same terms.
fn observed_state(info: &FunctionInfo) -> ResourceState {
    let vars = &info.environment.variables;
    Compared {
        code: code_sha256(info).unwrap_or_default(),
        handler: &info.handler,
        runtime: &info.runtime,
        timeout: info.timeout,
        memory_size: info.memory_size,
        role: &info.role,
        description: &info.description,
        environment: env_digest(
            vars.iter()
                .map(|v| (v.key.as_str(), Some(v.value.as_str()))),
        ),
    }
    .state(&info.function_name)
}

/// The code a function runs: [`LEGACY_CODE_VAR`] while a function still has it, else the
/// `chatstack:code-sha256` tag.
pub(crate) fn code_sha256(info: &FunctionInfo) -> Option<&str> {
    info.environment
        .variables
        .iter()
        .find(|v| v.key == LEGACY_CODE_VAR)
        .map(|v| v.value.as_str())
        .or_else(|| info.tag(tags::CODE_SHA256))
}

/// The tags that say which code a function runs.
fn code_tags(package: &Package) -> Vec<Tag> {
    let mut tags = vec![Tag::new(tags::CODE_SHA256, &package.sha256)];
    if let Some(deps) = &package.dependencies {
        tags.push(Tag::new(tags::DEPS_SHA256, &deps.sha256));
    }
    tags
}

/// Whether `info`'s code tags say it runs `package`.
fn code_tags_current(info: &FunctionInfo, package: &Package) -> bool {
    code_tags(package)
        .iter()
        .all(|t| info.tag(&t.key) == Some(t.value.as_str()))
        && stale_code_tags(info, package).is_empty()
}

/// The code tags `info` carries that `package` no longer has (its dependencies are gone).
fn stale_code_tags(info: &FunctionInfo, package: &Package) -> Vec<&'static str> {
    (package.dependencies.is_none() && info.tag(tags::DEPS_SHA256).is_some())
        .then_some(tags::DEPS_SHA256)
        .into_iter()
        .collect()
}

/// The environment SCF should hold for `f`: its variables with outputs filled in. `None` for a
/// variable whose output is not known yet.
fn desired_env(f: &Function, outputs: &Outputs) -> Vec<(String, Option<String>)> {
    f.environment
        .iter()
        .map(|v| (v.key.clone(), v.value.resolve(outputs)))
        .collect()
}

/// A digest of an environment (values never leave this function).
fn env_digest<'a>(vars: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut sorted: Vec<(&str, Option<&str>)> = vars.collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update(b"=");
        match v {
            Some(v) => h.update(v.as_bytes()),
            // Unknown yet: can never equal an observed value.
            None => h.update(b"\0pending\0"),
        }
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..12])
}

/// Refuses to take over a resource tagged for another stack or stage.
pub(crate) fn check_owner(
    stack: &Stack,
    kind: &str,
    name: &str,
    tag_stack: Option<&str>,
    tag_stage: Option<&str>,
) -> Result<(), Error> {
    match (tag_stack, tag_stage) {
        (Some(s), Some(g)) if s != stack.name || g != stack.stage => Err(Error::Foreign {
            resource: format!("{kind} {name}"),
            other_stack: s.to_owned(),
            other_stage: g.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Refuses functions another stack or stage owns.
pub(crate) fn check_owners(stack: &Stack, observed: &[ObservedFunction]) -> Result<(), Error> {
    for o in observed {
        if let Some(info) = &o.detail {
            check_owner(
                stack,
                "function",
                &o.name,
                info.tag(tags::STACK),
                info.tag(tags::STAGE),
            )?;
        }
    }
    Ok(())
}

/// Plans each function of the stack, in file order, against what exists. `outputs` are the
/// entry point's outputs known before applying.
pub fn plan_functions(
    stack: &Stack,
    observed: &[ObservedFunction],
    packages: Vec<Package>,
    outputs: &Outputs,
) -> Result<Vec<FunctionPlan>, Error> {
    check_owners(stack, observed)?;
    for o in observed {
        let Some(info) = &o.detail else { continue };
        if let Some(want) = stack.functions.iter().find(|f| f.name == o.name)
            && !info.runtime.is_empty()
            && info.runtime != want.runtime
            && !info.is_failed()
        {
            return Err(Error::RuntimeChange {
                name: o.name.clone(),
                have: info.runtime.clone(),
                want: want.runtime.clone(),
            });
        }
    }
    Ok(stack
        .functions
        .iter()
        .zip(packages)
        .map(|(f, package)| {
            let info = observed
                .iter()
                .find(|o| o.name == f.name)
                .and_then(|o| o.detail.as_ref());
            let step = match info {
                None => FunctionStep::Create,
                // A function left in CreateFailed is deleted and created again.
                Some(i) if i.status == "CreateFailed" => FunctionStep::Replace,
                Some(i) => {
                    let want = desired_state(f, &package.sha256, outputs);
                    let mut fields = plan::changed_fields(&want, &observed_state(i));
                    // A failed update may have left any code in place: send it again.
                    if i.status == "UpdateFailed" && !fields.iter().any(|f| f == "code") {
                        fields.push("code".to_owned());
                        fields.sort();
                    }
                    if fields.is_empty() {
                        FunctionStep::Keep
                    } else {
                        FunctionStep::Update { fields }
                    }
                }
            };
            FunctionPlan {
                spec: f.clone(),
                package,
                step,
                files: Vec::new(),
                dependencies: Vec::new(),
            }
        })
        .collect())
}

/// How a function's dependencies change with a code change, for the plan line. `deployed` is
/// the function's `chatstack:deps-sha256` tag; `recorded` the dependencies this machine last
/// deployed to it (the caller passes them only when the journal's code hash for it is the
/// deployed one). Nothing when the digests match; the pin changes when the deployed pins are
/// known; else `dependencies changed` (a fresh runner, or a function deployed before it had a
/// `requirements.txt` or before the tag existed).
pub fn dependency_changes(
    package: &Package,
    deployed: Option<&str>,
    recorded: Option<&crate::package::Dependencies>,
) -> Vec<String> {
    let want = package.dependencies.as_ref();
    let want_sha = want.map(|d| d.sha256.as_str());
    if deployed.is_some() && deployed == want_sha {
        return Vec::new();
    }
    let empty = BTreeMap::new();
    let new = want.map_or(&empty, |d| &d.pins);
    if let Some(old) = recorded
        && deployed.is_none_or(|d| d == old.sha256)
    {
        if want_sha == Some(old.sha256.as_str()) {
            return Vec::new();
        }
        let changes = crate::package::requirements::pin_changes(&old.pins, new);
        if !changes.is_empty() {
            return changes;
        }
    } else if deployed.is_none() && new.is_empty() {
        // Nothing was known to be installed and nothing is: nothing to say.
        return Vec::new();
    }
    vec!["dependencies changed".to_owned()]
}

/// Waits until `name` settles (or is gone), honouring Ctrl-C and the deadline.
async fn settle(cx: &ApplyCx, name: &str, namespace: &str) -> Result<Option<FunctionInfo>, Error> {
    let scf = cx.cloud.scf();
    tokio::select! {
        r = scf.wait_for_function(name, Some(namespace), cx.remaining()) => Ok(r?),
        () = cx.cancel.cancelled() => Err(Error::Interrupted),
    }
}

/// Waits until `name` is `Active`; a `*Failed` state is an error.
async fn settle_active(cx: &ApplyCx, name: &str, namespace: &str) -> Result<FunctionInfo, Error> {
    match settle(cx, name, namespace).await? {
        Some(info) if info.is_active() => {
            cx.remember(name, &info);
            Ok(info)
        }
        Some(info) => Err(Error::FunctionFailed {
            name: name.to_owned(),
            reason: info
                .failure_reason()
                .map(str::to_owned)
                .unwrap_or_else(|| info.status_desc.clone()),
            status: info.status,
        }),
        None => Err(Error::FunctionFailed {
            name: name.to_owned(),
            status: "deleted".to_owned(),
            reason: "the function disappeared while deploying".to_owned(),
        }),
    }
}

/// The environment to send for `fp` with the outputs known now (variables waiting for an
/// output not known yet are left out).
fn environment(cx: &ApplyCx, fp: &FunctionPlan) -> Environment {
    let outputs = cx.outputs();
    let variables = desired_env(&fp.spec, &outputs)
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| Variable::new(k, v)))
        .collect();
    Environment { variables }
}

/// Retries `op` while the function is busy (`FailedOperation.*` state conflicts), waiting for it
/// to settle in between.
async fn when_idle<T, F, Fut>(cx: &ApplyCx, f: &Function, mut op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tencent::Error>>,
{
    let mut tries = 0;
    loop {
        match op().await {
            Err(e) if e.is_state_conflict() && tries < 8 => {
                tries += 1;
                settle(cx, &f.name, &f.namespace).await?;
            }
            other => return other.map_err(Error::from),
        }
    }
}

/// Whether `package` goes inline in the request.
fn fits_inline(package: &Package) -> bool {
    package.zip.len() <= MAX_INLINE_ZIP
}

/// The stack's bucket name without its `-appid` suffix, as SCF's `CosBucketName` wants it.
fn bucket_without_appid(stack: &Stack) -> &str {
    let b = &stack.bucket;
    b.appid
        .and_then(|appid| b.name.strip_suffix(&format!("-{appid}")))
        .unwrap_or(&b.name)
}

/// `Code` for `fp`'s package: inline, or the COS object [`upload_code`] put it in.
fn code_source(cx: &ApplyCx, fp: &FunctionPlan) -> Code {
    if fits_inline(&fp.package) {
        Code::zip(&fp.package.zip)
    } else {
        Code::cos(
            bucket_without_appid(&cx.stack),
            &format!("/{}", code_key(&fp.package)),
            Some(&cx.stack.bucket.region),
        )
    }
}

/// Uploads `package` to `bucket` at [`code_key`], unless an earlier run already did (the key is
/// its hash). `step` names the graph step, for the byte progress.
pub async fn upload_code(
    cx: Arc<ApplyCx>,
    step: String,
    bucket: String,
    package: Arc<Package>,
) -> Result<(), Error> {
    let cos = cx.cloud.cos();
    let region = &cx.stack.bucket.region;
    let key = code_key(&package);
    let total = package.zip.len() as u64;
    if cos.head_object(&bucket, region, &key).await? == Some(total) {
        cx.report_progress(&step, total, total);
        return Ok(());
    }
    let body = bytes::Bytes::from(package.zip.clone());
    let report = |done: u64| cx.report_progress(&step, done, total);
    tokio::select! {
        r = cos.upload(&bucket, region, &key, body, "application/zip", &report) => Ok(r?),
        () = cx.cancel.cancelled() => Err(Error::Interrupted),
    }
}

/// Deletes the packages under [`CODE_PREFIX`] in `bucket` that none of `keep` (hashes) is: the
/// functions have taken their code, and older packages are no longer needed.
pub async fn prune_code(cx: Arc<ApplyCx>, bucket: String, keep: Vec<String>) -> Result<(), Error> {
    let cos = cx.cloud.cos();
    let region = &cx.stack.bucket.region;
    for object in cos.list_all(&bucket, region, CODE_PREFIX).await? {
        let hash = object
            .key
            .strip_prefix(CODE_PREFIX)
            .and_then(|k| k.strip_suffix(".zip"));
        if hash.is_none_or(|h| !keep.iter().any(|k| k == h)) {
            cos.delete_object(&bucket, region, &object.key).await?;
        }
    }
    Ok(())
}

async fn create_function(cx: &ApplyCx, fp: &FunctionPlan) -> Result<(), Error> {
    let f = &fp.spec;
    let environment = environment(cx, fp);
    let mut tags = cx.tags();
    tags.extend(code_tags(&fp.package));
    let req = CreateFunctionRequest {
        function_name: f.name.clone(),
        code: code_source(cx, fp),
        handler: Some(f.handler.clone()),
        runtime: Some(f.runtime.clone()),
        namespace: Some(f.namespace.clone()),
        description: f.description.clone(),
        environment: Some(environment),
        timeout: Some(f.timeout),
        memory_size: Some(f.memory_size),
        role: f.exec_role.clone(),
        tags: Some(tags),
        ..CreateFunctionRequest::default()
    };
    match cx.cloud.scf().create_function(&req).await {
        Ok(()) => {}
        // A retried create whose first attempt went through: adopt it, then make it match.
        Err(e) if e.is_already_exists() => {
            let info = settle_updatable(cx, &f.name, &f.namespace).await?;
            cx.record(|r| {
                r.functions.insert(f.name.clone(), String::new());
            })?;
            return update_function(cx, fp, Some(info), true, true).await;
        }
        Err(e) => return Err(e.into()),
    }
    cx.record(|r| r.code_deployed(&f.name, &fp.package))?;
    settle_active(cx, &f.name, &f.namespace).await?;
    Ok(())
}

/// Waits until `name` settles in a state an update may start from: `Active`, or `UpdateFailed`
/// (the update is what mends it).
async fn settle_updatable(
    cx: &ApplyCx,
    name: &str,
    namespace: &str,
) -> Result<FunctionInfo, Error> {
    match settle(cx, name, namespace).await? {
        Some(info) if info.status == "UpdateFailed" => Ok(info),
        _ => settle_active(cx, name, namespace).await,
    }
}

/// Sets the code tags of `fp`'s function and unbinds the stale ones `info` (the function as
/// last seen) carries (ModifyResourceTags).
async fn tag_code(cx: &ApplyCx, fp: &FunctionPlan, info: &FunctionInfo) -> Result<(), Error> {
    let f = &fp.spec;
    let uin = cx.owner_uin().await?;
    let resource = tag::scf_function(&f.region, uin, &f.namespace, &f.name);
    cx.cloud
        .tags()
        .modify_resource_tags(
            &resource,
            &code_tags(&fp.package),
            &stale_code_tags(info, &fp.package),
        )
        .await?;
    Ok(())
}

/// `info` with the code tags of `package`, as a tag write just set them.
fn with_code_tags(mut info: FunctionInfo, package: &Package) -> FunctionInfo {
    let new = code_tags(package);
    let stale = stale_code_tags(&info, package);
    info.tags
        .retain(|t| !new.iter().any(|n| n.key == t.key) && !stale.contains(&t.key.as_str()));
    info.tags.extend(new);
    info
}

/// Updates what differs: the code (UpdateFunctionCode, then the code tag while SCF applies it)
/// and the configuration (UpdateFunctionConfiguration). `info` is the function as last seen
/// settled, when known.
async fn update_function(
    cx: &ApplyCx,
    fp: &FunctionPlan,
    info: Option<FunctionInfo>,
    code: bool,
    config: bool,
) -> Result<(), Error> {
    let f = &fp.spec;
    let info = match info.or_else(|| cx.settled(&f.name)) {
        Some(info) => info,
        None => settle_updatable(cx, &f.name, &f.namespace).await?,
    };
    let code = code || code_sha256(&info) != Some(fp.package.sha256.as_str());
    if code {
        let req = UpdateFunctionCodeRequest {
            function_name: f.name.clone(),
            namespace: Some(f.namespace.clone()),
            handler: Some(f.handler.clone()),
            code: Some(code_source(cx, fp)),
            ..UpdateFunctionCodeRequest::default()
        };
        let scf = cx.cloud.scf();
        when_idle(cx, f, || scf.update_function_code(&req)).await?;
        // SCF took the code: the tag may say so while it applies it. An update that then fails
        // leaves `UpdateFailed`, which the next plan updates again whatever the tag says.
        let (info, ()) = tokio::try_join!(
            settle_active(cx, &f.name, &f.namespace),
            tag_code(cx, fp, &info)
        )?;
        // The read that saw it settle may have come before the tag write.
        cx.remember(&f.name, &with_code_tags(info, &fp.package));
    } else if !code_tags_current(&info, &fp.package) {
        // The code is this package (the legacy variable says so) but the tags do not.
        tag_code(cx, fp, &info).await?;
        cx.remember(&f.name, &with_code_tags(info, &fp.package));
    }
    if config {
        configure(cx, fp).await?;
    }
    cx.record(|r| r.code_deployed(&f.name, &fp.package))
}

/// UpdateFunctionConfiguration with the full variable set (a partial list would drop the rest).
async fn configure(cx: &ApplyCx, fp: &FunctionPlan) -> Result<(), Error> {
    let f = &fp.spec;
    let req = UpdateFunctionConfigurationRequest {
        function_name: f.name.clone(),
        namespace: Some(f.namespace.clone()),
        description: Some(f.description.clone().unwrap_or_default()),
        memory_size: Some(f.memory_size),
        timeout: Some(f.timeout),
        environment: Some(environment(cx, fp)),
        role: f.exec_role.clone(),
        ..UpdateFunctionConfigurationRequest::default()
    };
    let scf = cx.cloud.scf();
    when_idle(cx, f, || scf.update_function_configuration(&req)).await?;
    settle_active(cx, &f.name, &f.namespace).await?;
    Ok(())
}

/// Creates, replaces or updates one function, as planned.
pub async fn ensure_function(cx: Arc<ApplyCx>, fp: Arc<FunctionPlan>) -> Result<(), Error> {
    let f = &fp.spec;
    match &fp.step {
        FunctionStep::Create => create_function(&cx, &fp).await,
        FunctionStep::Replace => {
            cx.cloud
                .scf()
                .delete_function(&f.name, Some(&f.namespace))
                .await?;
            if settle(&cx, &f.name, &f.namespace).await?.is_some() {
                // Still there after settling: a delete that failed.
                return Err(Error::FunctionFailed {
                    name: f.name.clone(),
                    status: "DeleteFailed".to_owned(),
                    reason: "could not delete the broken function to create it again".to_owned(),
                });
            }
            create_function(&cx, &fp).await
        }
        FunctionStep::Update { fields } => {
            let code = fields.iter().any(|f| f == "code");
            let config = fields.iter().any(|f| f != "code");
            update_function(&cx, &fp, None, code, config).await
        }
        FunctionStep::Keep => Ok(()),
    }
}

/// After the entry point's outputs are known: give a function the variables that needed them.
pub async fn wire_function(cx: Arc<ApplyCx>, fp: Arc<FunctionPlan>) -> Result<(), Error> {
    let f = &fp.spec;
    // Phase 1 left it Active (and nothing else changes it under our lock); a function phase 1
    // did not touch is read now.
    let info = match cx.settled(&f.name) {
        Some(info) => info,
        None => settle_active(&cx, &f.name, &f.namespace).await?,
    };
    let environment = environment(&cx, &fp);
    let have: BTreeMap<&str, &str> = info
        .environment
        .variables
        .iter()
        .map(|v| (v.key.as_str(), v.value.as_str()))
        .collect();
    let want: BTreeMap<&str, &str> = environment
        .variables
        .iter()
        .map(|v| (v.key.as_str(), v.value.as_str()))
        .collect();
    if have != want {
        configure(&cx, &fp).await?;
    }
    Ok(())
}

/// PutBucket (an existing bucket of ours is fine).
pub async fn ensure_bucket(cx: Arc<ApplyCx>, name: String) -> Result<(), Error> {
    cx.cloud
        .cos()
        .put_bucket(&name, &cx.stack.bucket.region)
        .await?;
    cx.record(|r| r.bucket = Some(name.clone()))
}

#[cfg(test)]
#[path = "functions_tests.rs"]
mod tests;
