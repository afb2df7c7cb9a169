//! TLS to the cache database, as libpq reads a URL: `sslmode` says whether
//! to encrypt and what to check, `sslrootcert` which CAs to trust.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and neither
//! checks a certificate nor reads root files, so flow takes both parameters
//! off the URL and builds the rustls client itself: the rustls reqwest
//! already builds, with the same ring provider, so the cache adds no second
//! TLS stack.
//!
//! - `disable`: plain TCP.
//! - `allow`, `prefer` (the default): TLS when the server offers it, plain
//!   otherwise; the certificate is not checked, as libpq does not check it.
//!   (libpq's `allow` tries plain first; flow tries TLS first for both.)
//! - `require`: TLS or no connection; the certificate is checked as for
//!   `verify-ca` when there is a root file (`sslrootcert`, or libpq's
//!   default `~/.postgresql/root.crt`), as libpq does, and not otherwise.
//! - `verify-ca`: TLS, and the certificate must chain to a trusted root.
//! - `verify-full`: as `verify-ca`, and it must name the host connected to.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// `sslmode`, with libpq's six values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the platform's store and the Mozilla roots,
    /// as flow's HTTP client trusts.
    System,
}

/// What the URL asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    pub mode: Mode,
    /// `sslrootcert`, when given.
    pub roots: Option<Roots>,
}

/// Why TLS could not be set up or did not succeed, with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFailure {
    pub reason: String,
    pub help: String,
}

impl TlsFailure {
    fn new(reason: impl Into<String>, help: impl Into<String>) -> TlsFailure {
        TlsFailure {
            reason: reason.into(),
            help: help.into(),
        }
    }
}

const ROOTS_HELP: &str = "give `sslrootcert=PATH`, the PEM file of the CA that signed the server's certificate, or `sslrootcert=system` to trust the system's roots; `sslmode=require` encrypts without checking the certificate";

/// Splits flow's TLS parameters off `url`: the URL for tokio-postgres,
/// and what they ask.
pub(crate) fn split(url: &str) -> Result<(String, Tls), TlsFailure> {
    let mut tls = Tls {
        mode: Mode::Prefer,
        roots: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), tls));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        match decode(key).as_str() {
            "sslmode" => {
                tls.mode = match decode(value).as_str() {
                    "disable" => Mode::Disable,
                    "allow" => Mode::Allow,
                    "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(TlsFailure::new(
                            format!("`sslmode={other}` is not a mode flow knows"),
                            "use one of disable, allow, prefer, require, verify-ca, verify-full, as for libpq",
                        ));
                    }
                }
            }
            "sslrootcert" => {
                let value = decode(value);
                tls.roots = Some(if value == "system" {
                    Roots::System
                } else {
                    Roots::File(PathBuf::from(value))
                });
            }
            k @ ("sslcert" | "sslkey" | "sslpassword") => {
                return Err(TlsFailure::new(
                    format!("`{k}`: flow does not send client certificates"),
                    "authenticate with the URL's user and password (or `password=`), over `sslmode=verify-full`",
                ));
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, tls))
}

/// libpq's default root file, checked when the URL names none.
fn default_root_file() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(".postgresql").join("root.crt"))
}

impl Tls {
    /// What tokio-postgres is to negotiate; the checking is the connector's.
    pub(crate) fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Allow | Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The roots a checking mode trusts: the URL's, or libpq's default file.
    fn roots_to_check(&self) -> Option<Roots> {
        match (&self.roots, self.mode) {
            (Some(r), _) => Some(r.clone()),
            (None, Mode::Require | Mode::VerifyCa | Mode::VerifyFull) => {
                default_root_file().filter(|p| p.exists()).map(Roots::File)
            }
            (None, _) => None,
        }
    }

