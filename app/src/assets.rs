//! The names `cargo xtask build` gave `/pkg`'s files: `ticketing.<content hash>.css` etc.,
//! listed in the hash file `HydrationScripts` reads for the JS and wasm.
use leptos::prelude::LeptosOptions;

/// The stylesheet's address (unhashed when the build wrote no hash file).
pub fn stylesheet_href(options: &LeptosOptions) -> String {
    let name = hashed_name(options, "css").unwrap_or_else(|| options.output_name.to_string());
    format!("/{}/{name}.css", options.site_pkg_dir)
}

/// `ticketing.<hash>` for `kind` (js, wasm, css), read where Leptos reads it: beside the
/// binary unless the configured path is absolute (the server makes it so).
#[cfg(feature = "ssr")]
fn hashed_name(options: &LeptosOptions, kind: &str) -> Option<String> {
    if !options.hash_files {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let hashes = std::fs::read_to_string(exe.parent()?.join(&*options.hash_file)).ok()?;
    hashes.lines().find_map(|line| {
        let (file, hash) = line.split_once(':')?;
        (file.trim() == kind).then(|| format!("{}.{}", options.output_name, hash.trim()))
    })
}

/// The shell is only rendered on the server.
#[cfg(not(feature = "ssr"))]
fn hashed_name(_: &LeptosOptions, _: &str) -> Option<String> {
    None
}
