//! The simulated broker and portfolio: orders from a decision at `t` fill at the open of
//! the first tick whose interval starts after `t + latency`, never on the tick that
//! produced the signal.

use serde::{Deserialize, Serialize};
use tickloop_core::{NANOS_PER_SECOND, SymbolId, Tick, Timestamp};

use crate::ExecutionConfig;

/// A 1-second tick stamped `ts_event` covers `(ts_event − 1 s, ts_event]`: its open is the
/// first trade after `ts_event − 1 s`.
const TICK_SPAN: i64 = NANOS_PER_SECOND;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Order {
    /// Signed quantity to trade.
    quantity: f64,
    /// The first `ts_event` whose tick can fill the order.
    fill_from: Timestamp,
}

#[derive(Debug, Clone, Default)]
struct Book {
    position: f64,
    last_close: Option<f64>,
    pending: Option<Order>,
}

/// A fill, as the trade log and metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub symbol: SymbolId,
    pub ts: Timestamp,
    pub quantity: f64,
    pub price: f64,
    pub fee: f64,
}

/// Cash, positions and pending orders of every symbol.
#[derive(Debug, Clone)]
pub struct Broker {
    config: ExecutionConfig,
    /// Capital allotted to each symbol: initial capital over the number of symbols.
    allocation: f64,
    cash: f64,
    /// Σ position × last close, kept incrementally.
    market_value: f64,
    books: Vec<Book>,
    pub fees_paid: f64,
    pub traded_notional: f64,
    pub fills: u64,
}

impl Broker {
    pub fn new(config: ExecutionConfig, symbols: usize) -> Self {
        Broker {
            allocation: config.initial_capital / symbols.max(1) as f64,
            cash: config.initial_capital,
            config,
            market_value: 0.0,
            books: Vec::new(),
            fees_paid: 0.0,
            traded_notional: 0.0,
            fills: 0,
        }
    }

    pub fn equity(&self) -> f64 {
        self.cash + self.market_value
    }

    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Shares held in `symbol` (negative when short).
    pub fn position(&self, symbol: SymbolId) -> f64 {
        self.books.get(symbol.index()).map_or(0.0, |b| b.position)
    }

    fn book(&mut self, symbol: SymbolId) -> &mut Book {
        let i = symbol.index();
        if i >= self.books.len() {
            self.books.resize_with(i + 1, Book::default);
        }
        &mut self.books[i]
    }

    /// Fills a due order on `tick`, then marks the position to `tick.close`.
    pub fn on_tick(&mut self, tick: &Tick) -> Option<Fill> {
        let (fee_rate, slip) = (self.config.fee_bps / 10_000.0, self.config.slippage_bps / 10_000.0);
        let book = self.book(tick.symbol);
        let mut fill = None;
        if let Some(order) = book.pending
            && tick.ts_event >= order.fill_from
        {
            book.pending = None;
            let price = tick.open.get() * if order.quantity > 0.0 { 1.0 + slip } else { 1.0 - slip };
            let notional = order.quantity * price;
            let fee = notional.abs() * fee_rate;
            let old_close = book.last_close.unwrap_or(price);
            let delta_mv = order.quantity * old_close;
            book.position += order.quantity;
            self.cash -= notional + fee;
            self.market_value += delta_mv;
            self.fees_paid += fee;
            self.traded_notional += notional.abs();
            self.fills += 1;
            fill = Some(Fill { symbol: tick.symbol, ts: tick.ts_event, quantity: order.quantity, price, fee });
        }
        let book = self.book(tick.symbol);
        let close = tick.close.get();
        let old_close = book.last_close.replace(close).unwrap_or(close);
        let position = book.position;
        self.market_value += position * (close - old_close);
        fill
    }

    /// Sets the target for `tick.symbol` as a fraction of its allocation, priced at the
    /// decision tick's close; an order for the difference replaces any pending one.
    pub fn set_target(&mut self, tick: &Tick, weight: f64) {
        self.set_target_at(tick.symbol, tick.ts_event, weight);
    }

