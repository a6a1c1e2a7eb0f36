//! The connector behind a stored target, as the target actor uses it: deploy, and read back what is
//! deployed (or say that this kind of target cannot be read back; a `tls_endpoint` scan covers it).
//! `connector` is the one factory that builds it from a stored target, its credential opened.

use std::time::Duration;

use async_trait::async_trait;
use certautopilot_connectors::targets::{
    DeployError, DeployReport, Deployable, F5Target, FileTarget, IisTarget, KubernetesTarget, NetscalerTarget,
    ReloadCommand, SshTarget, VaultTarget, WebhookTarget,
};
use certautopilot_core::StoreError;
use certautopilot_core::model::{DistributionTarget, TargetKind};

use crate::issuance::{IssuanceDeps, IssueError};

#[async_trait]
pub(super) trait Connector: Send + Sync {
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError>;
    /// The fingerprint of the leaf now deployed (`None`: nothing there), or an error when this kind
    /// of target cannot be read back.
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError>;
}

#[async_trait]
impl Connector for FileTarget {
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        FileTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        let target = self.clone();
        tokio::task::spawn_blocking(move || target.deployed_fingerprint())
            .await
            .map_err(|e| DeployError::Permanent(e.to_string()))
    }
}

#[async_trait]
impl Connector for SshTarget {
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        SshTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        SshTarget::deployed_fingerprint(self).await
    }
}

#[async_trait]
impl Connector for KubernetesTarget {
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        KubernetesTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        KubernetesTarget::deployed_fingerprint(self).await
    }
}

#[async_trait]
impl Connector for VaultTarget {
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        VaultTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        VaultTarget::deployed_fingerprint(self).await
    }
}

/// Appliances that take a certificate but cannot be read back by this release (scan them through
/// their `tls_endpoint`).
macro_rules! write_only_connector {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl Connector for $ty {
            async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
                <$ty>::deploy(self, d).await
            }
            async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
                Err(DeployError::Permanent("this target cannot be read back; give it a tls_endpoint to scan".into()))
            }
        }
    )*};
}
write_only_connector!(F5Target, NetscalerTarget, IisTarget);

#[async_trait]
impl Connector for WebhookTarget {
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        WebhookTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        Err(DeployError::Permanent("a webhook cannot be read back; give the target a tls_endpoint to scan".into()))
    }
}

