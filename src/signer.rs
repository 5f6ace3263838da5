//! The key that signs an election's checkpoints and tally, behind [`Signer`] so that a
//! hardware or cloud key (an HSM, AWS KMS) can take the place of the file-backed one
//! without touching the publisher. [`PemSigner`] reads a PKCS#8 PEM file (`votechain
//! keygen` writes one; in `deploy/` it is a Kubernetes Secret mounted read-only).

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use std::path::Path;

/// Signs note texts under a key name (C2SP signed-note, Ed25519).
pub trait Signer: Send + Sync {
    /// The 32-byte Ed25519 public key (compared with the manifest's `log_public_key`).
    fn public_key(&self) -> [u8; 32];
    /// The signature line (`— <name> <base64>\n`) of `text` under key name `name`.
    fn sign_line(&self, text: &str, name: &str) -> String;
}

/// A key read from a PKCS#8 PEM file.
pub struct PemSigner(SigningKey);

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("the log key: {0}")]
    File(#[from] crate::secret_file::SecretFileError),
    #[error("the log key {path} is not an Ed25519 PKCS#8 PEM key")]
    Decode { path: String },
}

impl PemSigner {
    pub fn load(path: &Path) -> Result<PemSigner, SignerError> {
        // Owner (or its group) only: see `secret_file`.
        let text = crate::secret_file::read(path)?;
        SigningKey::from_pkcs8_pem(&text)
            .map(PemSigner)
            .map_err(|_| SignerError::Decode {
                path: path.display().to_string(),
            })
    }

    pub fn from_key(key: SigningKey) -> PemSigner {
        PemSigner(key)
    }
}

impl Signer for PemSigner {
    fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
    fn sign_line(&self, text: &str, name: &str) -> String {
        votechain_core::note::sign(text, name, &self.0)
    }
}