    /// Sets the target for `symbol`, decided at `decided_at` and priced at the symbol's last
    /// close (a symbol without a close yet cannot be sized: its target is ignored).
    pub fn set_target_at(&mut self, symbol: SymbolId, decided_at: Timestamp, weight: f64) {
        let weight = weight.clamp(-1.0, 1.0);
        let allocation = self.allocation;
        let fill_from = decided_at.add_nanos(self.config.latency_ms as i64 * 1_000_000 + TICK_SPAN);
        let book = self.book(symbol);
        let Some(close) = book.last_close else { return };
        let target = (weight * allocation / close).trunc();
        let quantity = target - book.position;
        // Re-stating the target an order is already working towards keeps that order (and
        // its place in time); only a different target replaces it.
        if book.pending.is_some_and(|o| o.quantity == quantity) {
            return;
        }
        book.pending = (quantity != 0.0).then_some(Order { quantity, fill_from });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{Price, Volume};

    fn tick(secs: i64, open: f64, close: f64) -> Tick {
        Tick {
            symbol: SymbolId::new(0),
            ts_event: Timestamp::from_secs(secs),
            ts_recv: Timestamp::from_secs(secs),
            open: Price(open),
            high: Price(open.max(close)),
            low: Price(open.min(close)),
            close: Price(close),
            volume: Volume(100.0),
        }
    }

    #[test]
    fn fills_at_the_next_eligible_open_with_costs_never_on_the_signal_tick() {
        let config =
            ExecutionConfig { initial_capital: 10_000.0, fee_bps: 10.0, slippage_bps: 100.0, latency_ms: 1500 };
        let mut b = Broker::new(config, 1);
        let t1 = tick(1, 100.0, 100.0);
        assert!(b.on_tick(&t1).is_none());
        b.set_target(&t1, 1.0);
        // Decision at 1 s + 1.5 s latency = arrival at 2.5 s. The ticks stamped 2 s and 3 s
        // cover (1 s, 2 s] and (2 s, 3 s]: both began before the order arrived.
        assert!(b.on_tick(&tick(2, 200.0, 200.0)).is_none());
        assert!(b.on_tick(&tick(3, 300.0, 300.0)).is_none());
        let fill = b.on_tick(&tick(4, 110.0, 120.0)).expect("fills on the first tick starting after arrival");
        assert_eq!(fill.quantity, 100.0, "sized at the decision close: 10,000 / 100");
        assert!((fill.price - 111.1).abs() < 1e-9, "open plus 1 % slippage");
        assert!((fill.fee - 11.11).abs() < 1e-9);
        assert!((b.cash() - (10_000.0 - 11_110.0 - 11.11)).abs() < 1e-6);
        assert!((b.equity() - (b.cash() + 100.0 * 120.0)).abs() < 1e-6, "marked at the close");
    }

    #[test]
    fn restating_the_same_target_does_not_delay_the_order() {
        let config = ExecutionConfig { initial_capital: 1_000.0, fee_bps: 0.0, slippage_bps: 0.0, latency_ms: 1500 };
        let mut b = Broker::new(config, 1);
        for secs in 1..=3 {
            let t = tick(secs, 10.0, 10.0);
            assert!(b.on_tick(&t).is_none());
            b.set_target(&t, 1.0);
        }
        assert!(b.on_tick(&tick(4, 10.0, 10.0)).is_some(), "the order decided at 1 s is due from 3.5 s");
    }

    proptest::proptest! {
        /// The books balance: equity kept incrementally equals initial capital plus, over
        /// every fill, quantity × (last close − fill price), minus fees; and the position
        /// is the sum of filled quantities.
        #[test]
        fn accounting_balances_after_any_sequence(
            steps in proptest::collection::vec((0u32..3, 1.0f64..500.0, 0.0f64..0.05, proptest::option::of(-1.0f64..1.0)), 1..200),
            fee_bps in 0.0f64..20.0,
            slippage_bps in 0.0f64..20.0,
            latency_ms in 0u64..3000,
        ) {
            let config = ExecutionConfig { initial_capital: 1_000_000.0, fee_bps, slippage_bps, latency_ms };
            let mut b = Broker::new(config, 3);
            let mut fills = Vec::new();
            let mut last_close = [None::<f64>; 3];
            for (i, &(sym, close, gap, target)) in steps.iter().enumerate() {
                let open = close * (1.0 + gap);
                let mut t = tick(i as i64 + 1, open, close);
                t.symbol = SymbolId::new(sym);
                fills.extend(b.on_tick(&t));
                last_close[sym as usize] = Some(close);
                if let Some(w) = target {
                    b.set_target(&t, w);
                }
            }
            let mut expected = 1_000_000.0;
            let mut positions = [0.0f64; 3];
            for f in &fills {
                let mark = last_close[f.symbol.index()].expect("filled symbols have ticked");
                expected += f.quantity * (mark - f.price) - f.fee;
                positions[f.symbol.index()] += f.quantity;
            }
            let tolerance = 1e-6 * expected.abs().max(1.0);
            proptest::prop_assert!((b.equity() - expected).abs() < tolerance, "equity {} vs {}", b.equity(), expected);
            for (i, p) in positions.iter().enumerate() {
                proptest::prop_assert_eq!(b.position(SymbolId::new(i as u32)), *p);
            }
        }
    }

    #[test]
    fn a_new_target_replaces_the_pending_order() {
        let config = ExecutionConfig { initial_capital: 1_000.0, fee_bps: 0.0, slippage_bps: 0.0, latency_ms: 0 };
        let mut b = Broker::new(config, 1);
        let t1 = tick(1, 10.0, 10.0);
        b.on_tick(&t1);
        b.set_target(&t1, 1.0);
        b.set_target(&t1, 0.0);
        assert!(b.on_tick(&tick(2, 10.0, 10.0)).is_none());
        assert_eq!(b.equity(), 1_000.0);
    }
}