    /// The rustls client for the connection: checking what the mode asks.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect, TlsFailure> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let check = match self.mode {
            Mode::Disable | Mode::Allow | Mode::Prefer => None,
            Mode::Require => self.roots_to_check().map(|r| (r, false)),
            Mode::VerifyCa | Mode::VerifyFull => match self.roots_to_check() {
                Some(r) => Some((r, self.mode == Mode::VerifyFull)),
                None => {
                    let default = default_root_file()
                        .map(|p| format!(" (`{}` does not exist)", p.display()))
                        .unwrap_or_default();
                    return Err(TlsFailure::new(
                        format!(
                            "`sslmode={}` checks the server's certificate, but the URL names no root certificates{default}",
                            if self.mode == Mode::VerifyFull {
                                "verify-full"
                            } else {
                                "verify-ca"
                            }
                        ),
                        ROOTS_HELP,
                    ));
                }
            },
        };
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            None => Arc::new(Unchecked(provider.clone())),
            Some((roots, names)) => {
                let store = Arc::new(load(&roots)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(store, provider.clone())
                    .build()
                    .map_err(|e| {
                        TlsFailure::new(format!("no usable root certificate: {e}"), ROOTS_HELP)
                    })?;
                if names {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsFailure::new(format!("cannot set up TLS: {e}"), ROOTS_HELP))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

fn load(roots: &Roots) -> Result<RootCertStore, TlsFailure> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => {
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Roots::File(path) => {
            let bad = |why: String| {
                TlsFailure::new(
                    format!(
                        "cannot read the root certificates `{}`: {why}",
                        path.display()
                    ),
                    ROOTS_HELP,
                )
            };
            let text = std::fs::read(path).map_err(|e| bad(crate::text::io_reason(&e)))?;
            for cert in CertificateDer::pem_slice_iter(&text) {
                let cert = cert.map_err(|e| bad(format!("it is not PEM ({e})")))?;
                store
                    .add(cert)
                    .map_err(|e| bad(format!("a certificate in it is not valid ({e})")))?;
            }
            if store.is_empty() {
                return Err(bad("it holds no PEM certificate".into()));
            }
        }
    }
    Ok(store)
}

/// The failure a TLS handshake ended with, said for a person, when
/// `error` (from tokio-postgres) is one; `None` for any other error.
pub(crate) fn explain(error: &tokio_postgres::Error, host: &str, tls: &Tls) -> Option<TlsFailure> {
    let source = std::error::Error::source(error)?;
    if source.to_string() == "server does not support TLS" {
        return Some(TlsFailure::new(
            "the server does not accept TLS connections",
            "turn on `ssl` in the server's postgresql.conf, or use `sslmode=prefer` to connect without TLS",
        ));
    }
    let io = source.downcast_ref::<std::io::Error>()?;
    let rustls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    let roots = match tls.roots_to_check() {
        Some(Roots::File(p)) => format!("`{}`", p.display()),
        Some(Roots::System) | None => "the system's roots".into(),
    };
    Some(match rustls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => TlsFailure::new(
            format!("the server's certificate is not signed by a CA in {roots}"),
            ROOTS_HELP,
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => TlsFailure::new(
            format!("the server's certificate is not for the host `{host}`"),
            "connect with a host name the certificate names, or use `sslmode=verify-ca` to check the CA only",
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => TlsFailure::new(
            "the server's certificate has expired",
            "renew the server's certificate",
        ),
        other => TlsFailure::new(
            format!("the TLS handshake failed: {other}"),
            "check the server's `ssl` settings and certificate, and the URL's `sslmode` and `sslrootcert`",
        ),
    })
}

/// `prefer` and `require` without roots: encrypted, not authenticated, as
/// in libpq. The handshake's signatures are still checked, so the server
/// holds the key of the certificate it sent.
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
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the host name is not. webpki checks
/// the name last, once the chain is trusted, so a name error alone means
/// the CA part passed.
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
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_keeps_every_parameter_but_flows_own() {
        let (url, tls) = split(
            "postgres://u:p@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            url,
            "postgres://u:p@h/db?application_name=x&connect_timeout=3"
        );
        assert_eq!(
            tls,
            Tls {
                mode: Mode::VerifyFull,
                roots: Some(Roots::File("/tmp/ca.pem".into()))
            }
        );
        let (url, tls) =
            split("postgres://h/db?sslmode=disable").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((url.as_str(), tls.mode), ("postgres://h/db", Mode::Disable));
        let (_, tls) = split("postgres://h/db").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((tls.mode, tls.ssl_mode()), (Mode::Prefer, SslMode::Prefer));
        let (_, tls) =
            split("postgres://h/db?sslrootcert=system").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(tls.roots, Some(Roots::System));
    }

    #[test]
    fn an_unknown_mode_or_a_client_certificate_is_a_clear_error() {
        let e = split("postgres://h/db?sslmode=verify").err();
        assert_eq!(
            e.map(|e| e.reason),
            Some("`sslmode=verify` is not a mode flow knows".into())
        );
        let e = split("postgres://h/db?sslcert=/c.pem").err();
        assert!(e.is_some_and(|e| e.reason.contains("client certificates")));
    }

    #[test]
    fn a_root_file_that_is_missing_or_not_pem_says_so() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("none.pem");
        let tls = Tls {
            mode: Mode::VerifyFull,
            roots: Some(Roots::File(missing.clone())),
        };
        let e = tls.connector().err().map(|e| e.reason);
        assert_eq!(
            e,
            Some(format!(
                "cannot read the root certificates `{}`: no such file",
                missing.display()
            ))
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap_or_else(|e| panic!("{e}"));
        let tls = Tls {
            mode: Mode::VerifyCa,
            roots: Some(Roots::File(junk)),
        };
        let e = tls.connector().err().map(|e| e.reason).unwrap_or_default();
        assert!(e.ends_with("it holds no PEM certificate"), "{e}");
        // The system's roots are there on any machine (the bundled ones).
        let system = Tls {
            mode: Mode::VerifyFull,
            roots: Some(Roots::System),
        };
        assert!(system.connector().is_ok());
    }
}

/// Against the test cluster, which has TLS on with a certificate for
/// `127.0.0.1` signed by its own CA.
#[cfg(test)]
mod server {
    use super::*;
    use crate::cache::CallCache;
    use crate::cache::pg_cluster;

    /// Whether the server sees this connection as TLS (`pg_stat_ssl`).
    async fn encrypted(url: &str) -> Result<bool, String> {
        let (bare, tls) = split(url).map_err(|f| f.reason)?;
        let mut config: tokio_postgres::Config = bare.parse().map_err(|e| format!("{e}"))?;
        config.ssl_mode(tls.ssl_mode());
        let connector = tls.connector().map_err(|f| f.reason)?;
        let (client, conn) = config
            .connect(connector)
            .await
            .map_err(|e| format!("{e:?}"))?;
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| format!("{e}"))?;
        Ok(row.get(0))
    }

    /// `url` (to `127.0.0.1:PORT`) with the host called `localhost`, which
    /// the certificate does not name, still reaching `127.0.0.1`.
    fn by_name(url: &str, query: &str) -> String {
        let (head, db) = url.rsplit_once('/').unwrap_or((url, ""));
        let (user, port) = head.rsplit_once("@127.0.0.1:").unwrap_or((head, "5432"));
        format!("{user}@/{db}?host=localhost&hostaddr=127.0.0.1&port={port}&{query}")
    }

    /// The message and help of opening `url` as a cache, which must fail.
    fn refused(url: &str) -> (String, String, String) {
        use miette::Diagnostic;
        match CallCache::open(std::path::Path::new(url)) {
            Ok(_) => panic!("{url} opened"),
            Err(e) => (
                e.code().map(|c| c.to_string()).unwrap_or_default(),
                e.to_string(),
                e.help().map(|h| h.to_string()).unwrap_or_default(),
            ),
        }
    }

    #[tokio::test]
    async fn each_sslmode_encrypts_and_checks_as_libpq_says() {
        let Some(url) = pg_cluster::database("sslmodes") else {
            return;
        };
        let Some(files) = pg_cluster::tls("sslmodes") else {
            return;
        };
        let ca = files.ca.display().to_string();
        for (query, tls) in [
            ("sslmode=disable", false),
            ("", true),
            ("sslmode=prefer", true),
            ("sslmode=allow", true),
            ("sslmode=require", true),
            (&format!("sslmode=verify-ca&sslrootcert={ca}"), true),
            (&format!("sslmode=verify-full&sslrootcert={ca}"), true),
            // The certificate is for 127.0.0.1: the CA alone passes.
        ] {
            let sep = if query.is_empty() { "" } else { "?" };
            let got = encrypted(&format!("{url}{sep}{query}")).await;
            assert_eq!(got, Ok(tls), "{query}");
        }
        // The certificate is for 127.0.0.1: to `localhost` the CA alone passes.
        let got = encrypted(&by_name(
            &url,
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        ))
        .await;
        assert_eq!(got, Ok(true), "verify-ca by name");
    }

    #[test]
    fn verify_full_refuses_a_server_it_cannot_trust_and_says_why() {
        let Some(url) = pg_cluster::database("verify_full") else {
            return;
        };
        let Some(files) = pg_cluster::tls("verify_full") else {
            return;
        };
        // The right CA: a cache that works.
        let good = format!(
            "{url}?sslmode=verify-full&sslrootcert={}",
            files.ca.display()
        );
        let cache = CallCache::open(std::path::Path::new(&good));
        assert!(cache.is_ok(), "{:?}", cache.err());
        let mut seen = Vec::new();
        // Another CA.
        let (code, message, help) = refused(&format!(
            "{url}?sslmode=verify-full&sslrootcert={}",
            files.other_ca.display()
        ));
        assert_eq!(code, "flow::cache::tls");
        assert!(
            message.ends_with(&format!(
                "over TLS: the server's certificate is not signed by a CA in `{}`",
                files.other_ca.display()
            )),
            "{message}"
        );
        assert!(help.contains("sslrootcert=PATH"), "{help}");
        seen.push(message);
        // The right CA, the wrong name.
        let (code, message, help) = refused(&by_name(
            &url,
            &format!("sslmode=verify-full&sslrootcert={}", files.ca.display()),
        ));
        assert_eq!(code, "flow::cache::tls", "{message}");
        assert!(
            message.ends_with("the server's certificate is not for the host `localhost`"),
            "{message}"
        );
        assert!(help.contains("verify-ca"), "{help}");
        seen.push(message);
        // No roots at all (unless this machine has libpq's default file).
        let default = dirs::home_dir().map(|h| h.join(".postgresql/root.crt"));
        if !default.is_some_and(|d| d.exists()) {
            let (code, message, help) = refused(&format!("{url}?sslmode=verify-full"));
            assert_eq!(code, "flow::cache::tls");
            assert!(message.contains("names no root certificates"), "{message}");
            assert!(help.contains("sslrootcert=system"), "{help}");
            seen.push(message);
        }
        for m in seen {
            assert!(!m.contains("secret-pw"), "the password is never shown: {m}");
            assert!(m.contains("postgres://flow:***@"), "{m}");
        }
    }
}
