//! Streaming replay of the lake in `(ts_event, symbol)` order.

use std::collections::{BTreeMap, VecDeque};

use tickloop_core::{Source, SourceError, SymbolId, SymbolTable, Tick, Timestamp};

use crate::tick_file::{TickFileReader, TickRun};
use crate::{HourPartition, Lake, LakeError, LakeTable};

/// Replays `raw/ticks` over `[from, to)`.
///
/// Partitions are disjoint hours, so the merge runs one hour at a time: every row group
/// (one symbol's run) of every file of that hour is a sorted stream, decoded whole when the
/// hour opens; memory is one decoded hour, whatever the size of the range.
///
/// The merge groups runs by the timestamp of their next tick ([`Buckets`]) instead of
/// ordering them tick by tick in a heap: market data comes on a shared clock (every symbol
/// ticks at the same second), so one bucket holds every symbol and is emitted in one sweep,
/// O(1) per tick where a heap paid two sifts of log(symbols) comparisons. Runs are numbered
/// in `(symbol, file order)`, so a bucket in run order is in replay order; a bucket that
/// receives runs out of that order (ticks off the shared clock) is sorted before it is
/// emitted, which keeps the order exact for any data. Where the next buckets are the same
/// runs on one clock, up to eight of them go out at once, each run's next ticks read
/// together (`fill_tile`).
///
/// Symbol ids are assigned from the sorted set of names found in the footers of the whole
/// range before the first tick, so ids follow name order and the replay order is the same
/// whether one compares ids or names.
#[derive(Debug)]
pub struct LakeSource {
    lake: Lake,
    from: Timestamp,
    to: Timestamp,
    partitions: VecDeque<HourPartition>,
    symbols: SymbolTable,
    runs: Vec<TickRun>,
    buckets: Buckets,
    /// The timestamps of a bucket's next heads, kept to be refilled without allocating.
    next_heads: Vec<Option<Timestamp>>,
    remaining_rows: u64,
    /// Threads decoding an hour's runs.
    threads: usize,
}

impl LakeSource {
    pub fn open(lake: &Lake, from: Timestamp, to: Timestamp) -> Result<Self, LakeError> {
        let partitions = lake.partitions(LakeTable::RawTicks, from, to)?;
        let mut metas: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut rows = 0;
        for &p in &partitions {
            for meta in lake.partition_files(LakeTable::RawTicks, p, ".parquet")? {
                let reader = TickFileReader::open(&lake.object_at(meta.key))?;
                for run in reader.runs() {
                    rows += run.rows;
                    metas.entry(run.symbol.clone()).or_insert_with(|| (run.exchange.clone(), run.currency.clone()));
                }
            }
        }
        let mut symbols = SymbolTable::new();
        for (name, (exchange, currency)) in &metas {
            symbols
                .intern_with(name, exchange, currency)
                .map_err(|e| LakeError::invalid(lake.description(), e.to_string()))?;
        }
        tracing::debug!(partitions = partitions.len(), symbols = symbols.len(), rows, "lake replay opened");
        Ok(LakeSource {
            lake: lake.clone(),
            from,
            to,
            partitions: partitions.into(),
            symbols,
            runs: Vec::new(),
            buckets: Buckets::default(),
            next_heads: Vec::new(),
            threads: 1,
            remaining_rows: rows,
        })
    }

