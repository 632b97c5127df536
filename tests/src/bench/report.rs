//! The whole run as written to `--out`: results.json (machine, settings, one object per
//! scenario, the alternated pairs, ratios, targets), results.md and latency.svg.

use super::chart;
use super::error::BenchError;
use super::machine::Machine;
use super::markdown;
use super::options::Settings;
use super::paired::PairedRatio;
use super::placement::Cores;
use super::results::ScenarioResult;
use super::targets::{self, Ratio, TargetCheck};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    /// Where the system under test and the load generator ran.
    pub cores: Cores,
    pub scenarios: Vec<ScenarioResult>,
    /// The throughput targets' scenarios again, their closed loops taken in turn.
    pub paired: Vec<PairedRatio>,
    pub ratios: Vec<Ratio>,
    pub targets: Vec<TargetCheck>,
}

impl Report {
    pub fn new(
        machine: Machine,
        settings: Settings,
        cores: Cores,
        scenarios: Vec<ScenarioResult>,
        paired: Vec<PairedRatio>,
    ) -> Report {
        Report {
            cores,
            ratios: targets::ratios(&scenarios),
            targets: targets::targets(&scenarios, &paired),
            machine,
            settings,
            scenarios,
            paired,
        }
    }

    /// Whether any scenario, or any loop of the alternated pairs, had errors.
    pub fn has_errors(&self) -> bool {
        self.scenarios.iter().any(|s| s.errors > 0) || self.paired.iter().any(|p| p.errors > 0)
    }

    /// Writes results.json, results.md and latency.svg into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
        let json_path = dir.join("results.json");
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| BenchError::io("encoding results.json", std::io::Error::other(e)))?;
        write_file(&json_path, json)?;
        let md_path = dir.join("results.md");
        write_file(&md_path, markdown::render(self))?;
        let svg_path = dir.join("latency.svg");
        chart::draw(&self.scenarios, &svg_path)?;
        Ok(vec![json_path, md_path, svg_path])
    }
}

fn write_file(path: &Path, contents: String) -> Result<(), BenchError> {
    std::fs::write(path, contents)
        .map_err(|e| BenchError::io(format!("writing {}", path.display()), e))
}
