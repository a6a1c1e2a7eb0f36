//! Passwords: argon2id with OWASP's first recommendation (m = 19 MiB, t = 2, p = 1, the crate's
//! defaults), stored as PHC strings; a stored hash is verified with the parameters it names.
//! Invariant: every argon2 computation here runs in its own `Argon2Memory`, returned to the system
//! when it ends; callers go through `PasswordHashing`, which bounds how many run at once.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::service::credentials::argon2_memory::Argon2Memory;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1_024;

/// The largest memory cost a stored hash may ask for (KiB). Ours use 19 MiB; a hash asking for far
/// more was not made here, and verifying it would be a way around the memory bound.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// A hash whose parameters are this module's but whose salt and output match no password: an
/// unknown e-mail is verified against it, so it costs the same time as a wrong password.
/// `decoy_matches_the_current_parameters` keeps it in step with `params()`.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZGVjb3kgc2FsdCBkZWNveQ$ZGVjb3kgaGFzaCB0aGF0IG1hdGNoZXMgbm90aGluZyE";

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Argon2(#[from] argon2::Error),
    #[error("password hash encoding: {0}")]
    Encoding(#[from] argon2::password_hash::Error),
    #[error("password hash encoding: {0}")]
    Phc(#[from] argon2::password_hash::phc::Error),
    #[error("cannot map memory for argon2: {0}")]
    Memory(#[from] std::io::Error),
}

fn params() -> Params {
    Params::default()
}

/// A new PHC string for `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let params = params();
    let salt = Salt::new(&argon2::password_hash::generate_salt())?;
    let output = compute(Algorithm::Argon2id, Version::V0x13, params.clone(), password, &salt)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the stored PHC string (`None`: the decoy, which matches nothing). A
/// stored value that does not parse, or asks for more than `MAX_MEMORY_KIB`, matches nothing.
pub fn verify(password: &str, phc: Option<&str>) -> Result<bool, PasswordError> {
    let Ok(parsed) = PasswordHash::new(phc.unwrap_or(DECOY)) else { return Ok(false) };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return Ok(false) };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm.as_str()), Params::try_from(&parsed))
    else {
        return Ok(false);
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return Ok(false) };
    if params.m_cost() > MAX_MEMORY_KIB {
        tracing::warn!(m_cost = params.m_cost(), "stored password hash asks for too much memory; treated as no match");
        return Ok(false);
    }
    let computed = compute(algorithm, version.unwrap_or_default(), params, password, salt)?;
    // `Output`'s equality is constant-time.
    Ok(&computed == expected)
}

fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &str,
    salt: &[u8],
) -> Result<Output, PasswordError> {
    let memory = Argon2Memory::new(params.block_count())?;
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(password.as_bytes(), salt, out, memory)?;
    Ok(Output::new(out)?)
}

pub fn check_policy(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    /// Hashes verify only the right password; junk in the store matches nothing.
    #[test]
    fn hashes_verify_only_the_right_password() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", Some(&phc)).unwrap());
        assert!(!verify("correct horse batterx", Some(&phc)).unwrap());
        assert!(!verify("anything", Some("not a phc string")).unwrap());
        assert!(!verify("anything", None).unwrap());
        assert!(check_policy("short").is_err());
        assert!(check_policy(&"x".repeat(2_000)).is_err());
    }

    /// Hashes stored before this module computed in its own memory (the crate's own hasher, other
    /// parameters) still verify, and ours verify with the crate's verifier: the format is the same.
    #[test]
    fn hashes_interoperate_with_the_crate_hasher() {
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 3, 1, None).unwrap())
            .hash_password(b"an older password")
            .unwrap()
            .to_string();
        assert!(verify("an older password", Some(&older)).unwrap());
        assert!(!verify("an older passwore", Some(&older)).unwrap());
        let ours = hash("a newer password").unwrap();
        assert!(Argon2::default().verify_password(b"a newer password", &PasswordHash::new(&ours).unwrap()).is_ok());
    }

    /// A stored hash asking for more memory than the bound matches nothing (and allocates nothing).
    #[test]
    fn hashes_asking_for_too_much_memory_match_nothing() {
        let greedy = DECOY.replace("m=19456", &format!("m={}", MAX_MEMORY_KIB + 1));
        assert!(!verify("whatever", Some(&greedy)).unwrap());
    }

    /// The decoy costs what a real hash costs: it names the parameters new hashes get.
    #[test]
    fn decoy_matches_the_current_parameters() {
        let decoy = PasswordHash::new(DECOY).unwrap();
        let (theirs, ours) = (Params::try_from(&decoy).unwrap(), params());
        assert_eq!((theirs.m_cost(), theirs.t_cost(), theirs.p_cost()), (ours.m_cost(), ours.t_cost(), ours.p_cost()));
        assert_eq!(theirs.output_len(), Some(ours.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)));
        assert_eq!(decoy.algorithm, Algorithm::Argon2id.ident());
    }
}
