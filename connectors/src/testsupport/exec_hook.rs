//! An exec-hook DNS script (docs/dns/exec.md) that publishes with `nsupdate` at a test BIND, for
//! the exec provider's end-to-end test and `bench providers`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Bind;

/// Writes `dir/dns-hook`, executable by its owner only. Each call is appended to `log` (when given)
/// as `ACTION FQDN VALUE ZONE` once nsupdate has finished, so a logged `cleanup` means the record
/// is already gone.
pub fn nsupdate_hook(dir: &Path, bind: &Bind, log: Option<&Path>) -> PathBuf {
    let (key, addr) = (bind.key(), bind.addr());
    let log_line =
        log.map(|l| format!("echo \"$ACTION $FQDN $VALUE $ZONE\" >> '{}'\n", l.display())).unwrap_or_default();
    let script = format!(
        r#"#!/bin/sh
case "$ACTION" in
  present) change="update add $FQDN 60 TXT \"$VALUE\"" ;;
  cleanup) change="update delete $FQDN TXT \"$VALUE\"" ;;
  *) exit 2 ;;
esac
printf 'server {ip} {port}\nzone %s.\n%s\nsend\n' "$ZONE" "$change" | nsupdate -t 5 -y '{alg}:{name}:{secret}' || exit 1
{log_line}"#,
        ip = addr.ip(),
        port = addr.port(),
        alg = key.algorithm,
        name = key.name,
        secret = key.secret,
    );
    let path = dir.join("dns-hook");
    std::fs::write(&path, script).expect("the hook is written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).expect("the hook is executable");
    path
}
