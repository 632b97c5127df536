//! Alternated pairs: the throughput targets' two scenarios (herald-durable against direct,
//! selective-1000 against herald-durable) both kept up, and their closed loops taken in turn,
//! a few rounds, each round's ratio from two loops seconds apart. The scenarios themselves run
//! minutes apart, and a VM's speed drifts by a third in that time; within a round it has no
//! time to. The targets read the median round.

use super::phase::{self, Pace};
use super::results::PhaseResult;
use super::runner::{Deployed, Runner};
use super::scenario::ScenarioName;
use serde::Serialize;

/// Two scenarios whose delivered/s ratio a target is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub numerator: ScenarioName,
    pub denominator: ScenarioName,
}

/// The comparisons a run pairs, when it has both of their scenarios.
pub const COMPARISONS: [Comparison; 2] = [
    Comparison {
        numerator: ScenarioName::HeraldDurable,
        denominator: ScenarioName::Direct,
    },
    Comparison {
        numerator: ScenarioName::Selective1000,
        denominator: ScenarioName::HeraldDurable,
    },
];

impl Comparison {
    /// As the ratios list names it.
    pub fn name(&self) -> String {
        format!(
            "{} delivered/s ÷ {} delivered/s",
            self.numerator.as_str(),
            self.denominator.as_str()
        )
    }

    /// Which side runs first in round `round`: the order alternates, so that a drift within
    /// the rounds favours neither.
    fn order(&self, round: u32) -> [ScenarioName; 2] {
        if round.is_multiple_of(2) {
            [self.numerator, self.denominator]
        } else {
            [self.denominator, self.numerator]
        }
    }
}

/// One round: each side's closed loop, back to back.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Round {
    pub numerator_per_sec: f64,
    pub denominator_per_sec: f64,
    pub ratio: Option<f64>,
}

/// A comparison's rounds and their median.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedRatio {
    pub name: String,
    pub numerator: String,
    pub denominator: String,
    pub rounds: Vec<Round>,
    /// The median of the rounds' ratios (of the middle two for an even count).
    pub median: Option<f64>,
    /// Lost, duplicated or misrouted events and failed requests over every loop, plus one
    /// when the comparison could not finish.
    pub errors: u64,
    pub failure: Option<String>,
}

impl PairedRatio {
    fn new(comparison: Comparison) -> PairedRatio {
        PairedRatio {
            name: comparison.name(),
            numerator: comparison.numerator.as_str().into(),
            denominator: comparison.denominator.as_str().into(),
            rounds: Vec::new(),
            median: None,
            errors: 0,
            failure: None,
        }
    }

    fn push(&mut self, numerator: &PhaseResult, denominator: &PhaseResult) {
        self.errors += numerator.errors() + denominator.errors();
        let (n, d) = (
            numerator.delivered_per_sec.unwrap_or(0.0),
            denominator.delivered_per_sec.unwrap_or(0.0),
        );
        self.rounds.push(Round {
            numerator_per_sec: n,
            denominator_per_sec: d,
            ratio: (d > 0.0).then(|| n / d),
        });
        self.median = median(self.rounds.iter().filter_map(|r| r.ratio).collect());
    }

