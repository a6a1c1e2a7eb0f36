//! The connector behind a stored target, as the target actor uses it: its credential opened and
//! handed with its typed settings to the one factory (`certautopilot_connectors::targets::connector`),
//! with what this host allows. Also the failure a deployment or scan reports to its job.

use certautopilot_connectors::targets::{Connector, ConnectorEnv, DeployError};
use certautopilot_core::StoreError;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::DistributionTarget;

use crate::issuance::{IssuanceDeps, IssueError};

/// Why a deployment or scan failed, and whether its job should try again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeployFailure {
    pub message: String,
    pub transient: bool,
}

impl From<IssueError> for DeployFailure {
    fn from(e: IssueError) -> Self {
        DeployFailure { transient: e.is_transient(), message: e.to_string() }
    }
}

impl From<StoreError> for DeployFailure {
    fn from(e: StoreError) -> Self {
        IssueError::from(e).into()
    }
}

/// The connector for a stored target, its credential opened.
pub(super) fn connector(deps: &IssuanceDeps, target: &DistributionTarget) -> Result<Box<dyn Connector>, DeployError> {
    let bad = |what: &str| DeployError::Permanent(format!("target {}: {what}", target.name));
    let kind = target.kind();
    let secret = match kind.secret_field() {
        None => None,
        Some(_) => {
            let sealed = target.credential.as_ref().ok_or_else(|| bad("no credential stored"))?;
            let plain = deps
                .envelope
                .open(&target.id.to_string(), "credential", sealed)
                .map_err(|e| bad(&format!("credential: {e}")))?;
            if serde_json::from_slice::<serde_json::Value>(plain.expose()).is_err() {
                return Err(bad("credential is unreadable"));
            }
            kind.secret_from_credential(plain.expose()).map(|s| SecretBytes::from_text(&s))
        }
    };
    let env = ConnectorEnv {
        timeout: deps.settings.acme_timeout,
        egress: deps.settings.egress.clone(),
        file_policy: deps.settings.file_targets.clone(),
        ssh_sessions: Some(deps.ssh_sessions.clone()),
    };
    certautopilot_connectors::targets::connector(&target.config, secret.as_ref(), &env).map_err(|e| match e {
        DeployError::Permanent(why) => bad(&why),
        transient => transient,
    })
}
