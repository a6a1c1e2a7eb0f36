//! The connector of a distribution target as the target actor uses it: deploy, and read back what is
//! deployed (or say that this kind of target cannot be read back; a `tls_endpoint` scan covers it).
//! `Connector::build` makes one from its kind's typed settings and its opened secret; `connector` is
//! the one factory that maps a `TargetConfig` variant to its connector. Invariant: a connector is
//! only ever built from settings the API validated, with what the host allows (`ConnectorEnv`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{
    F5Config, FileConfig, HostRules, IisConfig, KubernetesConfig, NetscalerConfig, SshConfig, TargetConfig,
    VaultConfig, VaultMode, WebhookConfig,
};

use super::{
    DeployError, DeployReport, Deployable, F5Target, FilePathPolicy, FileTarget, IisTarget, KubernetesTarget,
    NetscalerTarget, ReloadCommand, SshSessions, SshTarget, VaultTarget, WebhookTarget,
};
use crate::egress::EgressPolicy;

/// How long a reload command may run.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// What a connector takes from the host rather than from its target: timeouts, where it may connect
/// and write, and the SSH connections shared by targets on one host.
#[derive(Clone)]
pub struct ConnectorEnv {
    /// How long one call to a remote destination may take.
    pub timeout: Duration,
    pub egress: EgressPolicy,
    /// Where `file` targets may write (`[targets.file]`).
    pub file_policy: Arc<FilePathPolicy>,
    pub ssh_sessions: Option<Arc<SshSessions>>,
}

#[async_trait]
pub trait Connector: Send + Sync {
    /// The typed settings of this kind of target.
    type Config
    where
        Self: Sized;

    /// The connector for `config`, with the target's secret (`None` when it has none stored).
    fn build(config: &Self::Config, secret: Option<&SecretBytes>, env: &ConnectorEnv) -> Result<Self, DeployError>
    where
        Self: Sized;

    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError>;

    /// The fingerprint of the leaf now deployed (`None`: nothing there), or an error when this kind
    /// of target cannot be read back.
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError>;
}

/// The connector for a target's settings: the one factory.
pub fn connector(
    config: &TargetConfig,
    secret: Option<&SecretBytes>,
    env: &ConnectorEnv,
) -> Result<Box<dyn Connector>, DeployError> {
    fn boxed<C: Connector + 'static>(c: Result<C, DeployError>) -> Result<Box<dyn Connector>, DeployError> {
        Ok(Box::new(c?))
    }
    match config {
        TargetConfig::File(c) => boxed(FileTarget::build(c, secret, env)),
        TargetConfig::Ssh(c) => boxed(SshTarget::build(c, secret, env)),
        TargetConfig::Webhook(c) => boxed(WebhookTarget::build(c, secret, env)),
        TargetConfig::Kubernetes(c) => boxed(KubernetesTarget::build(c, secret, env)),
        TargetConfig::Vault(c) => boxed(VaultTarget::build(c, secret, env)),
        TargetConfig::F5(c) => boxed(F5Target::build(c, secret, env)),
        TargetConfig::Netscaler(c) => boxed(NetscalerTarget::build(c, secret, env)),
        TargetConfig::Iis(c) => boxed(IisTarget::build(c, secret, env)),
    }
}

/// This host's file policy, as the settings' checks see it.
impl HostRules for FilePathPolicy {
    fn local_path(&self, path: &str) -> Result<String, String> {
        self.check(path).map(|p| p.display().to_string()).map_err(|e| e.to_string())
    }
}

fn needs(secret: Option<&SecretBytes>, what: &str) -> Result<SecretBytes, DeployError> {
    secret.cloned().ok_or_else(|| DeployError::Permanent(format!("no {what}")))
}

#[async_trait]
impl Connector for FileTarget {
    type Config = FileConfig;
    fn build(c: &FileConfig, _: Option<&SecretBytes>, env: &ConnectorEnv) -> Result<Self, DeployError> {
        Ok(FileTarget {
            cert_path: c.cert_path.clone().into(),
            key_path: c.key_path.clone().into(),
            key_mode: c.key_mode_bits(),
            cert_mode: c.cert_mode_bits(),
            owner: c.owner.clone(),
            reload: c.reload_command.clone().map(|command| ReloadCommand { command, timeout: RELOAD_TIMEOUT }),
            policy: env.file_policy.clone(),
        })
    }
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
    type Config = SshConfig;
    fn build(c: &SshConfig, secret: Option<&SecretBytes>, env: &ConnectorEnv) -> Result<Self, DeployError> {
        Ok(SshTarget {
            host: c.host.clone(),
            port: c.port,
            user: c.user.clone(),
            host_key_sha256: c.host_key_sha256.clone(),
            private_key: needs(secret, "SSH key")?,
            cert_path: c.cert_path.clone(),
            key_path: c.key_path.clone(),
            key_mode: 0o600,
            owner: c.owner.clone(),
            reload_command: c.reload_command.clone(),
            timeout: RELOAD_TIMEOUT,
            sessions: env.ssh_sessions.clone(),
            egress: env.egress.clone(),
        })
    }
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        SshTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        SshTarget::deployed_fingerprint(self).await
    }
}

