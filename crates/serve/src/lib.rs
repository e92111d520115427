//! tickloop-serve: the live dashboard, the model server (SageMaker's inference contract) and
//! the client the live runner uses for a model served elsewhere.
//!
//! Both servers run on [`tickloop_http`]: axum routes on hyper connections with a cap on
//! connections, deadlines for a request's head and body, a write stall that drops clients
//! that stop reading, and access decided from the head (a token, or on an open loopback bind
//! a `Host` naming the machine). Each has a small runtime of its own, so the runner's hot loop
//! never shares an executor with a viewer. The page and its script are embedded in the binary,
//! so nothing is fetched from the internet.

mod archive;
mod dashboard;
mod feed;
mod model_server;
mod remote;
mod state;

pub use archive::write_model_archive;
pub use dashboard::{Dashboard, DashboardOptions};
pub use feed::DashboardSink;
pub use model_server::{ModelServer, ModelServerConfig};
pub use remote::RemoteModel;
pub use state::{DashboardState, Detail, Health, Overview, Row};
pub use tickloop_http::{Limits, ServeError};
