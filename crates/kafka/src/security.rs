//! How clients authenticate to the cluster and encrypt their traffic: librdkafka's
//! `security.protocol`, `sasl.*` and `ssl.*` settings (MSK and Confluent Cloud want
//! SASL_SSL; a local broker wants nothing).
//!
//! Security is set once per process, before the first client is made, and every consumer,
//! producer and admin client applies it: a process talks to one cluster, and threading the
//! credentials through every constructor would put them in more places to leak from. The
//! password is a [`Secret`], which prints as `***` in logs, errors and `Debug`.

use std::path::PathBuf;
use std::sync::OnceLock;

use rdkafka::ClientConfig;

/// A credential that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must hand it to librdkafka.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

impl std::str::FromStr for SecurityProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "plaintext" => Ok(SecurityProtocol::Plaintext),
            "ssl" => Ok(SecurityProtocol::Ssl),
            "sasl_plaintext" => Ok(SecurityProtocol::SaslPlaintext),
            "sasl_ssl" => Ok(SecurityProtocol::SaslSsl),
            other => Err(format!("{other:?}: expected plaintext, ssl, sasl_plaintext or sasl_ssl")),
        }
    }
}

/// librdkafka's `sasl.mechanisms` (those built in: no Kerberos, no OAuth callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().replace('_', "-").as_str() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            other => Err(format!("{other:?}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")),
        }
    }
}

/// The connection's security settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    pub sasl_mechanism: Option<SaslMechanism>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// CA certificates (PEM) to verify the brokers with, instead of the system's.
    pub ca_location: Option<PathBuf>,
}

impl KafkaSecurity {
    /// Settings that cannot work, said before any connection is tried.
    pub fn validate(&self) -> Result<(), String> {
        if self.protocol.uses_sasl() {
            if self.sasl_mechanism.is_none() {
                return Err(format!("security protocol {} needs a SASL mechanism", self.protocol.as_str()));
            }
            if self.username.is_none() || self.password.is_none() {
                return Err(format!("security protocol {} needs a SASL username and password", self.protocol.as_str()));
            }
        } else if self.sasl_mechanism.is_some() || self.username.is_some() || self.password.is_some() {
            return Err(format!(
                "SASL settings were given but the security protocol is {}: use sasl_ssl (or sasl_plaintext)",
                self.protocol.as_str()
            ));
        }
        if self.ca_location.is_some() && !matches!(self.protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl) {
            return Err("a CA certificate only applies to ssl or sasl_ssl".into());
        }
        Ok(())
    }

    pub(crate) fn apply(&self, config: &mut ClientConfig) {
        if self.protocol == SecurityProtocol::Plaintext {
            return;
        }
        config.set("security.protocol", self.protocol.as_str());
        if let Some(m) = self.sasl_mechanism {
            config.set("sasl.mechanisms", m.as_str());
        }
        if let Some(u) = &self.username {
            config.set("sasl.username", u);
        }
        if let Some(p) = &self.password {
            config.set("sasl.password", p.expose());
        }
        if let Some(ca) = &self.ca_location {
            config.set("ssl.ca.location", ca.to_string_lossy());
        }
    }
}

static SECURITY: OnceLock<KafkaSecurity> = OnceLock::new();

/// Sets the process's connection security; call before creating any client. Plaintext
/// (nothing to set) is the default.
pub fn configure_security(security: KafkaSecurity) -> Result<(), String> {
    security.validate()?;
    if security.protocol != SecurityProtocol::Plaintext {
        tracing::info!(
            protocol = security.protocol.as_str(),
            mechanism = security.sasl_mechanism.map(SaslMechanism::as_str),
            username = security.username.as_deref(),
            "kafka security configured"
        );
    }
    match SECURITY.get() {
        Some(existing) if *existing != security => Err("kafka security was already configured differently".into()),
        Some(_) => Ok(()),
        None => {
            let _ = SECURITY.set(security);
            Ok(())
        }
    }
}

pub(crate) fn apply_configured(config: &mut ClientConfig) {
    if let Some(security) = SECURITY.get() {
        security.apply(config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl_ssl() -> KafkaSecurity {
        KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            username: Some("trader".into()),
            password: Some(Secret::new("hunter2-very-secret")),
            ca_location: None,
        }
    }

    #[test]
    fn the_password_never_prints_and_reaches_librdkafka_intact() {
        let security = sasl_ssl();
        for shown in [
            format!("{security:?}"),
            format!("{:?}", security.password),
            security.password.clone().unwrap().to_string(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let mut config = ClientConfig::new();
        security.apply(&mut config);
        assert_eq!(config.get("sasl.password"), Some("hunter2-very-secret"));
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        // This build has TLS and SCRAM: librdkafka accepts the settings and makes a client.
        config.set("bootstrap.servers", "127.0.0.1:9");
        let producer: Result<rdkafka::producer::BaseProducer, _> = config.create();
        assert!(producer.is_ok(), "librdkafka refused SASL_SSL/SCRAM: {:?}", producer.err());
    }

    #[test]
    fn settings_that_cannot_work_are_refused_up_front() {
        let mut missing = sasl_ssl();
        missing.password = None;
        assert!(missing.validate().unwrap_err().contains("username and password"));
        let mut stray = KafkaSecurity { username: Some("u".into()), ..KafkaSecurity::default() };
        assert!(stray.validate().unwrap_err().contains("SASL settings"));
        stray.username = None;
        stray.ca_location = Some("/etc/ca.pem".into());
        assert!(stray.validate().unwrap_err().contains("CA"));
        assert_eq!("SASL-SSL".parse::<SecurityProtocol>().unwrap(), SecurityProtocol::SaslSsl);
        assert_eq!("scram_sha_256".parse::<SaslMechanism>().unwrap(), SaslMechanism::ScramSha256);
        assert!("kerberos".parse::<SaslMechanism>().is_err());
    }
}
