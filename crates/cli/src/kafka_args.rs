//! Broker address and connection security, shared by every command that talks to Kafka.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tickloop_kafka::{KafkaSecurity, SaslMechanism, Secret, SecurityProtocol};

/// Environment variable holding the SASL password. The password is never a flag: a command
/// line is visible to every user of the machine (`ps`).
const PASSWORD_ENV: &str = "TICKLOOP_KAFKA_SASL_PASSWORD";

#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Bootstrap brokers, comma-separated.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// plaintext, ssl, sasl_plaintext or sasl_ssl (MSK and Confluent Cloud: sasl_ssl).
    #[arg(long = "kafka-security-protocol", env = "TICKLOOP_KAFKA_SECURITY_PROTOCOL", default_value = "plaintext")]
    security_protocol: SecurityProtocol,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long = "kafka-sasl-mechanism", env = "TICKLOOP_KAFKA_SASL_MECHANISM")]
    sasl_mechanism: Option<SaslMechanism>,
    #[arg(long = "kafka-sasl-username", env = "TICKLOOP_KAFKA_SASL_USERNAME")]
    sasl_username: Option<String>,
    /// A file holding the SASL password (else TICKLOOP_KAFKA_SASL_PASSWORD; never a flag).
    #[arg(long = "kafka-sasl-password-file")]
    sasl_password_file: Option<PathBuf>,
    /// CA certificates (PEM) to verify the brokers with [default: the system's].
    #[arg(long = "kafka-ssl-ca", env = "TICKLOOP_KAFKA_SSL_CA")]
    ssl_ca: Option<PathBuf>,
}

impl KafkaArgs {
    /// Applies the security settings to every Kafka client this process makes.
    pub fn configure(&self) -> anyhow::Result<()> {
        let password = match &self.sasl_password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the SASL password file {}", path.display()))?;
                Some(Secret::new(text.trim_end_matches(['\r', '\n'])))
            }
            None => std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).map(Secret::new),
        };
        let security = KafkaSecurity {
            protocol: self.security_protocol,
            sasl_mechanism: self.sasl_mechanism,
            username: self.sasl_username.clone(),
            password,
            ca_location: self.ssl_ca.clone(),
        };
        tickloop_kafka::configure_security(security).map_err(|e| {
            anyhow::anyhow!("kafka security: {e} (password from {PASSWORD_ENV} or --kafka-sasl-password-file)")
        })
    }
}
