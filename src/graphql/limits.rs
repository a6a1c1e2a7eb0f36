//! The bounds of a GraphQL request that async-graphql does not check itself: how many aliased
//! fields it holds (counted through fragment spreads, so a fragment used a hundred times counts a
//! hundred times), and no mutation over GET. Depth and complexity are async-graphql's own
//! (`limit_depth`, `limit_complexity`), introspection its `disable_introspection`.
//! Invariant: these run on the parsed document, before validation and before the caller is
//! authenticated, so a refused request has cost no store call.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Name, Positioned, ServerError, ServerResult, Variables};

/// The parse-time bounds, as an extension of the schema.
pub struct Bounds {
    pub max_aliases: usize,
}

/// Marks a request that arrived by GET: it may only read.
#[derive(Clone, Copy)]
pub struct ReadOnly;

impl ExtensionFactory for Bounds {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(BoundsExtension { max_aliases: self.max_aliases })
    }
}

struct BoundsExtension {
    max_aliases: usize,
}

/// A request-level refusal, coded like REST's 400 (`bad_request`).
pub fn refusal(message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "bad_request");
    error.extensions = Some(extensions);
    error
}

#[async_trait::async_trait]
impl Extension for BoundsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if ctx.data_opt::<ReadOnly>().is_some()
            && document.operations.iter().any(|(_, op)| op.node.ty != OperationType::Query)
        {
            return Err(refusal("only queries may be sent with GET; send mutations with POST"));
        }
        if let Err(seen) = count_aliases(&document, self.max_aliases) {
            return Err(refusal(format!(
                "the request holds more than {} aliased fields ({seen} counted before stopping)",
                self.max_aliases
            )));
        }
        Ok(document)
    }
}

/// How many selections a count may visit before the document counts as too large to expand.
const VISIT_BUDGET: usize = 100_000;

/// Counts aliased fields of every operation, expanding fragment spreads where they are used.
/// `Err(n)` as soon as more than `max` were seen (or the expansion exceeded `VISIT_BUDGET`).
pub fn count_aliases(document: &ExecutableDocument, max: usize) -> Result<usize, usize> {
    let mut counter = Counter { fragments: &document.fragments, aliases: 0, visits: 0, max, path: Vec::new() };
    for (_, operation) in document.operations.iter() {
        counter.walk(&operation.node.selection_set)?;
    }
    Ok(counter.aliases)
}

struct Counter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    aliases: usize,
    visits: usize,
    max: usize,
    /// Fragments being expanded (a cycle is validation's to report; here it just stops).
    path: Vec<&'a Name>,
}

impl<'a> Counter<'a> {
    fn walk(&mut self, set: &'a Positioned<SelectionSet>) -> Result<(), usize> {
        for selection in &set.node.items {
            self.visits += 1;
            if self.visits > VISIT_BUDGET {
                return Err(self.aliases.max(self.max + 1));
            }
            match &selection.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        self.aliases += 1;
                        if self.aliases > self.max {
                            return Err(self.aliases);
                        }
                    }
                    self.walk(&field.node.selection_set)?;
                }
                Selection::InlineFragment(fragment) => self.walk(&fragment.node.selection_set)?,
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if self.path.contains(&name) {
                        continue;
                    }
                    if let Some(fragment) = self.fragments.get(name) {
                        self.path.push(name);
                        self.walk(&fragment.node.selection_set)?;
                        self.path.pop();
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str, max: usize) -> Result<usize, usize> {
        count_aliases(&async_graphql::parser::parse_query(query).unwrap(), max)
    }

    /// Aliases are counted where fragments are used, so spreading one fragment many times cannot
    /// hide an alias bomb; a cycle of fragments neither loops nor overflows.
    #[test]
    fn aliases_are_counted_through_fragment_spreads() {
        assert_eq!(count("{ a: me { id } b: me { id } }", 10), Ok(2));
        let spread = "fragment F on Query { x: me { id } y: me { id } } { ...F ...F ...F }";
        assert_eq!(count(spread, 10), Ok(6));
        assert_eq!(count(spread, 5), Err(6));
        let cycle = "fragment A on Query { a: me { id } ...B } fragment B on Query { ...A } { ...A }";
        assert_eq!(count(cycle, 10), Ok(1));
    }
}
