//! The integration tests, in one binary (as ripgrep and cargo do): linking the whole crate once
//! instead of once per area. One module per area; `common` is the harness they share.

mod common;

mod bench;
mod cli_config;
mod cli_errors;
mod cli_story;
mod contract_access;
mod contract_artifact;
mod contract_rules;
mod demo;
mod devnet;
mod directory;
mod exchange;
mod fhir_export;
mod fhir_validator;
mod follow;
mod geth_network;
mod governance;
mod harness;
mod import;
mod migration;
mod model;
mod operations;
mod privacy;
mod readme;
mod recovery;
mod reorg;
mod sharing;
mod web;
