//! The connector behind a stored target, as the target actor uses it: deploy, and read back what is
//! deployed (or say that this kind of target cannot be read back; a `tls_endpoint` scan covers it).
//! Moved out of `target.rs` to keep that file under the size limit; the construction from a stored
//! target stays there.

use async_trait::async_trait;
use certautopilot_connectors::targets::{
    DeployError, DeployReport, Deployable, F5Target, FileTarget, IisTarget, KubernetesTarget, NetscalerTarget,
    SshTarget, VaultTarget, WebhookTarget,
};

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
