//! The schema: every resource group's queries merged into one `Query`, every REST write as a
//! `Mutation` (`mutations`), the bounds of `[api.graphql]`.
//! Invariant: `sdl()` is what `/api/graphql/schema.graphql` serves and `docs/schema.graphql` holds.

use async_graphql::{EmptySubscription, MergedObject, Schema};
use certautopilot_config::GraphqlConfig;

use crate::graphql::acme::AcmeQuery;
use crate::graphql::approvals::ApprovalQuery;
use crate::graphql::audit::AuditQuery;
use crate::graphql::certificates::CertificateQuery;
use crate::graphql::cluster::ClusterQuery;
use crate::graphql::dns::DnsQuery;
use crate::graphql::http::AuthGate;
use crate::graphql::jobs::JobQuery;
use crate::graphql::limits::Bounds;
use crate::graphql::mutations::MutationRoot;
use crate::graphql::notifications::NotificationQuery;
use crate::graphql::projects::ProjectQuery;
use crate::graphql::session::SessionQuery;
use crate::graphql::targets::TargetQuery;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    SessionQuery,
    ProjectQuery,
    AcmeQuery,
    DnsQuery,
    TargetQuery,
    CertificateQuery,
    JobQuery,
    AuditQuery,
    ClusterQuery,
    ApprovalQuery,
    NotificationQuery,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The schema with `config`'s bounds. The caller is authenticated by `AuthGate` only once a
/// request has passed them (parse, aliases, depth, complexity, validation).
pub fn build_schema(config: &GraphqlConfig) -> AppSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .extension(Bounds { max_aliases: config.max_aliases })
        .extension(AuthGate);
    if !config.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema in SDL, as published.
pub fn sdl() -> String {
    build_schema(&GraphqlConfig::default()).sdl()
}
