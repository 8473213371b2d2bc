//! Serde for a map whose values are shared (`Arc`), read and written as a
//! plain map: `#[serde(with = "crate::shared_map")]`.
//!
//! Values are shared where one copy per target is kept in several places
//! (a policy file's metric specs and the requests of every round; a
//! target's governor state and the saved state); their files look the same
//! as with owned values.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Writes the map as if its values were owned.
pub fn serialize<S, T>(map: &BTreeMap<String, Arc<T>>, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    serializer.collect_map(map.iter().map(|(key, value)| (key, value.as_ref())))
}

/// Reads a map of owned values and shares each.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, Arc<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let map = BTreeMap::<String, T>::deserialize(deserializer)?;
    Ok(map
        .into_iter()
        .map(|(key, value)| (key, Arc::new(value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "super")]
        values: BTreeMap<String, Arc<Vec<u32>>>,
    }

    #[test]
    fn reads_and_writes_the_same_text_as_a_map_of_owned_values() {
        let owned = BTreeMap::from([("a".to_string(), vec![1, 2]), ("b".to_string(), vec![])]);
        let text = serde_json::to_string(&serde_json::json!({ "values": owned })).unwrap();
        let read: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(*read.values["a"], vec![1, 2]);
        assert_eq!(serde_json::to_string(&read).unwrap(), text);
    }
}
