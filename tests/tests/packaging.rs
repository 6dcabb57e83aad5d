//! What crates.io and docs.rs take from each published crate's manifest.

use std::process::Command;

/// What `cargo <args>` prints, in the workspace; it must succeed.
fn cargo(args: &[&str]) -> Vec<u8> {
    // Cargo sets `CARGO` for the tests it runs: the same cargo, whatever is on `PATH`.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The workspace's publishable packages, as `cargo metadata` describes them.
fn published_packages() -> Vec<serde_json::Value> {
    let metadata: serde_json::Value =
        serde_json::from_slice(&cargo(&["metadata", "--no-deps", "--format-version", "1"]))
            .unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    // `publish = false` is an empty list of registries.
    let published: Vec<_> = packages
        .iter()
        .filter(|p| p["publish"] != serde_json::json!([]))
        .cloned()
        .collect();
    assert!(published.len() >= 6, "the library crates: {published:?}");
    published
}

#[test]
fn every_published_crate_has_a_description_license_repository_and_readme() {
    for package in published_packages() {
        for key in ["description", "license", "repository", "readme"] {
            assert!(
                package[key].as_str().is_some_and(|v| !v.is_empty()),
                "{} has no {key}",
                package["name"]
            );
        }
    }
}

/// docs.rs builds with default features unless told otherwise, and every feature here is
/// off by default: without this, the published docs of `obs-core` would lack
/// `obs_core::tower`, `obs_core::tonic` and `obs_core::testing`.
#[test]
fn docs_rs_documents_every_features_api() {
    for package in published_packages() {
        let has_features = package["features"]
            .as_object()
            .is_some_and(|features| features.keys().any(|name| name != "default"));
        if has_features {
            assert_eq!(
                package["metadata"]["docs"]["rs"]["all-features"],
                serde_json::json!(true),
                "{} needs [package.metadata.docs.rs] all-features = true",
                package["name"]
            );
        }
    }
}

/// The files `cargo package` would publish for `package` (paths relative to its folder).
fn published_files(package: &serde_json::Value) -> Vec<String> {
    let name = package["name"].as_str().unwrap();
    String::from_utf8(cargo(&["package", "--list", "--allow-dirty", "-p", name]))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `a/b/../c` as `a/c`, without touching the file system; `None` if it climbs out.
fn normalize(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str().to_owned()),
        }
    }
    Some(parts.iter().collect())
}

/// A module included by `#[path]` must ship with the crate: a published test or bench that
/// reaches into another folder of the repository fails to build from the downloaded crate.
#[test]
fn every_file_a_published_crate_includes_by_path_is_published_with_it() {
    for package in published_packages() {
        let folder = std::path::Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_owned();
        let files = published_files(&package);
        for file in files.iter().filter(|f| f.ends_with(".rs")) {
            let text = std::fs::read_to_string(folder.join(file)).unwrap();
            let dir = std::path::Path::new(file).parent().unwrap();
            for line in text.lines() {
                let Some(target) = line
                    .trim()
                    .strip_prefix("#[path = \"")
                    .and_then(|rest| rest.strip_suffix("\"]"))
                else {
                    continue;
                };
                let included = normalize(&dir.join(target));
                assert!(
                    included
                        .as_ref()
                        .is_some_and(|p| files.iter().any(|f| std::path::Path::new(f) == p)),
                    "{}: {file} includes {target}, which is not published with it",
                    package["name"]
                );
            }
        }
    }
}
