//! Amazon SNS: each alert published to a topic, with its id as a message attribute (and as
//! the deduplication id on FIFO topics). Endpoint and region configurable, so it runs
//! against a local AWS-compatible server in tests.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::{AlertMessage, AlertSink, NotifyError};

pub struct Sns {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Sns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sns").field("topic_arn", &self.topic_arn).finish()
    }
}

impl Sns {
    /// Credentials from the standard AWS chain; `endpoint` for an AWS-compatible server.
    pub fn new(topic_arn: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Self, NotifyError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NotifyError::Config(format!("SNS runtime: {e}")))?;
        let shared = tickloop_s3::aws_sdk_config(&runtime, region.map(str::to_owned));
        let mut config = aws_sdk_sns::config::Builder::from(&shared);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(Sns { client: aws_sdk_sns::Client::from_conf(config.build()), topic_arn: topic_arn.to_owned(), runtime })
    }
}

impl AlertSink for Sns {
    fn name(&self) -> String {
        format!("SNS {}", self.topic_arn)
    }

    fn send(&mut self, alert: &AlertMessage) -> Result<(), NotifyError> {
        let attribute = |value: &str| {
            MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("complete")
        };
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.summary)
            .message(&alert.json)
            .message_attributes("id", attribute(&alert.id))
            .message_attributes("symbol", attribute(&alert.symbol));
        if self.topic_arn.ends_with(".fifo") {
            request = request.message_group_id(&alert.symbol).message_deduplication_id(&alert.id);
        }
        self.runtime.block_on(request.send()).map(|_| ()).map_err(|e| NotifyError::Delivery {
            sink: self.name(),
            reason: aws_sdk_sns::error::DisplayErrorContext(e).to_string(),
        })
    }
}
