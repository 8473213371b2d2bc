//! The `flapping` condition: scale-out/scale-in reversals within a window.

use super::super::engine::Track;
use super::Condition;
use crate::decision::{Action, DecisionRecord};
use std::time::Duration;

/// The `flapping` condition.
pub(super) fn flapping(
    changes: u32,
    window: Duration,
    track: &mut Track,
    record: &DecisionRecord,
) -> Condition {
    let target = &record.target;
    let window = crate::clock::to_chrono(window);
    if record.action != Action::Hold && record.outcome.error().is_none() {
        track.moves.push_back((record.time, record.action));
    }
    while track
        .moves
        .front()
        .is_some_and(|(t, _)| record.time - *t > window)
    {
        track.moves.pop_front();
    }
    let reversals = track
        .moves
        .iter()
        .zip(track.moves.iter().skip(1))
        .filter(|(a, b)| a.1 != b.1)
        .count() as u32;
    if reversals > changes {
        Condition::Holds {
            summary: format!(
                "{target}: flapping, {reversals} direction changes within {}",
                humantime::format_duration(window.to_std().unwrap_or_default())
            ),
            description: format!(
                "{} scaling decisions in the window; consider a longer stabilization window or cooldowns",
                track.moves.len()
            ),
        }
    } else {
        Condition::Clear
    }
}
