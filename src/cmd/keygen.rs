//! `votechain keygen --out DIR --origin O [--chains N]`: an Ed25519 key pair for an
//! election's log (contract v2): `log-key.pem` (the PKCS#8 PEM private key, mode 0600;
//! in `deploy/` a Kubernetes Secret), `log-key.pub` (base64 of the 32-byte public key: the
//! manifest's `log_public_key`), and `log-key.vkeys` (the signed-note verifier keys of
//! every chain's origin `O/c` and of the tally's key name `O`). Existing files are never
//! overwritten. The key comes from the operating system's CSPRNG.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use rand::TryRngCore;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use votechain_core::note::{ED25519, verifier_key};

#[derive(clap::Args)]
pub struct Args {
    /// The folder to write the key files into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// The log origin of the election (the manifest's `log_origin`).
    #[arg(long)]
    origin: String,
    /// Chains of the election: one verifier key per chain's origin.
    #[arg(long, default_value_t = 1)]
    chains: u32,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let written = write_keys(&a.out, &a.origin, a.chains)?;
    for f in written {
        println!("wrote {}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the three key files; refuses when any of them exists.
pub fn write_keys(dir: &Path, origin: &str, chains: u32) -> Result<Vec<PathBuf>> {
    if origin.is_empty()
        || origin.len() > 200
        || origin.bytes().any(|b| !b.is_ascii_graphic() || b == b'+')
    {
        bail!("--origin must be 1 to 200 printable ASCII characters without spaces or '+'");
    }
    if !(1..=1024).contains(&chains) {
        bail!("--chains must be 1 to 1024");
    }
    let files = ["log-key.pem", "log-key.pub", "log-key.vkeys"].map(|f| dir.join(f));
    if let Some(f) = files.iter().find(|f| f.exists()) {
        bail!("{} exists; keys are never overwritten", f.display());
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .context("the OS random generator")?;
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the key")?;
    let public = key.verifying_key().to_bytes();
    let mut vkeys: Vec<String> = (0..chains)
        .map(|c| verifier_key(&format!("{origin}/{c}"), ED25519, &public))
        .collect();
    vkeys.push(verifier_key(origin, ED25519, &public));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let contents = [
        pem.as_bytes().to_vec(),
        format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(public)
        )
        .into_bytes(),
        format!("{}\n", vkeys.join("\n")).into_bytes(),
    ];
    for (file, body) in files.iter().zip(contents) {
        let mode = if file.extension().is_some_and(|x| x == "pem") {
            0o600
        } else {
            0o644
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(file)
            .with_context(|| format!("creating {}", file.display()))?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    Ok(files.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use std::os::unix::fs::PermissionsExt;
    use votechain_core::note::parse_verifier_key;

    #[test]
    fn keys_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_keys(dir.path(), "votes.example.org/e1", 2).unwrap();
        let pem = std::fs::read_to_string(&files[0]).unwrap();
        let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
        let public = std::fs::read_to_string(&files[1]).unwrap();
        assert_eq!(
            public.trim(),
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes())
        );
        assert_eq!(
            std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let vkeys = std::fs::read_to_string(&files[2]).unwrap();
        let names: Vec<String> = vkeys
            .lines()
            .map(|v| parse_verifier_key(v).unwrap().name)
            .collect();
        assert_eq!(
            names,
            [
                "votes.example.org/e1/0",
                "votes.example.org/e1/1",
                "votes.example.org/e1"
            ]
        );
        let again = write_keys(dir.path(), "votes.example.org/e1", 2)
            .unwrap_err()
            .to_string();
        assert!(again.contains("never overwritten"), "{again}");
        assert_eq!(
            std::fs::read_to_string(&files[0]).unwrap(),
            pem,
            "unchanged"
        );
        assert!(write_keys(dir.path(), "has space", 1).is_err());
    }
}
