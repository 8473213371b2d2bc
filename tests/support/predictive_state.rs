//! Saved state of many predictive targets, for the state-size test and the
//! state-write bench: each target with a governor state (ten recent
//! proposals) and one policy's load history of `days` of 5-minute buckets.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebb::daemon::state::SavedState;
use ebb::forecast::history::LoadHistory;
use ebb::governor::GovernorState;
use ebb::series::Datapoint;
use std::collections::BTreeMap;

/// The state, and the time it was taken at: 30 s into the newest bucket.
pub fn predictive_state(targets: usize, days: i64) -> (SavedState, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let minutes = days * 24 * 60;
    // Up to the minute that starts the newest bucket.
    let points: Vec<Datapoint> = (0..=minutes)
        .map(|m| Datapoint {
            time: start + Duration::minutes(m),
            value: (m % 1440) as f64,
        })
        .collect();
    let now = start + Duration::minutes(minutes) + Duration::seconds(30);
    let mut history = LoadHistory::new(300, 14 * 86_400);
    history.ingest(now, &points, 1.0);
    let mut state = SavedState::default();
    for i in 0..targets {
        let group = format!("group-{i:04}");
        state.targets.insert(
            group.clone(),
            GovernorState {
                last_scale_out: Some(start),
                last_scale_in: Some(start),
                recent: (0..10).map(|m| (now - Duration::minutes(m), 4)).collect(),
                last_set: Some(4),
            }
            .into(),
        );
        state.histories.insert(
            group,
            BTreeMap::from([("forecast".to_string(), history.clone())]),
        );
    }
    (state, now)
}

/// Every history takes in one datapoint 20 s before `at`.
pub fn ingest_one(state: &mut SavedState, at: DateTime<Utc>) {
    let point = Datapoint {
        time: at - Duration::seconds(20),
        value: 1.0,
    };
    for histories in state.histories.values_mut() {
        for history in histories.values_mut() {
            history.ingest(at, &[point], 1.0);
        }
    }
}
