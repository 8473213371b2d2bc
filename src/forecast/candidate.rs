//! What the backtest chooses between: one model, or a combination of the
//! best few at a horizon (their mean or median, step by step).
//!
//! Combining forecasts is a strong default in the forecasting literature
//! (the M4 and M5 competitions): the members' errors partly cancel. The
//! backtest scores each combination like a model and decides whether it is
//! used.

use super::profile::median;
use super::{FitResult, Fitted, Forecast, ForecastError, ModelKind, Seasons};
use serde::{Serialize, Serializer};
use std::fmt;

/// How a combination merges its members' forecasts at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The mean of the members' forecasts (and of their variances).
    Mean,
    /// The median of the members' forecasts.
    Median,
}

/// Several models whose forecasts are merged step by step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Combination {
    /// How the members' forecasts are merged.
    pub rule: Rule,
    /// At least two, in the order they ranked.
    pub members: Vec<ModelKind>,
}

/// One model or a combination: what a backtest scores and a choice names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Candidate {
    /// One model alone.
    Model(ModelKind),
    /// Several models merged step by step.
    Combination(Combination),
}

impl Candidate {
    /// The models to fit for it.
    pub fn models(&self) -> &[ModelKind] {
        match self {
            Candidate::Model(model) => std::slice::from_ref(model),
            Candidate::Combination(c) => &c.members,
        }
    }

    /// The single model, when it is one.
    pub fn model(&self) -> Option<ModelKind> {
        match self {
            Candidate::Model(model) => Some(*model),
            Candidate::Combination(_) => None,
        }
    }

    /// Fits every model it needs to `y`.
    pub fn fit(&self, y: &[f64], seasons: Seasons) -> FitResult<Box<dyn Fitted>> {
        match self {
            Candidate::Model(model) => model.fit(y, seasons),
            Candidate::Combination(c) => {
                let members = c
                    .members
                    .iter()
                    .map(|m| m.fit(y, seasons))
                    .collect::<FitResult<Vec<_>>>()?;
                Ok(Box::new(CombinedFit {
                    rule: c.rule,
                    members,
                }))
            }
        }
    }
}

impl From<ModelKind> for Candidate {
    fn from(model: ModelKind) -> Candidate {
        Candidate::Model(model)
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Candidate::Model(model) => f.write_str(model.name()),
            Candidate::Combination(c) => {
                let rule = match c.rule {
                    Rule::Mean => "mean",
                    Rule::Median => "median",
                };
                let names: Vec<&str> = c.members.iter().map(|m| m.name()).collect();
                write!(f, "{rule}({})", names.join(", "))
            }
        }
    }
}

/// Written as its name (`mstl`, `median(mstl, holt-winters-additive, ...)`),
/// as the single models always were in records and reports.
impl Serialize for Candidate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The members' fits, merged at forecast time.
struct CombinedFit {
    rule: Rule,
    members: Vec<Box<dyn Fitted>>,
}

impl Fitted for CombinedFit {
    fn clone_box(&self) -> Box<dyn Fitted> {
        Box::new(CombinedFit {
            rule: self.rule,
            members: self.members.iter().map(|m| m.clone_box()).collect(),
        })
    }

    fn forecast(&self, horizon: usize) -> Forecast {
        let forecasts: Vec<Forecast> = self.members.iter().map(|m| m.forecast(horizon)).collect();
        combine(&forecasts, self.rule)
    }

    fn update(&mut self, value: f64) -> Result<(), ForecastError> {
        self.members.iter_mut().try_for_each(|m| m.update(value))
    }
}

/// Merges forecasts of the same length step by step. The mean or median of
/// the members' means; as sigma, the mean (or median) of their sigmas. That is what the
/// mean's error would have if the members' errors moved together (the most
/// it can have), and models of the same history err together far more than
/// apart; the backtest's coverage test holds it to its nominal level.
pub fn combine(forecasts: &[Forecast], rule: Rule) -> Forecast {
    let Some(len) = forecasts.iter().map(Forecast::len).min() else {
        return Forecast::default();
    };
    let count = forecasts.len() as f64;
    let mut column = Vec::with_capacity(forecasts.len());
    let mut out = Forecast {
        mean: Vec::with_capacity(len),
        sigma: Vec::with_capacity(len),
    };
    for h in 0..len {
        column.clear();
        column.extend(forecasts.iter().map(|f| f.mean[h]));
        out.mean.push(match rule {
            Rule::Mean => column.iter().sum::<f64>() / count,
            Rule::Median => median(&mut column),
        });
        column.clear();
        column.extend(forecasts.iter().map(|f| f.sigma[h]));
        out.sigma.push(match rule {
            Rule::Mean => column.iter().sum::<f64>() / count,
            Rule::Median => median(&mut column),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(mean: &[f64], sigma: f64) -> Forecast {
        Forecast {
            mean: mean.to_vec(),
            sigma: vec![sigma; mean.len()],
        }
    }

    #[test]
    fn mean_and_median_merge_step_by_step() {
        let members = [
            forecast(&[1.0, 10.0], 1.0),
            forecast(&[2.0, 20.0], 2.0),
            forecast(&[9.0, 30.0], 3.0),
        ];
        let mean = combine(&members, Rule::Mean);
        assert_eq!(mean.mean, vec![4.0, 20.0]);
        assert_eq!(mean.sigma, vec![2.0, 2.0]);
        assert_eq!(combine(&members, Rule::Median).mean, vec![2.0, 20.0]);
        assert_eq!(combine(&members[..2], Rule::Median).mean, vec![1.5, 15.0]);
    }

    #[test]
    fn names_read_as_the_rule_over_its_members() {
        let c = Candidate::Combination(Combination {
            rule: Rule::Median,
            members: vec![ModelKind::Mstl, ModelKind::SeasonalNaiveWeekly],
        });
        assert_eq!(c.to_string(), "median(mstl, seasonal-naive-weekly)");
        assert_eq!(serde_json::to_value(&c).unwrap(), c.to_string());
        assert_eq!(Candidate::from(ModelKind::Mstl).to_string(), "mstl");
    }
}
