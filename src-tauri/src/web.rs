//! The web dashboard `gatehouse serve` offers browsers: the very files the window embeds
//! (one build serves both), taken from Tauri's embedded assets.

use std::sync::Arc;

use gatehouse_core::serve::Site;

/// The front end's files, as the window has them.
pub fn site() -> Arc<Site> {
    let context = crate::context();
    let assets = context.assets();
    // The iterator gives the stored (compressed) bytes; `get` gives the files themselves.
    let paths: Vec<String> = assets.iter().map(|(path, _)| path.into_owned()).collect();
    let files = paths.into_iter().filter_map(|path| {
        let bytes = assets.get(&path.as_str().into())?.into_owned();
        Some((path, bytes))
    });
    Arc::new(Site::new(files))
}
