//! The committed C header is what cbindgen generates from the current source.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_src(crate_dir.join("src/lib.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = crate_dir.join("include/xbpf.h");
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        if std::env::var_os("XBPF_UPDATE_HEADER").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        panic!(
            "{} is stale; regenerate it with XBPF_UPDATE_HEADER=1 cargo test -p xbpf-capi --test header",
            path.display()
        );
    }
}