/// How long a reload command may run.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

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
    let text = |key: &str| target.config.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let bad = |what: &str| DeployError::Permanent(format!("target {}: {what}", target.name));
    let reload = text("reload_command").map(|command| ReloadCommand { command, timeout: RELOAD_TIMEOUT });
    let credential = || -> Result<serde_json::Value, DeployError> {
        let sealed = target.credential.as_ref().ok_or_else(|| bad("no credential stored"))?;
        let plain = deps
            .envelope
            .open(&target.id.to_string(), "credential", sealed)
            .map_err(|e| bad(&format!("credential: {e}")))?;
        serde_json::from_slice(plain.expose()).map_err(|_| bad("credential is unreadable"))
    };
    match target.kind {
        TargetKind::File => {
            let mode = |key: &str, default| text(key).and_then(|m| u32::from_str_radix(&m, 8).ok()).unwrap_or(default);
            Ok(Box::new(FileTarget {
                cert_path: text("cert_path").ok_or_else(|| bad("no cert_path"))?.into(),
                key_path: text("key_path").ok_or_else(|| bad("no key_path"))?.into(),
                key_mode: mode("mode", 0o600),
                cert_mode: mode("cert_mode", 0o644),
                owner: text("owner"),
                reload,
                policy: deps.settings.file_targets.clone(),
            }))
        }
        TargetKind::Webhook => {
            let secret = credential()?;
            let secret = secret.get("hmac_secret").and_then(|v| v.as_str()).ok_or_else(|| bad("no HMAC secret"))?;
            Ok(Box::new(WebhookTarget {
                url: text("url").ok_or_else(|| bad("no url"))?,
                secret: certautopilot_core::crypto::SecretBytes::from_text(secret),
                include_private_key: target
                    .config
                    .get("include_private_key")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                extra_roots_pem: text("ca_bundle_pem"),
                timeout: deps.settings.acme_timeout,
                egress: deps.settings.egress.clone(),
            }))
        }
        TargetKind::Ssh => {
            let secret = credential()?;
            let key = secret.get("private_key").and_then(|v| v.as_str()).ok_or_else(|| bad("no SSH key"))?;
            Ok(Box::new(SshTarget {
                host: text("host").ok_or_else(|| bad("no host"))?,
                port: target.config.get("port").and_then(|v| v.as_u64()).unwrap_or(22) as u16,
                user: text("user").ok_or_else(|| bad("no user"))?,
                host_key_sha256: text("host_key_sha256").ok_or_else(|| bad("no pinned host key"))?,
                private_key: certautopilot_core::crypto::SecretBytes::from_text(key),
                cert_path: text("cert_path").ok_or_else(|| bad("no cert_path"))?,
                key_path: text("key_path").ok_or_else(|| bad("no key_path"))?,
                key_mode: 0o600,
                owner: text("owner"),
                reload_command: text("reload_command"),
                timeout: RELOAD_TIMEOUT,
                sessions: Some(deps.ssh_sessions.clone()),
                egress: deps.settings.egress.clone(),
            }))
        }
        TargetKind::Kubernetes => {
            let secret = credential()?;
            let token = secret.get("token").and_then(|v| v.as_str()).ok_or_else(|| bad("no token"))?;
            Ok(Box::new(KubernetesTarget {
                api_url: text("api_url").ok_or_else(|| bad("no api_url"))?,
                namespace: text("namespace").ok_or_else(|| bad("no namespace"))?,
                secret_name: text("secret_name").ok_or_else(|| bad("no secret_name"))?,
                token: certautopilot_core::crypto::SecretBytes::from_text(token),
                ca_pem: text("ca_bundle_pem"),
                timeout: deps.settings.acme_timeout,
                egress: deps.settings.egress.clone(),
            }))
        }
        TargetKind::Vault => {
            let secret = credential()?;
            let token = secret.get("token").and_then(|v| v.as_str()).ok_or_else(|| bad("no token"))?;
            Ok(Box::new(VaultTarget {
                address: text("address").ok_or_else(|| bad("no address"))?,
                mount: text("mount").unwrap_or_else(|| "secret".into()),
                path: text("path").unwrap_or_default(),
                pki: text("mode").as_deref() == Some("pki"),
                token: certautopilot_core::crypto::SecretBytes::from_text(token),
                ca_pem: text("ca_bundle_pem"),
                timeout: deps.settings.acme_timeout,
                egress: deps.settings.egress.clone(),
            }))
        }
        TargetKind::F5 => {
            let secret = credential()?;
            let password = secret.get("password").and_then(|v| v.as_str()).ok_or_else(|| bad("no password"))?;
            Ok(Box::new(F5Target {
                url: text("url").ok_or_else(|| bad("no url"))?,
                username: text("username").ok_or_else(|| bad("no username"))?,
                password: certautopilot_core::crypto::SecretBytes::from_text(password),
                partition: text("partition").unwrap_or_else(|| "Common".into()),
                profile: text("profile").ok_or_else(|| bad("no profile"))?,
                object_name: text("object_name").ok_or_else(|| bad("no object_name"))?,
                ca_pem: text("ca_bundle_pem"),
                timeout: deps.settings.acme_timeout,
                egress: deps.settings.egress.clone(),
            }))
        }
        TargetKind::Netscaler => {
            let secret = credential()?;
            let password = secret.get("password").and_then(|v| v.as_str()).ok_or_else(|| bad("no password"))?;
            Ok(Box::new(NetscalerTarget {
                url: text("url").ok_or_else(|| bad("no url"))?,
                username: text("username").ok_or_else(|| bad("no username"))?,
                password: certautopilot_core::crypto::SecretBytes::from_text(password),
                certkey: text("certkey").ok_or_else(|| bad("no certkey"))?,
                ca_pem: text("ca_bundle_pem"),
                timeout: deps.settings.acme_timeout,
                egress: deps.settings.egress.clone(),
            }))
        }
        TargetKind::Iis => {
            let secret = credential()?;
            let hmac = secret.get("hmac_secret").and_then(|v| v.as_str()).ok_or_else(|| bad("no HMAC secret"))?;
            Ok(Box::new(IisTarget {
                agent_url: text("agent_url").ok_or_else(|| bad("no agent_url"))?,
                secret: certautopilot_core::crypto::SecretBytes::from_text(hmac),
                site: text("site").ok_or_else(|| bad("no site"))?,
                binding: text("binding").unwrap_or_else(|| "*:443".into()),
                ca_pem: text("ca_bundle_pem"),
                timeout: deps.settings.acme_timeout,
                egress: deps.settings.egress.clone(),
            }))
        }
    }
}
