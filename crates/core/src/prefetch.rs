//! A source read one block ahead on a thread of its own.

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use crate::{DEFAULT_BLOCK_TICKS, Source, SourceError, SymbolTable, Tick};

/// What the reading thread is asked for: the next `max` ticks, into a buffer to reuse.
type Request = (Vec<Tick>, usize);

/// Reads `source` on a thread of its own, one block ahead of the caller: while the engine
/// runs block k through the pipeline, the next block is decoded and merged (a replay of the
/// lake spends a tenth of its time there, on one thread). The ticks are those of `source`,
/// in its order, whatever the timing: the thread only ever works one block ahead, on the
/// caller's request.
///
/// Made for [`Source::next_block`] with one block size, which moves whole blocks (no copy);
/// [`Source::next_tick`] and other sizes copy out of blocks read ahead the same way.
#[derive(Debug)]
pub struct Prefetched {
    symbols: SymbolTable,
    remaining: Option<u64>,
    requests: Option<Sender<Request>>,
    blocks: Receiver<Result<Vec<Tick>, SourceError>>,
    /// A request is out: the reading thread is filling the next block.
    asked: bool,
    /// Ticks received and not yet handed out, from `taken` on (only when sizes change).
    current: Vec<Tick>,
    taken: usize,
    ended: bool,
    reader: Option<JoinHandle<()>>,
}

impl Prefetched {
    pub fn new(mut source: impl Source + Send + 'static) -> Self {
        let symbols = source.symbols().clone();
        let remaining = source.remaining_hint();
        let (requests, asked_for) = channel::<Request>();
        let (filled, blocks): (SyncSender<_>, _) = sync_channel(0);
        let reader = std::thread::Builder::new()
            .name("tickloop-prefetch".into())
            .spawn(move || {
                for (mut block, max) in asked_for {
                    let result = source.next_block(&mut block, max);
                    let last = result.is_err() || block.is_empty();
                    if filled.send(result.map(|()| block)).is_err() || last {
                        return;
                    }
                }
            })
            .expect("spawning the prefetch thread");
        Prefetched {
            symbols,
            remaining,
            requests: Some(requests),
            blocks,
            asked: false,
            current: Vec::new(),
            taken: 0,
            ended: false,
            reader: Some(reader),
        }
    }

    fn ask(&mut self, buffer: Vec<Tick>, max: usize) {
        if let Some(requests) = &self.requests {
            // A closed channel means the reader has stopped: the next receive says why.
            self.asked = requests.send((buffer, max)).is_ok();
        }
    }

    /// The next block the reader filled (asking for it first if no request is out); empty
    /// once the source is exhausted.
    fn receive(&mut self, max: usize) -> Result<Vec<Tick>, SourceError> {
        if !self.asked {
            self.ask(Vec::new(), max);
        }
        self.asked = false;
        let Ok(block) = self.blocks.recv() else {
            // The reader hung up without an answer: it panicked. Go on unwinding here, as
            // the source would have without a thread of its own.
            if let Some(Err(panic)) = self.reader.take().map(JoinHandle::join) {
                std::panic::resume_unwind(panic);
            }
            return Err(SourceError::new("the prefetch thread stopped without a reason"));
        };
        let block = block?;
        if block.is_empty() {
            self.ended = true;
        }
        Ok(block)
    }

    /// Hands `received` out tick by tick from now on, and has the reader fill the spent
    /// buffer with the block after it meanwhile.
    fn hold(&mut self, received: Vec<Tick>, max: usize) {
        let spent = std::mem::replace(&mut self.current, received);
        self.taken = 0;
        if !self.ended {
            self.ask(spent, max);
        }
    }
}

impl Source for Prefetched {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        if self.taken == self.current.len() {
            if self.ended {
                return Ok(None);
            }
            let received = self.receive(DEFAULT_BLOCK_TICKS)?;
            self.hold(received, DEFAULT_BLOCK_TICKS);
        }
        let tick = self.current.get(self.taken).copied();
        if tick.is_some() {
            self.taken += 1;
            if let Some(remaining) = &mut self.remaining {
                *remaining = remaining.saturating_sub(1);
            }
        }
        Ok(tick)
    }

    fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    fn next_block(&mut self, block: &mut Vec<Tick>, max: usize) -> Result<(), SourceError> {
        block.clear();
        while block.len() < max {
            if self.taken == self.current.len() {
                if self.ended {
                    break;
                }
                let received = self.receive(max)?;
                if received.len() <= max && block.is_empty() {
                    // The whole block is the answer: hand it over, and the caller's old
                    // buffer goes to the reader for the block after it.
                    let spare = std::mem::replace(block, received);
                    if !self.ended {
                        self.ask(spare, max);
                    }
                    break;
                }
                self.hold(received, max);
            }
            let n = (max - block.len()).min(self.current.len() - self.taken);
            block.extend_from_slice(&self.current[self.taken..self.taken + n]);
            self.taken += n;
        }
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(block.len() as u64);
        }
        Ok(())
    }

    fn remaining_hint(&self) -> Option<u64> {
        self.remaining
    }
}

