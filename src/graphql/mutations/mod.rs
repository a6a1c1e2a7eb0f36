//! Mutations: one for every REST write, each calling the same service function REST's handler
//! calls (`service::<resource>`), with an `Authorized` admitted by that operation's policy.
//! Invariant: a mutation has no rule of its own. Its input object is turned into the REST body's
//! type by REST's own decoder (`api::json::decode`), so the same values are refused with the same
//! problem codes and fields (REST's snake_case field names); secrets are inputs only, never output.

mod admin;
mod org;
mod records;

use async_graphql::{MergedObject, SimpleObject};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::error::ApiError;
use crate::api::views::JobQueued;
use crate::graphql::jobs::JobNode;

pub use admin::AdminMutation;
pub use org::OrgMutation;
pub use records::RecordMutation;

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    OrgMutation,
    RecordMutation,
    AdminMutation,
    crate::graphql::approvals::ApprovalMutation,
    crate::graphql::notifications::NotificationMutation,
);

/// The GraphQL input as the service's input type, decoded exactly as REST decodes a body.
pub(crate) fn decode<I: Serialize, T: DeserializeOwned>(input: &I) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(input).map_err(|e| ApiError::internal("graphql input", &e))?;
    crate::api::json::decode(&bytes)
}

/// A job a mutation queued (or found already queued: `created` is false then), as REST answers.
#[derive(SimpleObject)]
pub struct JobQueuedPayload {
    pub job: JobNode,
    pub created: bool,
}

impl From<JobQueued> for JobQueuedPayload {
    fn from(q: JobQueued) -> Self {
        JobQueuedPayload { job: JobNode(q.job), created: q.created }
    }
}
