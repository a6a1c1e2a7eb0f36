//! How the notification records are keyed and scoped: a channel or rule is unique by name in its
//! project, a channel's secret is sealed apart, a watch is addressed by its certificate's id.

use super::{Record, RecordKind};
use crate::ids::{OrgId, ProjectId};
use crate::model::SealedSecret;
use crate::scope::ProjectScope;
use crate::timestamp::Timestamp;

impl Record for crate::model::NotificationChannel {
    const KIND: RecordKind = RecordKind::NotificationChannel;
    type Scope = ProjectScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (None, Some(self.project_id))
    }
    fn unique_key(&self) -> Option<String> {
        Some(self.name.clone())
    }
    fn sealed_fields(&mut self) -> Vec<(&'static str, &mut Option<SealedSecret>)> {
        vec![("secret", &mut self.secret)]
    }
}

impl Record for crate::model::NotificationRule {
    const KIND: RecordKind = RecordKind::NotificationRule;
    type Scope = ProjectScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (None, Some(self.project_id))
    }
    fn unique_key(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

impl Record for crate::model::CertificateWatch {
    const KIND: RecordKind = RecordKind::CertificateWatch;
    type Scope = ProjectScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (None, Some(self.project_id))
    }
}
