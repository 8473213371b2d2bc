//! A CloudWatch metric stat's dimensions: a few names and their values,
//! kept sorted by name in a vector. Every target's policy holds one set; a
//! `BTreeMap` of one entry allocates a whole B-tree node (about 540 bytes).
//! Read and written as a TOML or JSON table, like a map.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Names and values, sorted by name, each name once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dimensions(Vec<(String, String)>);

impl Dimensions {
    /// (name, value) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The value of dimension `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// No dimensions at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BTreeMap<String, String>> for Dimensions {
    fn from(map: BTreeMap<String, String>) -> Dimensions {
        // A map's order is the names' order; exact-size, so no spare room.
        Dimensions(map.into_iter().collect())
    }
}

impl<const N: usize> From<[(String, String); N]> for Dimensions {
    fn from(pairs: [(String, String); N]) -> Dimensions {
        BTreeMap::from(pairs).into()
    }
}

impl From<Dimensions> for BTreeMap<String, String> {
    fn from(dimensions: Dimensions) -> BTreeMap<String, String> {
        dimensions.0.into_iter().collect()
    }
}

impl Serialize for Dimensions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Dimensions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Dimensions, D::Error> {
        BTreeMap::<String, String>::deserialize(deserializer).map(Dimensions::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_name_and_read_and_written_as_a_table() {
        let dimensions = Dimensions::from([
            ("Service".to_string(), "web".to_string()),
            ("Env".to_string(), "prod".to_string()),
        ]);
        assert_eq!(
            dimensions.iter().collect::<Vec<_>>(),
            vec![("Env", "prod"), ("Service", "web")]
        );
        assert_eq!(dimensions.get("Service"), Some("web"));
        assert_eq!(dimensions.get("Other"), None);
        let json = serde_json::to_string(&dimensions).unwrap();
        assert_eq!(json, r#"{"Env":"prod","Service":"web"}"#);
        assert_eq!(
            serde_json::from_str::<Dimensions>(&json).unwrap(),
            dimensions
        );
    }

    #[test]
    fn holds_no_spare_room() {
        // What the vector is for: a target's dimensions cost their strings
        // and one exact allocation, not a B-tree node.
        let dimensions = Dimensions::from(BTreeMap::from([(
            "AutoScalingGroupName".to_string(),
            "web".to_string(),
        )]));
        assert_eq!(dimensions.0.capacity(), 1);
    }
}
