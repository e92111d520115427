//! A model served elsewhere (`tickloop serve-model` on another machine) used as a local
//! [`Predictor`]: the live runner keeps the card (features, window) and sends its windows
//! over HTTP in the model server's wire format.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tickloop_models::invocation::{InvocationRequest, InvocationResponse};
use tickloop_models::{ModelCard, ModelError, Predictor};

#[derive(Debug)]
pub struct RemoteModel {
    card: ModelCard,
    host: String,
    path: String,
    token: Option<String>,
    timeout: Duration,
}

impl RemoteModel {
    /// `url`: `http://host:port[/path]` (the path defaults to `/invocations`). HTTPS
    /// endpoints sit behind a TLS-terminating proxy or a SageMaker client instead.
    pub fn new(card: ModelCard, url: &str, token: Option<String>) -> Result<Self, ModelError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| ModelError::Backend(format!("{url}: only http:// endpoints are supported")))?;
        let (host, path) =
            rest.split_once('/').map_or((rest, "/invocations".to_owned()), |(h, p)| (h, format!("/{p}")));
        if host.is_empty() {
            return Err(ModelError::Backend(format!("{url}: no host")));
        }
        Ok(RemoteModel { card, host: host.to_owned(), path, token, timeout: Duration::from_secs(10) })
    }

    fn post(&self, body: &[u8]) -> Result<(u16, Vec<u8>), std::io::Error> {
        let mut stream = TcpStream::connect(&self.host)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let auth = self.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
        let status = std::str::from_utf8(&response[..split.min(12)])
            .ok()
            .and_then(|l| l.get(9..12))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((status, response[(split + 4).min(response.len())..].to_vec()))
    }
}

impl Predictor for RemoteModel {
    fn card(&self) -> &ModelCard {
        &self.card
    }

    fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError> {
        let n = self.window_count(windows)?;
        let request = InvocationRequest::from_windows(windows, self.card.window, self.card.features.len(), &[]);
        let body = serde_json::to_vec(&request).expect("requests serialise");
        let fail = |why: String| ModelError::Backend(format!("model endpoint {}{}: {why}", self.host, self.path));
        let (status, reply) = self.post(&body).map_err(|e| fail(e.to_string()))?;
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