impl Drop for Prefetched {
    fn drop(&mut self) {
        // Closing both channels stops the reader at its next send or receive.
        self.requests = None;
        let (_, closed) = sync_channel(0);
        drop(std::mem::replace(&mut self.blocks, closed));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SymbolId, Timestamp};

    /// Ticks 0..n of one symbol, or an error after `fail_after`.
    struct Counting {
        next: u64,
        n: u64,
        fail_after: Option<u64>,
        symbols: SymbolTable,
    }

    impl Counting {
        fn new(n: u64, fail_after: Option<u64>) -> Self {
            let mut symbols = SymbolTable::new();
            symbols.intern("AAA").unwrap();
            Counting { next: 0, n, fail_after, symbols }
        }
    }

    impl Source for Counting {
        fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
            if self.fail_after == Some(self.next) {
                return Err(SourceError::new(format!("broken at tick {}", self.next)));
            }
            if self.next == self.n {
                return Ok(None);
            }
            self.next += 1;
            Ok(Some(Tick::at_price(SymbolId::new(0), Timestamp::from_nanos(self.next as i64), 1.0, 1.0)))
        }

        fn symbols(&self) -> &SymbolTable {
            &self.symbols
        }

        fn remaining_hint(&self) -> Option<u64> {
            Some(self.n - self.next)
        }
    }

    fn drain(source: &mut dyn Source, sizes: &[usize]) -> Result<Vec<i64>, SourceError> {
        let mut seen = Vec::new();
        let mut block = Vec::new();
        for &max in sizes.iter().cycle() {
            source.next_block(&mut block, max)?;
            if block.is_empty() {
                return Ok(seen);
            }
            assert!(block.len() <= max);
            seen.extend(block.iter().map(|t| t.ts_event.as_nanos()));
        }
        unreachable!("sizes is not empty")
    }

    #[test]
    fn hands_out_the_ticks_of_its_source_in_order_whatever_the_block_sizes() {
        for sizes in [&[7][..], &[1], &[3, 10, 1, 64], &[1000]] {
            let direct = drain(&mut Counting::new(101, None), sizes).unwrap();
            let mut ahead = Prefetched::new(Counting::new(101, None));
            assert_eq!(ahead.remaining_hint(), Some(101));
            assert_eq!(drain(&mut ahead, sizes).unwrap(), direct, "sizes {sizes:?}");
            assert_eq!(ahead.remaining_hint(), Some(0));
            assert_eq!(direct, (1..=101).collect::<Vec<_>>());
        }
    }

    #[test]
    fn tick_by_tick_hands_out_the_same_ticks() {
        let mut ahead = Prefetched::new(Counting::new(DEFAULT_BLOCK_TICKS as u64 * 2 + 5, None));
        let mut seen = Vec::new();
        while let Some(tick) = ahead.next_tick().unwrap() {
            seen.push(tick.ts_event.as_nanos());
        }
        assert_eq!(seen, (1..=DEFAULT_BLOCK_TICKS as i64 * 2 + 5).collect::<Vec<_>>());
        assert_eq!(ahead.remaining_hint(), Some(0));
        assert!(ahead.next_tick().unwrap().is_none(), "stays exhausted");
    }

    #[test]
    fn a_source_error_reaches_the_caller_after_the_ticks_before_it() {
        let mut ahead = Prefetched::new(Counting::new(100, Some(25)));
        let mut block = Vec::new();
        ahead.next_block(&mut block, 10).unwrap();
        ahead.next_block(&mut block, 10).unwrap();
        assert_eq!(block.last().unwrap().ts_event.as_nanos(), 20);
        let err = ahead.next_block(&mut block, 10).unwrap_err();
        assert!(err.to_string().contains("broken at tick 25"), "{err}");
    }

    /// A source that panics on its first read.
    struct Broken(SymbolTable);

    impl Source for Broken {
        fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
            panic!("the source broke");
        }

        fn symbols(&self) -> &SymbolTable {
            &self.0
        }
    }

    #[test]
    #[should_panic(expected = "the source broke")]
    fn a_panic_in_the_source_reaches_the_caller() {
        let mut ahead = Prefetched::new(Broken(SymbolTable::new()));
        let _ = ahead.next_block(&mut Vec::new(), 10);
    }

    #[test]
    fn dropping_it_early_stops_the_reader() {
        let mut ahead = Prefetched::new(Counting::new(1_000_000, None));
        let mut block = Vec::new();
        ahead.next_block(&mut block, 100).unwrap();
        drop(ahead);
    }
}
