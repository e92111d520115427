//! A model served elsewhere (`tickloop serve-model` on another machine, or anything that
//! speaks SageMaker's contract) used as a local [`Predictor`]: the live runner keeps the
//! card (features, window) and sends its windows over HTTP in the model server's format.

use std::time::Duration;

use tickloop_models::invocation::{InvocationRequest, InvocationResponse};
use tickloop_models::{ModelCard, ModelError, Predictor};

pub struct RemoteModel {
    card: ModelCard,
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for RemoteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModel")
            .field("model", &self.card.id())
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Largest answer read from an endpoint.
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

impl RemoteModel {
    /// `url`: `http[s]://host:port[/path]` (the path defaults to `/invocations`).
    pub fn new(card: ModelCard, url: &str, token: Option<String>) -> Result<Self, ModelError> {
        let url = endpoint(url).map_err(ModelError::Backend)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(RemoteModel { card, url, token, agent })
    }
}

/// The invocation URL an endpoint stands for.
fn endpoint(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url}: the endpoint needs an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url}: no host"));
    }
    Ok(if rest.contains('/') { url.to_owned() } else { format!("{url}/invocations") })
}

impl Predictor for RemoteModel {
    fn card(&self) -> &ModelCard {
        &self.card
    }

    fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError> {
        let n = self.window_count(windows)?;
        let request = InvocationRequest::from_windows(windows, self.card.window, self.card.features.len(), &[]);
        let body = serde_json::to_vec(&request).expect("requests serialise");
        let fail = |why: String| ModelError::Backend(format!("model endpoint {}: {why}", self.url));
        let mut call = self.agent.post(&self.url).header("Content-Type", "application/json");
        if let Some(token) = &self.token {
            call = call.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = call.send(&body[..]).map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let reply = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| fail(format!("reading the answer: {e}")))?;
        if status != 200 {
            return Err(fail(format!("HTTP {status}: {}", String::from_utf8_lossy(&reply).trim())));
        }
        let response: InvocationResponse = serde_json::from_slice(&reply).map_err(|e| fail(e.to_string()))?;
        if response.predictions.len() != n {
            return Err(fail(format!("{} predictions for {n} windows", response.predictions.len())));
        }
        Ok(response.predictions.into_iter().map(|p| p.log_return).collect())
    }

    fn save(&self, dir: &std::path::Path) -> Result<(), ModelError> {
        Err(ModelError::artifact(dir, "a remote model's weights live with its server"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_a_scheme_and_a_host_and_default_to_invocations() {
        assert_eq!(endpoint("http://h:1").unwrap(), "http://h:1/invocations");
        assert_eq!(endpoint("https://h/x/y").unwrap(), "https://h/x/y");
        for bad in ["h:1", "ftp://h", "http://", "http:///x"] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }
}
