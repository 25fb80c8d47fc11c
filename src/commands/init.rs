//! `chatstack init [DIR]`: writes the chat template (stack file, functions, web page, README,
//! CI workflow) into DIR, the current directory by default, and says what to run next.

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::template::{self, InitError};
use crate::ui;

/// `init` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the project (created if missing) [default: the current directory]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// The project's name, used in function, service and bucket names [default: DIR's name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// Writes the project, or nothing if any of its files already exists.
pub fn run(args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let absolute = std::path::absolute(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let dir_name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let wanted = args.name.as_deref().unwrap_or(&dir_name);
    let name = template::project_name(wanted).ok_or_else(|| InitError::BadName {
        dir: wanted.to_owned(),
    })?;
    let chat = template::TEMPLATES[0];
    let files = chat.render(&name);
    template::write(&files, &dir)?;
    ui::status(
        global,
        "Created",
        &format!(
            "chat project `{name}` in {} ({} files)",
            dir.display(),
            files.len()
        ),
    );
    let cd = if dir == std::path::Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", shell_word(&dir.to_string_lossy()))
    };
    if global.json {
        ui::print_json(&serde_json::json!({
            "name": name,
            "dir": absolute,
            "files": files.iter().map(|f| f.path.to_string_lossy()).collect::<Vec<_>>(),
        }));
    } else if !global.quiet {
        ui::print_result(&format!(
            "\nNext:\n  {cd}chatstack dev       # the chat on the local cloud, in your browser\n  \
             {cd}chatstack deploy    # the same project on Tencent Cloud\n"
        ));
    }
    Ok(())
}

/// `dir` as one shell word (quoted when it needs to be).
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
