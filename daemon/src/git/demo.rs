//! The demo's repository: a toy service committed once, on `main`, so the
//! demo's runs make real branches, commits and diffs.

use super::{RepoError, open_exactly};
use std::path::Path;

/// Makes the repository at `path` with `files` in one commit, unless it is
/// there already (then it is left as it is, the user's edits included).
pub fn create(path: &Path, files: &[(&str, &str)]) -> Result<(), RepoError> {
    let shown = path.display().to_string();
    if open_exactly(path, &shown).is_ok() {
        return Ok(());
    }
    let io = |action: &'static str| {
        let shown = shown.clone();
        move |e: std::io::Error| RepoError::Git {
            path: shown.clone(),
            action,
            message: e.to_string(),
        }
    };
    for (name, text) in files {
        let file = path.join(name);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io("make the demo's folders"))?;
        }
        std::fs::write(&file, text).map_err(io("write the demo's files"))?;
    }
    let mut init = git2::RepositoryInitOptions::new();
    init.initial_head("main");
    let repo = git2::Repository::init_opts(path, &init)
        .map_err(RepoError::git(&shown, "make the demo's repository"))?;
    let mut index = repo
        .index()
        .map_err(RepoError::git(&shown, "read the index"))?;
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .and_then(|()| index.write())
        .map_err(RepoError::git(&shown, "stage the demo's files"))?;
    let tree = index
        .write_tree()
        .and_then(|id| repo.find_tree(id))
        .map_err(RepoError::git(&shown, "write the demo's tree"))?;
    let who = git2::Signature::now("cattery demo", "demo@cattery.invalid")
        .map_err(RepoError::git(&shown, "make the commit's author"))?;
    repo.commit(
        Some("HEAD"),
        &who,
        &who,
        "A toy payments service",
        &tree,
        &[],
    )
    .map_err(RepoError::git(&shown, "commit the demo's files"))?;
    Ok(())
}
