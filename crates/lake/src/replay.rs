//! Streaming replay of the lake in `(ts_event, symbol)` order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use tickloop_core::{Source, SourceError, SymbolId, SymbolTable, Tick, Timestamp};

use crate::tick_file::{TickFileReader, TickRun};
use crate::{HourPartition, Lake, LakeError, LakeTable};

/// Replays `raw/ticks` over `[from, to)`.
///
/// Partitions are disjoint hours, so the merge runs one hour at a time: every row group
/// (one symbol's run) of every file of that hour is a sorted stream, and a binary heap keyed
/// by `(ts_event, symbol, run)` interleaves them. Memory is one decoded page per column per
/// run of the open hour, whatever the size of the range.
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
    heap: BinaryHeap<Reverse<(Timestamp, SymbolId, usize)>>,
    remaining_rows: u64,
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
            heap: BinaryHeap::new(),
            remaining_rows: rows,
        })
    }

    /// Opens every run of the next non-empty partition. Returns `false` when none is left.
    fn open_next_partition(&mut self) -> Result<bool, LakeError> {
        while let Some(p) = self.partitions.pop_front() {
            self.runs.clear();
            for meta in self.lake.partition_files(LakeTable::RawTicks, p, ".parquet")? {
                let reader = TickFileReader::open(&self.lake.object_at(meta.key))?;
                for (i, info) in reader.runs().iter().enumerate() {
                    let id = self.symbols.get(&info.symbol).ok_or_else(|| {
                        LakeError::invalid(
                            reader.path(),
                            format!("symbol {} appeared after the replay started", info.symbol),
                        )
                    })?;
                    self.runs.push(reader.open_run(i, id)?);
                }
            }
            for index in 0..self.runs.len() {
                self.push_head(index)?;
            }
            if !self.heap.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Pushes run `index`'s next in-range tick onto the heap, if any.
    fn push_head(&mut self, index: usize) -> Result<(), LakeError> {
        let run = &mut self.runs[index];
        while let Some(t) = run.peek()? {
            if t.ts_event >= self.from && t.ts_event < self.to {
                self.heap.push(Reverse((t.ts_event, t.symbol, index)));
                break;
            }
            run.next_tick()?;
            self.remaining_rows = self.remaining_rows.saturating_sub(1);
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Option<Tick>, LakeError> {
        if self.heap.is_empty() && !self.open_next_partition()? {
            return Ok(None);
        }
        let Some(Reverse((_, _, index))) = self.heap.pop() else {
            return Ok(None);
        };
        let tick = self.runs[index].next_tick()?.expect("a run on the heap has a head");
        self.remaining_rows = self.remaining_rows.saturating_sub(1);
        self.push_head(index)?;
        Ok(Some(tick))
    }
}

impl Source for LakeSource {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        self.next().map_err(SourceError::new)
    }

    fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    fn remaining_hint(&self) -> Option<u64> {
        Some(self.remaining_rows)
    }
}
