//! Saves partition states off the consuming thread.
//!
//! A checkpoint's state is ~25 MB at 1,000 symbols, and making it durable (`fsync` on a
//! local store, a PUT on S3) took 67–94 ms every 5 s: the whole loop stopped for it, which
//! was the live runner's p99. Here the loop encodes the snapshots (it owns the workers),
//! hands the bytes to one writer thread and goes back to consuming; once the writer says the
//! states are durable, the loop commits their offsets. The order that makes a crash
//! harmless stays: outputs acknowledged → lake files → state durable → offsets committed.
//! A crash while a save is in flight leaves the committed offsets behind the states (or the
//! states as before), which a restart already handles: it skips the records a state holds.
//!
//! One save at a time: a checkpoint due while one is in flight waits for the next poll, so
//! a slow store slows checkpoints, never the loop, and memory holds at most one state copy.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use tickloop_lake::{LakeError, ObjectStore};

/// One partition's encoded state, saved under `key`, holding everything before `next_offset`.
#[derive(Debug)]
pub(crate) struct EncodedState {
    pub key: String,
    pub bytes: Vec<u8>,
    pub partition: i32,
    pub next_offset: i64,
}

/// A save that finished: the offsets whose states are now durable, or why not.
pub(crate) type Saved = Result<Vec<(i32, i64)>, LakeError>;

#[derive(Debug)]
pub(crate) struct StateWriter {
    jobs: Option<SyncSender<Vec<EncodedState>>>,
    done: Receiver<Saved>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

impl StateWriter {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        let (jobs, inbox) = mpsc::sync_channel::<Vec<EncodedState>>(1);
        let (report, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tickloop-state".into())
            .spawn(move || {
                for states in inbox {
                    let started = std::time::Instant::now();
                    let saved = states
                        .iter()
                        .try_for_each(|s| store.put(&s.key, &s.bytes))
                        .map(|()| states.iter().map(|s| (s.partition, s.next_offset)).collect());
                    tracing::debug!(
                        partitions = states.len(),
                        save_ms = started.elapsed().as_secs_f64() * 1e3,
                        "checkpoint state durable"
                    );
                    if report.send(saved).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning the state writer thread");
        StateWriter { jobs: Some(jobs), done, in_flight: false, thread: Some(thread) }
    }

    /// Whether a save is still being written.
    pub fn busy(&self) -> bool {
        self.in_flight
    }

    /// Starts saving `states`; the caller checks [`StateWriter::busy`] first.
    pub fn submit(&mut self, states: Vec<EncodedState>) {
        debug_assert!(!self.in_flight, "one save at a time");
        let jobs = self.jobs.as_ref().expect("the writer is open until dropped");
        // The thread only stops when `jobs` closes (on drop), so the send cannot fail.
        jobs.send(states).expect("the state writer thread is running");
        self.in_flight = true;
    }

    /// The save in flight, if it has finished; never blocks.
    pub fn finished(&mut self) -> Option<Saved> {
        if !self.in_flight {
            return None;
        }
        match self.done.try_recv() {
            Ok(saved) => {
                self.in_flight = false;
                Some(saved)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => panic!("the state writer thread died"),
        }
    }

    /// Waits for the save in flight, if any.
    pub fn wait(&mut self) -> Option<Saved> {
        if !self.in_flight {
            return None;
        }
        self.in_flight = false;
        Some(self.done.recv().expect("the state writer thread reports every save"))
    }
}

impl Drop for StateWriter {
    fn drop(&mut self) {
        // Closing the channel ends the thread once the save in flight (if any) is written.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(partition: i32, next_offset: i64, byte: u8) -> EncodedState {
        EncodedState { key: format!("s/{partition}"), bytes: vec![byte; 4], partition, next_offset }
    }

    #[test]
    fn a_save_reports_its_offsets_once_every_state_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let lake = tickloop_lake::Lake::local(dir.path());
        let mut writer = StateWriter::new(lake.store().clone());
        assert!(!writer.busy() && writer.finished().is_none() && writer.wait().is_none());
        writer.submit(vec![state(0, 10, 1), state(2, 7, 2)]);
        assert!(writer.busy());
        let saved = writer.wait().unwrap().unwrap();
        assert_eq!(saved, [(0, 10), (2, 7)]);
        assert!(!writer.busy());
        assert_eq!(lake.store().get("s/2").unwrap(), Some(vec![2; 4]), "durable before it is reported");
        // The next save replaces the states.
        writer.submit(vec![state(0, 12, 3)]);
        let saved = loop {
            if let Some(saved) = writer.finished() {
                break saved;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert_eq!(saved.unwrap(), [(0, 12)]);
        assert_eq!(lake.store().get("s/0").unwrap(), Some(vec![3; 4]));
    }

    #[test]
    fn a_failed_save_reports_the_error_and_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lake = tickloop_lake::Lake::local(dir.path());
        // A file where the state's folder should be: the put cannot create it.
        std::fs::write(dir.path().join("s"), b"in the way").unwrap();
        let mut writer = StateWriter::new(lake.store().clone());
        writer.submit(vec![state(1, 5, 1)]);
        let err = writer.wait().unwrap().unwrap_err();
        assert!(err.to_string().contains(&dir.path().join("s").display().to_string()), "names the place: {err}");
    }
}
