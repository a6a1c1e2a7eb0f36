//! Reading what the commands take from files or standard input rather than the command line:
//! secrets (an EAB key, a TSIG secret) and JSON settings (a target's `config`).
//! Invariant: secrets never come from argv, where every user of the host can read them (`ps`);
//! a path of `-` means standard input.

use std::io::Read;
use std::path::Path;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::client::error::ClientError;

fn read_all(path: &Path, what: &str) -> Result<Zeroizing<String>, ClientError> {
    let mut text = Zeroizing::new(String::new());
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(ClientError::local(format!("cannot read the {what} from standard input")))?;
    } else {
        *text = std::fs::read_to_string(path)
            .map_err(ClientError::local(format!("cannot read the {what} from {}", path.display())))?;
    }
    Ok(text)
}

/// A one-line secret from a file or standard input, without its line ending.
pub fn secret(path: &Path, what: &str) -> Result<Zeroizing<String>, ClientError> {
    let text = read_all(path, what)?;
    let value = Zeroizing::new(text.trim().to_owned());
    if value.is_empty() {
        return Err(ClientError::Usage(format!("the {what} in {} is empty", path.display())));
    }
    Ok(value)
}

/// A text file (a PEM bundle) as it is.
pub fn text(path: &Path, what: &str) -> Result<String, ClientError> {
    Ok(read_all(path, what)?.to_string())
}

/// A JSON object from a file or standard input.
pub fn json_object(path: &Path, what: &str) -> Result<Value, ClientError> {
    let text = read_all(path, what)?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("the {what} in {} is not JSON: {e}", path.display())))?;
    if !value.is_object() {
        return Err(ClientError::Usage(format!("the {what} in {} must be a JSON object", path.display())));
    }
    Ok(value)
}
