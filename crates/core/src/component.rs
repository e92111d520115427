//! The one trait pipeline stages implement, and the buffer they write into.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{Alert, Bar, MaturedPrediction, Prediction, Rejection, Tick};

/// What the pipeline produced for one input tick.
///
/// The engine owns one `Outputs` and clears it before each tick, so stages append into
/// vectors that keep their capacity: no allocation per tick once warmed up.
#[derive(Debug, Default, Clone)]
pub struct Outputs {
    /// The tick as it left cleaning; `None` when the pipeline rejected it.
    pub tick: Option<Tick>,
    /// Feature values for `tick`'s symbol at its `ts_event`, aligned with the pipeline's
    /// feature names. `NaN` means "not warmed up yet". Left empty by a block of ticks
    /// whose sinks all said they do not read them ([`crate::Sink::reads_features`]).
    pub features: Vec<f64>,
    pub bars: Vec<Bar>,
    pub predictions: Vec<Prediction>,
    /// Earlier predictions of this tick's symbol whose horizon this tick reached.
    pub matured: Vec<MaturedPrediction>,
    pub alerts: Vec<Alert>,
    /// Records the cleaning stage refused, for the dead-letter sink.
    pub rejects: Vec<Rejection>,
}

impl Outputs {
    pub fn clear(&mut self) {
        self.tick = None;
        self.features.clear();
        self.bars.clear();
        self.predictions.clear();
        self.matured.clear();
        self.alerts.clear();
        self.rejects.clear();
    }
}

/// A pipeline stage: owns its state, reacts to ticks in event-time order, and can save and
/// restore that state so a live runner can recover and a backtest can be resumed.
pub trait Component {
    fn on_tick(&mut self, tick: &Tick, out: &mut Outputs);

    /// Processes a block of ticks in order, handing `each` every tick's outputs exactly as
    /// [`Component::on_tick`] would have produced them; stops early when `each` breaks,
    /// which leaves the component's state somewhere inside the block (the engine breaks only
    /// to fail the run).
    ///
    /// Replays override this to reorder work inside the block where no output can tell:
    /// the pipeline computes features symbol by symbol, so a symbol's indicator state stays
    /// in cache for its run of ticks instead of being evicted by every other symbol's.
    fn on_ticks(
        &mut self,
        ticks: &[Tick],
        out: &mut Outputs,
        each: &mut dyn FnMut(&Tick, &Outputs) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for tick in ticks {
            out.clear();
            self.on_tick(tick, out);
            each(tick, out)?;
        }
        ControlFlow::Continue(())
    }

    /// The input paused or ended: emit anything held back for batching (the prediction
    /// stage batches one event second's windows until the next second starts). Outputs
    /// must not depend on when this is called, only on the ticks seen.
    fn flush(&mut self, _out: &mut Outputs) {}

    /// Whether [`Component::on_ticks`] must hand each tick's `features` on: with `false`, no
    /// one downstream reads them, and a component may leave them empty (a replay then skips
    /// copying every tick's row into tick order). Every other output stays the same.
    /// [`Component::on_tick`] always fills them.
    fn hand_on_features(&mut self, _wanted: bool) {}

    fn snapshot(&self) -> Result<Snapshot, SnapshotError>;

    fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError>;
}

/// A component's state, tagged with the component's name so a snapshot is never restored
/// into the wrong kind of component.
///
/// The state is postcard-encoded rather than JSON: JSON has no NaN (every indicator is NaN
/// while warming up) and does not promise bit-exact floats, and a restored component must
/// continue bit for bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub component: String,
    pub state: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot is for component {found:?}, not {expected:?}")]
    WrongComponent { expected: String, found: String },
    #[error("snapshot of {component:?} does not decode: {source}")]
    Codec {
        component: String,
        #[source]
        source: postcard::Error,
    },
}

impl Snapshot {
    pub fn of<T: Serialize>(component: &str, state: &T) -> Result<Self, SnapshotError> {
        let state = postcard::to_stdvec(state)
            .map_err(|source| SnapshotError::Codec { component: component.to_owned(), source })?;
        Ok(Snapshot { component: component.to_owned(), state })
    }

    pub fn decode<T: DeserializeOwned>(&self, component: &str) -> Result<T, SnapshotError> {
        if self.component != component {
            return Err(SnapshotError::WrongComponent {
                expected: component.to_owned(),
                found: self.component.clone(),
            });
        }
        postcard::from_bytes(&self.state)
            .map_err(|source| SnapshotError::Codec { component: component.to_owned(), source })
    }
}
