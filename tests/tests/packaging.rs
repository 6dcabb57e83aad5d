//! What crates.io and docs.rs take from each published crate's manifest.

use std::process::Command;

/// The workspace's publishable packages, as `cargo metadata` describes them.
fn published_packages() -> Vec<serde_json::Value> {
    // Cargo sets `CARGO` for the tests it runs: the same cargo, whatever is on `PATH`.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
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
