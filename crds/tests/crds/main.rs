//! Integration tests of herald-crds: Knative manifests, manifest parsing, defaults, validation
//! rules and immutability. One test binary, several modules.

mod common;
mod defaults;
mod knative_fixtures;
mod manifests;
mod updates;
mod validation_broker_trigger;
mod validation_delivery;
mod validation_sources;