    /// Decodes each hour's runs on `threads` threads (the replay is the same on any number).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Opens every run of the next non-empty partition. Returns `false` when none is left.
    fn open_next_partition(&mut self) -> Result<bool, LakeError> {
        while let Some(p) = self.partitions.pop_front() {
            let mut buffers: Vec<Vec<Tick>> = self.runs.drain(..).map(TickRun::into_buffer).collect();
            for meta in self.lake.partition_files(LakeTable::RawTicks, p, ".parquet")? {
                let reader = TickFileReader::open(&self.lake.object_at(meta.key))?;
                let ids = reader
                    .runs()
                    .iter()
                    .map(|info| {
                        self.symbols.get(&info.symbol).ok_or_else(|| {
                            LakeError::invalid(
                                reader.path(),
                                format!("symbol {} appeared after the replay started", info.symbol),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.runs.extend(decode_runs(reader, &ids, &mut buffers, self.threads)?);
            }
            // Run order is replay order among equal timestamps (a stable sort keeps file order
            // for a symbol found in two files).
            self.runs.sort_by_key(TickRun::symbol);
            for index in 0..self.runs.len() {
                self.requeue(index);
            }
            if !self.buckets.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Puts run `index` in the bucket of its next in-range tick, if it has one.
    fn requeue(&mut self, index: usize) {
        let run = &mut self.runs[index];
        while let Some(t) = run.peek() {
            if t.ts_event >= self.from && t.ts_event < self.to {
                self.buckets.insert(t.ts_event, index);
                return;
            }
            run.advance();
            self.remaining_rows = self.remaining_rows.saturating_sub(1);
        }
    }

    /// Appends up to `max` next ticks to `out`.
    ///
    /// A bucket is emitted in two sweeps: first every run's head is copied out, then every
    /// run advances and is requeued. The copies do not depend on each other, so the CPU
    /// overlaps their cache misses (each head sits in a different run's memory, far from the
    /// last: with hundreds of runs no prefetcher follows them); done tick by tick, each copy
    /// waited behind the requeue of the run before it.
    fn fill(&mut self, out: &mut Vec<Tick>, max: usize) -> Result<(), LakeError> {
        let goal = out.len() + max;
        while out.len() < goal {
            if self.fill_tile(out, goal - out.len()) {
                continue;
            }
            let Some(bucket) = self.buckets.next_runs(goal - out.len()) else {
                if self.open_next_partition()? {
                    continue;
                }
                break;
            };
            out.extend(bucket.iter().map(|&index| *self.runs[index].peek().expect("a run in a bucket has a head")));
            self.remaining_rows = self.remaining_rows.saturating_sub(bucket.len() as u64);
            self.advance_and_requeue(&bucket, 1);
            self.buckets.done(bucket);
        }
        Ok(())
    }

    /// Emits the next several buckets at once, as many as are the same runs on one clock (a
    /// shared market clock: every symbol's next ticks at the same seconds) with no other run
    /// between them, into at most `room` ticks; `false` (nothing done) when fewer than two.
    ///
    /// The ticks and their order are those of the buckets one by one: each bucket holds
    /// exactly these runs, in run order. What changes is the memory traffic: a bucket at a
    /// time reads each run's next tick once per bucket, a cache miss each (hundreds of runs,
    /// far apart), where here each run's next ticks are read together (adjacent lines,
    /// which the CPU fetches as one stream) to check their clock, then copied out bucket by
    /// bucket from cache (at 1,000 symbols, [`MAX_TILE`] buckets are 512 KiB).
    fn fill_tile(&mut self, out: &mut Vec<Tick>, room: usize) -> bool {
        let Some((runs, after)) = self.buckets.peek_whole() else { return false };
        let most = (room / runs.len().max(1)).min(MAX_TILE);
        if most < 2 || !runs.is_sorted() {
            return false;
        }
        // The clock: the first run's next timestamps, short of the range's end and of the
        // next other bucket; then cut to what every run shares (a run's timestamps rise,
        // so a shared prefix is the buckets one by one).
        let mut clock = [Timestamp::MIN; MAX_TILE];
        let mut tile = 0;
        for tick in self.runs[runs[0]].ahead(most) {
            let at = tick.ts_event;
            if at >= self.to || after.is_some_and(|next| next <= at) {
                break;
            }
            clock[tile] = at;
            tile += 1;
        }
        if tile < 2 {
            return false;
        }
        for &index in &runs[1..] {
            let ticks = self.runs[index].ahead(tile);
            tile = ticks.iter().zip(&clock).take_while(|(t, at)| t.ts_event == **at).count();
            if tile < 2 {
                return false;
            }
        }
        let bucket = self.buckets.take_peeked();
        for j in 0..tile {
            out.extend(bucket.iter().map(|&index| self.runs[index].ahead(tile)[j]));
        }
        self.remaining_rows = self.remaining_rows.saturating_sub((tile * bucket.len()) as u64);
        self.advance_and_requeue(&bucket, tile);
        self.buckets.done(bucket);
        true
    }

    /// Advances every run of `bucket` by `step` ticks and puts it in the bucket of its next
    /// in-range tick. Every run's next head is read in a tight loop of its own first, so
    /// that the CPU has many of their cache misses in flight at once: its timestamp (its
    /// first cache line) for the requeue, and its last field (a tick spans two lines) so the
    /// next copy finds it in cache.
    fn advance_and_requeue(&mut self, bucket: &[usize], step: usize) {
        let mut next = std::mem::take(&mut self.next_heads);
        let mut touched = 0u64;
        next.extend(bucket.iter().map(|&index| {
            let run = &mut self.runs[index];
            run.advance_by(step);
            run.peek().map(|t| {
                touched ^= t.volume.get().to_bits();
                t.ts_event
            })
        }));
        std::hint::black_box(touched);
        for (&index, head) in bucket.iter().zip(next.drain(..)) {
            match head {
                Some(ts) if ts >= self.from && ts < self.to => self.buckets.insert(ts, index),
                _ => self.requeue(index),
            }
        }
        self.next_heads = next;
    }
}

/// The most buckets [`LakeSource::fill_tile`] emits at once.
const MAX_TILE: usize = 8;

/// Decodes every run of `reader` (their ids in `ids`) on up to `threads` threads, each a
/// contiguous range of runs with a reader of its own; the runs come back in file order,
/// whatever the number of threads. `buffers` are finished runs' memory to reuse.
fn decode_runs(
    reader: TickFileReader,
    ids: &[SymbolId],
    buffers: &mut Vec<Vec<Tick>>,
    threads: usize,
) -> Result<Vec<TickRun>, LakeError> {
    let n = ids.len();
    let threads = threads.clamp(1, n.max(1));
    let mut readers = Vec::with_capacity(threads);
    for _ in 1..threads {
        readers.push(reader.try_clone()?);
    }
    readers.insert(0, reader);
    let shares: Vec<(TickFileReader, std::ops::Range<usize>, Vec<Vec<Tick>>)> = readers
        .into_iter()
        .enumerate()
        .map(|(t, reader)| {
            let range = n * t / threads..n * (t + 1) / threads;
            let mine = buffers.len().saturating_sub(range.len());
            (reader, range, buffers.split_off(mine))
        })
        .collect();
    let decode = |(mut reader, range, mut buffers): (TickFileReader, std::ops::Range<usize>, Vec<Vec<Tick>>)| {
        range.map(|i| reader.open_run_into(i, ids[i], buffers.pop().unwrap_or_default())).collect::<Result<Vec<_>, _>>()
    };
    let mut shares = shares.into_iter();
    let first = shares.next().expect("one reader at least");
    let decoded: Vec<Result<Vec<TickRun>, LakeError>> = std::thread::scope(|scope| {
        let others: Vec<_> = shares.map(|share| scope.spawn(move || decode(share))).collect();
        let mut decoded = vec![decode(first)];
        decoded.extend(others.into_iter().map(|h| h.join().expect("a decoding thread panicked")));
        decoded
    });
    let mut runs = Vec::with_capacity(n);
    for share in decoded {
        runs.extend(share?);
    }
    Ok(runs)
}

/// Runs grouped by the timestamp of their next tick, emitted bucket by bucket in time order
/// and within a bucket in run order.
#[derive(Debug, Default)]
struct Buckets {
    waiting: BTreeMap<Timestamp, Vec<usize>>,
    /// The latest insertions, while they share one timestamp (on a shared clock, a whole
    /// bucket moves to the next second together): one map lookup per bucket, not per run.
    recent: Option<(Timestamp, Vec<usize>)>,
    /// The bucket being emitted, from `emitted` on.
    current: Vec<usize>,
    emitted: usize,
    /// Emptied buckets, kept to be refilled without allocating.
    spare: Vec<Vec<usize>>,
}

impl Buckets {
    fn is_empty(&self) -> bool {
        self.emitted == self.current.len() && self.waiting.is_empty() && self.recent.is_none()
    }

    fn insert(&mut self, ts: Timestamp, run: usize) {
        match &mut self.recent {
            Some((at, runs)) if *at == ts => runs.push(run),
            recent => {
                let mut runs = self.spare.pop().unwrap_or_default();
                runs.push(run);
                if let Some((at, older)) = recent.replace((ts, runs)) {
                    self.file(at, older);
                }
            }
        }
    }

    /// Moves `runs` into the waiting bucket of `ts`.
    fn file(&mut self, ts: Timestamp, mut runs: Vec<usize>) {
        match self.waiting.get_mut(&ts) {
            Some(bucket) => {
                bucket.append(&mut runs);
                self.spare.push(runs);
            }
            None => {
                self.waiting.insert(ts, runs);
            }
        }
    }

    /// When no bucket is part-way emitted: the runs of the next bucket (left waiting) and the
    /// timestamp of the bucket after it.
    fn peek_whole(&mut self) -> Option<(&[usize], Option<Timestamp>)> {
        if self.emitted != self.current.len() {
            return None;
        }
        if let Some((ts, runs)) = self.recent.take() {
            self.file(ts, runs);
        }
        let (_, runs) = self.waiting.first_key_value()?;
        let after = self.waiting.keys().nth(1).copied();
        Some((runs, after))
    }

    /// Takes the bucket [`Buckets::peek_whole`] showed. Hand it back with [`Buckets::done`].
    fn take_peeked(&mut self) -> Vec<usize> {
        self.waiting.pop_first().map(|(_, runs)| runs).expect("a bucket was peeked")
    }

    /// The next up to `max` runs in replay order, all of one bucket, or `None` when no run is
    /// waiting. Hand the vector back with [`Buckets::done`].
    fn next_runs(&mut self, max: usize) -> Option<Vec<usize>> {
        if self.emitted == self.current.len() {
            if let Some((ts, runs)) = self.recent.take() {
                self.file(ts, runs);
            }
            let (_, mut bucket) = self.waiting.pop_first()?;
            if !bucket.is_sorted() {
                bucket.sort_unstable();
            }
            let done = std::mem::replace(&mut self.current, bucket);
            self.done(done);
            self.emitted = 0;
        }
        let end = self.current.len().min(self.emitted + max);
        let mut runs = self.spare.pop().unwrap_or_default();
        runs.extend_from_slice(&self.current[self.emitted..end]);
        self.emitted = end;
        Some(runs)
    }

    fn done(&mut self, mut runs: Vec<usize>) {
        runs.clear();
        self.spare.push(runs);
    }
}

impl Source for LakeSource {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        let mut one = Vec::with_capacity(1);
        self.fill(&mut one, 1).map_err(SourceError::new)?;
        Ok(one.pop())
    }

    fn next_block(&mut self, block: &mut Vec<Tick>, max: usize) -> Result<(), SourceError> {
        block.clear();
        self.fill(block, max).map_err(SourceError::new)
    }

    fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    fn remaining_hint(&self) -> Option<u64> {
        Some(self.remaining_rows)
    }
}
