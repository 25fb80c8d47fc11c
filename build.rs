//! Rebuilds when a template changes: `chatstack init` embeds `templates/` (include_dir), and
//! cargo does not see files added to an embedded directory on its own.

fn main() {
    println!("cargo:rerun-if-changed=templates");
}
