//! TLS to the vendors: rustls (ring) with the Mozilla roots (webpki-roots),
//! plus any CA certificates named by `upstream_ca_file` in config.toml,
//! for a company gateway or a proxy with a private CA.

use crate::config::ConfigError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// The client configuration the gateway's upstream connections use.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(file) = ca_file {
        let label = file.display().to_string();
        let refuse = |message: String| {
            ConfigError {
            file: label.clone(),
            line: None,
            message,
            fix: "point upstream_ca_file in config.toml at a PEM file of CA certificates, or remove it".to_owned(),
        }
        };
        let certs = CertificateDer::pem_file_iter(file)
            .map_err(|e| refuse(format!("cannot read: {e}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| refuse(format!("is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(refuse("holds no certificate".to_owned()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| refuse(format!("holds a certificate rustls refuses: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError {
            file: "the TLS library".to_owned(),
            line: None,
            message: format!("no protocol versions: {e}"),
            fix: "report this".to_owned(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let err = super::client_config(Some(&missing)).unwrap_err();
        assert!(err.message.contains("cannot read"), "{err}");
        assert!(err.file.ends_with("none.pem"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = super::client_config(Some(&empty)).unwrap_err();
        assert!(err.message.contains("holds no certificate"), "{err}");
        assert!(err.fix.contains("upstream_ca_file"), "{err}");
        assert!(super::client_config(None).is_ok());
    }
}
