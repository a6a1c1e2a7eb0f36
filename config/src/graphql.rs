//! `[api.graphql]`: the bounds every GraphQL request is held to before anything is read (depth,
//! complexity, aliases, list sizes, batch size) and whether the schema answers introspection.
//! Invariant: every bound is at least 1 and at most what the REST API itself allows (a list is never
//! longer than a REST page, `MAX_LIST_SIZE`).

use serde::{Deserialize, Serialize};

use crate::check::{Section, in_range};
use crate::error::ConfigError;

/// The longest list a client may ask for in one field: REST's largest page (`store::MAX_PAGE_SIZE`).
pub const MAX_LIST_SIZE: u64 = 1_000;

/// `[api.graphql]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGraphql {
    /// The deepest selection nesting a query may have (`certificates { edges { node { … } } }` is 4).
    pub max_depth: u64,
    /// The largest cost a query may add up to: each field costs 1, a list field its `first` times
    /// what it selects.
    pub max_complexity: u64,
    /// The most aliased fields one request may hold (an alias repeats a field without nesting it).
    pub max_aliases: u64,
    /// The largest `first`/`last` a list field takes (1 to 1000, like REST's `limit`).
    pub max_list_size: u64,
    /// The most operations one batched request (a JSON array) may carry.
    pub max_batch_size: u64,
    /// Whether `__schema` and `__type` are answered. Unset: on for a development installation (the
    /// `dev` KEK provider), off otherwise; the SDL at `/api/graphql/schema.graphql` is always served.
    pub introspection: Option<bool>,
}

impl Default for RawGraphql {
    fn default() -> Self {
        RawGraphql {
            max_depth: 12,
            max_complexity: 20_000,
            max_aliases: 30,
            max_list_size: 100,
            max_batch_size: 10,
            introspection: None,
        }
    }
}

/// The validated bounds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GraphqlConfig {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_list_size: usize,
    pub max_batch_size: usize,
    pub introspection: bool,
}

impl Default for GraphqlConfig {
    /// The defaults of a development installation (introspection on).
    fn default() -> Self {
        RawGraphql::default().validate(Section("api.graphql"), true).expect("the defaults are valid")
    }
}

impl RawGraphql {
    /// `development`: whether this is a development installation (the `dev` KEK provider), which
    /// decides introspection when the file does not.
    pub(crate) fn validate(self, prefix: Section<'_>, development: bool) -> Result<GraphqlConfig, ConfigError> {
        let key = |name: &str| prefix.key(name);
        Ok(GraphqlConfig {
            max_depth: in_range(key("max_depth"), self.max_depth, 2, 64)? as usize,
            max_complexity: in_range(key("max_complexity"), self.max_complexity, 10, 10_000_000)? as usize,
            max_aliases: in_range(key("max_aliases"), self.max_aliases, 0, 1_000)? as usize,
            max_list_size: in_range(key("max_list_size"), self.max_list_size, 1, MAX_LIST_SIZE)? as usize,
            max_batch_size: in_range(key("max_batch_size"), self.max_batch_size, 1, 100)? as usize,
            introspection: self.introspection.unwrap_or(development),
        })
    }
}

/// The file form of validated bounds (introspection written out, so it reads back the same).
impl From<&GraphqlConfig> for RawGraphql {
    fn from(c: &GraphqlConfig) -> Self {
        RawGraphql {
            max_depth: c.max_depth as u64,
            max_complexity: c.max_complexity as u64,
            max_aliases: c.max_aliases as u64,
            max_list_size: c.max_list_size as u64,
            max_batch_size: c.max_batch_size as u64,
            introspection: Some(c.introspection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each bound is checked under its own key and names the range; introspection follows the
    /// installation unless set.
    #[test]
    fn bounds_are_checked_and_introspection_follows_the_installation() {
        let section = Section("api.graphql");
        let too_long = RawGraphql { max_list_size: 5_000, ..RawGraphql::default() };
        let err = too_long.validate(Section("api.graphql"), true).unwrap_err();
        assert_eq!(err.to_string(), "api.graphql.max_list_size: must be between 1 and 1000 (got 5000)");
        let flat = RawGraphql { max_depth: 1, ..RawGraphql::default() };
        assert!(
            flat.validate(Section("api.graphql"), true).unwrap_err().to_string().starts_with("api.graphql.max_depth")
        );
        assert!(RawGraphql::default().validate(section, true).unwrap().introspection);
        assert!(!RawGraphql::default().validate(Section("api.graphql"), false).unwrap().introspection);
        let forced = RawGraphql { introspection: Some(true), ..RawGraphql::default() };
        assert!(forced.validate(Section("api.graphql"), false).unwrap().introspection);
    }

    /// Through the whole configuration: `[api.graphql]` is read from the file and the environment,
    /// a bad value names its key, an unknown key is refused, and introspection is on for the
    /// default (development) KEK and off for a key file unless the file says.
    #[test]
    fn the_section_is_read_checked_and_follows_the_kek() {
        let path = std::path::Path::new("t.toml");
        let config = crate::load_from_str(
            "[api.graphql]
max_depth = 8
",
            path,
            Vec::new(),
        )
        .unwrap();
        assert_eq!((config.api.graphql.max_depth, config.api.graphql.introspection), (8, true));
        let env = vec![("CERTAUTOPILOT_API__GRAPHQL__MAX_ALIASES".to_owned(), "3".to_owned())];
        assert_eq!(crate::load_from_str("", path, env).unwrap().api.graphql.max_aliases, 3);
        let err = crate::load_from_str(
            "[api.graphql]
max_batch_size = 0
",
            path,
            Vec::new(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "api.graphql.max_batch_size: must be between 1 and 100 (got 0)");
        assert!(
            crate::load_from_str(
                "[api.graphql]
max_dept = 8
",
                path,
                Vec::new()
            )
            .is_err()
        );
        let production = "[kek]\nprovider = \"file\"\nfile_path = \"/etc/kek.json\"\n";
        assert!(!crate::load_from_str(production, path, Vec::new()).unwrap().api.graphql.introspection);
        let opened = format!("{production}[api.graphql]\nintrospection = true\n");
        assert!(crate::load_from_str(&opened, path, Vec::new()).unwrap().api.graphql.introspection);
    }
}