    fn fail(&mut self, reason: String) {
        self.failure.get_or_insert(reason);
        self.errors += 1;
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if !n.is_multiple_of(2) => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

impl Runner<'_> {
    /// Every comparison whose two scenarios this run selected, `settings.pairs` rounds each.
    pub async fn run_pairs(&self) -> Vec<PairedRatio> {
        let rounds = self.settings.pairs;
        let selected = |name| self.settings.scenarios.contains(&name);
        let mut out = Vec::new();
        for comparison in COMPARISONS {
            if rounds == 0 || !selected(comparison.numerator) || !selected(comparison.denominator) {
                continue;
            }
            eprintln!(
                "herald-bench: paired: {} ({rounds} rounds)",
                comparison.name()
            );
            let mut paired = PairedRatio::new(comparison);
            self.pair(comparison, rounds, &mut paired).await;
            if let Some(failure) = &paired.failure {
                eprintln!("herald-bench:   failed: {failure}");
            }
            out.push(paired);
        }
        out
    }

    async fn pair(&self, comparison: Comparison, rounds: u32, paired: &mut PairedRatio) {
        let numerator = match self.deploy(comparison.numerator).await {
            Ok(deployed) => deployed,
            Err(err) => return paired.fail(err.to_string()),
        };
        let denominator = match self.deploy(comparison.denominator).await {
            Ok(deployed) => deployed,
            Err(err) => {
                paired.fail(err.to_string());
                let _ = numerator.stop(false).await;
                return;
            }
        };
        let looped = self
            .alternate(comparison, rounds, [&numerator, &denominator], paired)
            .await;
        if let Err(err) = looped {
            paired.fail(err);
        }
        for deployed in [numerator, denominator] {
            if let Err(err) = deployed.stop(paired.failure.is_none()).await {
                paired.fail(err.to_string());
            }
        }
    }

    /// The rounds, each side's closed loop in the round's order.
    async fn alternate(
        &self,
        comparison: Comparison,
        rounds: u32,
        [numerator, denominator]: [&Deployed; 2],
        paired: &mut PairedRatio,
    ) -> Result<(), String> {
        let s = self.settings;
        let contexts = [
            self.deployed_context(numerator),
            self.deployed_context(denominator),
        ];
        let pace = Pace::Closed {
            concurrency: s.concurrency,
            warmup: s.warmup,
        };
        for round in 0..rounds {
            let [first, second] = comparison.order(round);
            let closed_loop = async |name: ScenarioName| {
                let context = &contexts[usize::from(name != comparison.numerator)];
                phase::run(context, pace, s.duration)
                    .await
                    .map_err(|e| e.to_string())
            };
            let (a, b) = (closed_loop(first).await?, closed_loop(second).await?);
            let (n, d) = if first == comparison.numerator {
                (&a, &b)
            } else {
                (&b, &a)
            };
            paired.push(n, d);
            let last = paired.rounds.last().and_then(|r| r.ratio);
            eprintln!(
                "herald-bench:   round {}: {:.0} vs {:.0} delivered/s, ratio {}",
                round + 1,
                n.delivered_per_sec.unwrap_or(0.0),
                d.delivered_per_sec.unwrap_or(0.0),
                last.map_or("–".into(), |r| format!("{r:.3}"))
            );
        }
        Ok(())
    }
}

/// Pairs made up for the tests of the report's parts.
#[cfg(test)]
pub mod fixtures {
    use super::*;
    use crate::bench::results::PhaseKind;
    use crate::bench::results::fixtures::phase;

    /// A closed loop that delivered `delivered` events/s.
    pub fn closed(delivered: f64) -> PhaseResult {
        let mut p = phase(PhaseKind::Closed, None, 1.0);
        p.delivered_per_sec = Some(delivered);
        p
    }

    /// herald-durable against direct, one round per (herald-durable, direct) delivered/s.
    pub fn durable_vs_direct(rounds: &[(f64, f64)]) -> PairedRatio {
        let mut paired = PairedRatio::new(COMPARISONS[0]);
        for &(durable, direct) in rounds {
            paired.push(&closed(durable), &closed(direct));
        }
        paired
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::closed;
    use super::*;

    #[test]
    fn rounds_alternate_which_side_goes_first() {
        let c = COMPARISONS[0];
        assert_eq!(
            c.order(0),
            [ScenarioName::HeraldDurable, ScenarioName::Direct]
        );
        assert_eq!(
            c.order(1),
            [ScenarioName::Direct, ScenarioName::HeraldDurable]
        );
        assert_eq!(c.order(2), c.order(0));
        assert_eq!(c.name(), "herald-durable delivered/s ÷ direct delivered/s");
    }

    #[test]
    fn the_median_round_stands_for_the_comparison() {
        let mut paired = PairedRatio::new(COMPARISONS[0]);
        paired.push(&closed(30.0), &closed(100.0));
        assert_eq!(paired.median, Some(0.3));
        paired.push(&closed(40.0), &closed(100.0));
        assert_eq!(paired.median, Some(0.35));
        // A round whose baseline delivered nothing has no ratio and does not move the median.
        paired.push(&closed(40.0), &closed(0.0));
        assert_eq!(paired.median, Some(0.35));
        paired.push(&closed(90.0), &closed(100.0));
        assert_eq!(paired.median, Some(0.4));
        assert_eq!(paired.rounds.len(), 4);
        assert_eq!(paired.errors, 0);
    }

    #[test]
    fn errors_of_any_loop_count_against_the_comparison() {
        let mut paired = PairedRatio::new(COMPARISONS[1]);
        let mut lossy = closed(10.0);
        lossy.lost = 2;
        paired.push(&lossy, &closed(10.0));
        assert_eq!(paired.errors, 2);
        paired.fail("herald died".into());
        paired.fail("second".into());
        assert_eq!(paired.errors, 4);
        assert_eq!(paired.failure.as_deref(), Some("herald died"));
    }
}
