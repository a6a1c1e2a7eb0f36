//! `Certificate.live`: REST's `GET /certificates/{id}/live` (`LiveStatus`) as GraphQL types; the
//! service builds it; this renders the parts whose field types are not GraphQL's (ids, times).

use async_graphql::{ID, Object};

use crate::api::views::{LiveJob, LiveStatus, LiveStep, LiveWaiting};
use crate::graphql::scalars::{DateTime, at};

pub struct CertificateLive(pub LiveStatus);

#[Object]
impl CertificateLive {
    /// The certificate's status (`requested`, `issuing`, …).
    async fn status(&self) -> String {
        self.0.status.to_string()
    }
    /// A job about the certificate is queued or running.
    async fn running(&self) -> bool {
        self.0.running
    }
    /// Its newest job, if it ever had one.
    async fn job(&self) -> Option<LiveJobNode<'_>> {
        self.0.job.as_ref().map(LiveJobNode)
    }
    /// That job's newest log line.
    async fn step(&self) -> Option<LiveStepNode<'_>> {
        self.0.step.as_ref().map(LiveStepNode)
    }
    /// Set while the newest line is a propagation wait that has not ended.
    async fn waiting(&self) -> Option<&LiveWaiting> {
        self.0.waiting.as_ref()
    }
}

pub struct LiveStepNode<'a>(&'a LiveStep);

#[Object(name = "LiveStep")]
impl LiveStepNode<'_> {
    async fn at(&self) -> DateTime {
        at(self.0.at)
    }
    /// `info`, `warn` or `error`.
    async fn level(&self) -> &str {
        &self.0.level
    }
    async fn message(&self) -> &str {
        &self.0.message
    }
}

pub struct LiveJobNode<'a>(&'a LiveJob);

#[Object(name = "LiveJob")]
impl LiveJobNode<'_> {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// `issue`, `renew`, `revoke`, `distribute`, …
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// `queued`, `running`, `succeeded`, `failed` or `dead`.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }
}
