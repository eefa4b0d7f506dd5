//! TLS to the server, as libpq's `sslmode` and `sslrootcert` URL parameters ask for it.
//!
//! tokio-postgres itself knows `disable`, `prefer` and `require`, and never checks a certificate;
//! libpq's meaning of each mode is kept here, with rustls (pure Rust: nothing to install):
//!
//! | sslmode | TLS | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | never | - |
//! | `allow`, `prefer` (the default, as libpq's) | when the server offers it | not checked |
//! | `require` | always | not checked, unless `sslrootcert` is given: then as `verify-ca` (as libpq) |
//! | `verify-ca` | always | signed by a CA of `sslrootcert` |
//! | `verify-full` | always | signed by a CA of `sslrootcert`, and issued for the host named |
//!
//! `sslrootcert` is a PEM file of CA certificates; for the verifying modes it defaults to
//! `~/.postgresql/root.crt`, as libpq's does.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// How a connection speaks TLS: made once per store, from its URL.
#[derive(Clone)]
pub(crate) enum Tls {
    Off,
    On(MakeRustlsConnect),
}

/// What the URL's TLS parameters ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsParams {
    pub(crate) mode: Option<String>,
    pub(crate) root_cert: Option<PathBuf>,
}

impl TlsParams {
    /// Takes `sslmode` and `sslrootcert` out of a URL's query pair; false for any other pair.
    pub(crate) fn take(&mut self, key: &str, value: &str) -> bool {
        match key {
            "sslmode" => self.mode = Some(value.to_string()),
            "sslrootcert" => self.root_cert = Some(PathBuf::from(value)),
            _ => return false,
        }
        true
    }

    /// The mode tokio-postgres is to negotiate, and the connector that checks what libpq's mode
    /// would check. `shown` names the store in errors (its password redacted).
    pub(crate) fn connector(&self, shown: &str) -> Result<(SslMode, Tls)> {
        let mode = self.mode.as_deref().unwrap_or("prefer");
        let check = match mode {
            "disable" => return Ok((SslMode::Disable, Tls::Off)),
            "allow" | "prefer" => Check::Nothing,
            "require" if self.root_cert.is_none() => Check::Nothing,
            "require" | "verify-ca" => Check::Chain,
            "verify-full" => Check::ChainAndName,
            other => {
                return Err(Error::invalid(format!(
                    "sslmode {other:?} in {shown}: use disable, allow, prefer, require, verify-ca or verify-full"
                )))
            }
        };
        let negotiate = if matches!(mode, "allow" | "prefer") { SslMode::Prefer } else { SslMode::Require };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::internal(format!("TLS setup: {err}")))?;
        let config = match check {
            Check::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                .with_no_client_auth(),
            Check::Chain | Check::ChainAndName => {
                let roots = Arc::new(self.roots(mode, shown)?);
                let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|err| Error::invalid(format!("sslrootcert in {shown}: {err}")))?;
                if check == Check::Chain {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
                        .with_no_client_auth()
                } else {
                    builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()
                }
            }
        };
        Ok((negotiate, Tls::On(MakeRustlsConnect::new(config))))
    }

    /// The CA certificates of `sslrootcert` (default `~/.postgresql/root.crt`).
    fn roots(&self, mode: &str, shown: &str) -> Result<RootCertStore> {
        let path = match &self.root_cert {
            Some(path) => path.clone(),
            None => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".postgresql/root.crt"),
                None => PathBuf::from(".postgresql/root.crt"),
            },
        };
        let unreadable = |why: String| {
            Error::invalid(format!(
                "sslmode={mode} in {shown} checks the server's certificate against sslrootcert, but {} {why}",
                path.display()
            ))
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&path).map_err(|err| unreadable(format!("cannot be read: {err}")))? {
            let cert = cert.map_err(|err| unreadable(format!("is not PEM: {err}")))?;
            roots.add(cert).map_err(|err| unreadable(format!("holds a bad certificate: {err}")))?;
        }
        if roots.is_empty() {
            return Err(unreadable("holds no certificate".into()));
        }
        Ok(roots)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// libpq's `prefer` and `require`: encrypted, the certificate not checked. The handshake's
/// signatures still are, so the connection is at least with the holder of that certificate.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain checked against the roots, whatever host it was issued for.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            outcome => outcome,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