#[async_trait]
impl Connector for KubernetesTarget {
    type Config = KubernetesConfig;
    fn build(c: &KubernetesConfig, secret: Option<&SecretBytes>, env: &ConnectorEnv) -> Result<Self, DeployError> {
        Ok(KubernetesTarget {
            api_url: c.api_url.clone(),
            namespace: c.namespace.clone(),
            secret_name: c.secret_name.clone(),
            token: needs(secret, "token")?,
            ca_pem: c.ca_bundle_pem.clone(),
            timeout: env.timeout,
            egress: env.egress.clone(),
        })
    }
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        KubernetesTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        KubernetesTarget::deployed_fingerprint(self).await
    }
}

#[async_trait]
impl Connector for VaultTarget {
    type Config = VaultConfig;
    fn build(c: &VaultConfig, secret: Option<&SecretBytes>, env: &ConnectorEnv) -> Result<Self, DeployError> {
        Ok(VaultTarget {
            address: c.address.clone(),
            mount: c.mount.clone(),
            path: c.path.clone(),
            pki: c.mode == VaultMode::Pki,
            token: needs(secret, "token")?,
            ca_pem: c.ca_bundle_pem.clone(),
            timeout: env.timeout,
            egress: env.egress.clone(),
        })
    }
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        VaultTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        VaultTarget::deployed_fingerprint(self).await
    }
}

#[async_trait]
impl Connector for WebhookTarget {
    type Config = WebhookConfig;
    fn build(c: &WebhookConfig, secret: Option<&SecretBytes>, env: &ConnectorEnv) -> Result<Self, DeployError> {
        Ok(WebhookTarget {
            url: c.url.clone(),
            secret: needs(secret, "HMAC secret")?,
            include_private_key: c.include_private_key,
            extra_roots_pem: None,
            timeout: env.timeout,
            egress: env.egress.clone(),
        })
    }
    async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        WebhookTarget::deploy(self, d).await
    }
    async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        Err(DeployError::Permanent("a webhook cannot be read back; give the target a tls_endpoint to scan".into()))
    }
}

/// Appliances that take a certificate but cannot be read back by this release (scan them through
/// their `tls_endpoint`).
macro_rules! write_only_connector {
    ($ty:ty, $config:ty, |$c:ident, $secret:ident, $env:ident| $build:expr) => {
        #[async_trait]
        impl Connector for $ty {
            type Config = $config;
            fn build($c: &$config, $secret: Option<&SecretBytes>, $env: &ConnectorEnv) -> Result<Self, DeployError> {
                Ok($build)
            }
            async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
                <$ty>::deploy(self, d).await
            }
            async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
                Err(DeployError::Permanent("this target cannot be read back; give it a tls_endpoint to scan".into()))
            }
        }
    };
}

write_only_connector!(F5Target, F5Config, |c, secret, env| F5Target {
    url: c.url.clone(),
    username: c.username.clone(),
    password: needs(secret, "password")?,
    partition: c.partition.clone(),
    profile: c.profile.clone(),
    object_name: c.object_name.clone(),
    ca_pem: c.ca_bundle_pem.clone(),
    timeout: env.timeout,
    egress: env.egress.clone(),
});

write_only_connector!(NetscalerTarget, NetscalerConfig, |c, secret, env| NetscalerTarget {
    url: c.url.clone(),
    username: c.username.clone(),
    password: needs(secret, "password")?,
    certkey: c.certkey.clone(),
    ca_pem: c.ca_bundle_pem.clone(),
    timeout: env.timeout,
    egress: env.egress.clone(),
});

write_only_connector!(IisTarget, IisConfig, |c, secret, env| IisTarget {
    agent_url: c.agent_url.clone(),
    secret: needs(secret, "HMAC secret")?,
    site: c.site.clone(),
    binding: c.binding.clone(),
    ca_pem: c.ca_bundle_pem.clone(),
    timeout: env.timeout,
    egress: env.egress.clone(),
});

#[cfg(test)]
mod tests {
    use certautopilot_core::model::TargetKind;

    use super::*;

    /// Every kind builds from its blank settings and a secret; a kind with a secret refuses to build
    /// without it.
    #[test]
    fn the_factory_builds_every_kind() {
        let env = ConnectorEnv {
            timeout: Duration::from_secs(1),
            egress: EgressPolicy::default(),
            file_policy: Arc::default(),
            ssh_sessions: None,
        };
        let secret = SecretBytes::from_text("s");
        for kind in TargetKind::ALL {
            let config = TargetConfig::from(kind);
            assert!(connector(&config, Some(&secret), &env).is_ok(), "{kind:?}");
            assert_eq!(connector(&config, None, &env).is_ok(), kind.secret_field().is_none(), "{kind:?}");
        }
    }
}
