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
    /// Signed quantity still to trade.
    quantity: f64,
    /// The first `ts_event` whose tick can fill the order.
    fill_from: Timestamp,
}

#[derive(Debug, Clone, Default)]
struct Book {
    position: f64,
    /// Average entry price of the open position (0 when flat).
    avg_cost: f64,
    last_close: Option<f64>,
    pending: Option<Order>,
    /// The weight last asked for: asking again does not re-size the position.
    target_weight: Option<f64>,
    realized: f64,
    fees: f64,
    fills: u64,
    /// Fills that reduced the position, and those of them that closed above cost (long)
    /// or below it (short).
    closing_fills: u64,
    winning_closes: u64,
}

impl Book {
    /// Books a fill of `quantity` at `price`: realises P&L on the part that reduces the
    /// position, and moves the average cost on the part that extends it.
    fn apply(&mut self, quantity: f64, price: f64, fee: f64) {
        let old = self.position;
        let new = old + quantity;
        if old != 0.0 && old.signum() != quantity.signum() {
            let closed = quantity.abs().min(old.abs());
            let pnl = closed * (price - self.avg_cost) * old.signum();
            self.realized += pnl;
            self.closing_fills += 1;
            self.winning_closes += u64::from(pnl > 0.0);
        }
        self.avg_cost = if new == 0.0 {
            0.0
        } else if old == 0.0 || old.signum() != new.signum() {
            price
        } else if new.abs() > old.abs() {
            (self.avg_cost * old.abs() + price * quantity.abs()) / new.abs()
        } else {
            self.avg_cost
        };
        self.position = new;
        self.fees += fee;
        self.fills += 1;
    }
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

/// One symbol's trading at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymbolTrading {
    /// Realised plus unrealised (at the last close) P&L, after fees.
    pub pnl: f64,
    pub fees: f64,
    pub fills: u64,
    pub closing_fills: u64,
    pub winning_closes: u64,
    pub position: f64,
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
    /// Σ |position × last close|, kept incrementally.
    gross_value: f64,
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
            gross_value: 0.0,
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

    /// Σ |position × last close|.
    pub fn gross_value(&self) -> f64 {
        self.gross_value
    }

    /// Gross exposure over equity (0 once equity is gone).
    pub fn exposure(&self) -> f64 {
        let equity = self.equity();
        if equity > 0.0 { self.gross_value / equity } else { 0.0 }
    }

    /// Shares held in `symbol` (negative when short).
    pub fn position(&self, symbol: SymbolId) -> f64 {
        self.books.get(symbol.index()).map_or(0.0, |b| b.position)
    }

    /// Every symbol's trading so far, indexed by symbol (symbols never traded or priced
    /// are all zeros).
    pub fn by_symbol(&self) -> impl Iterator<Item = SymbolTrading> + '_ {
        self.books.iter().map(|b| {
            let unrealized = b.last_close.map_or(0.0, |c| b.position * (c - b.avg_cost));
            SymbolTrading {
                pnl: b.realized + unrealized - b.fees,
                fees: b.fees,
                fills: b.fills,
                closing_fills: b.closing_fills,
                winning_closes: b.winning_closes,
                position: b.position,
            }
        })
    }

    fn book(&mut self, symbol: SymbolId) -> &mut Book {
        let i = symbol.index();
        if i >= self.books.len() {
            self.books.resize_with(i + 1, Book::default);
        }
        &mut self.books[i]
    }

    /// Fills (all or part of) a due order on `tick`, then marks the position to
    /// `tick.close`.
    ///
    /// The fill price is the tick's open moved against the order by `slippage_bps` and by
    /// `slippage_range_share` of the tick's high–low range (wider, more volatile ticks cost
    /// more). With `max_participation`, at most that share of the tick's volume fills; the
    /// rest keeps working on the following ticks.
    pub fn on_tick(&mut self, tick: &Tick) -> Option<Fill> {
        let cfg = &self.config;
        let (fee_rate, fee_per_share, slip) = (cfg.fee_bps / 10_000.0, cfg.fee_per_share, cfg.slippage_bps / 10_000.0);
        let (range_share, participation) = (cfg.slippage_range_share, cfg.max_participation);
        let book = self.book(tick.symbol);
        let mut fill = None;
        if let Some(order) = book.pending
            && tick.ts_event >= order.fill_from
        {
            let side = order.quantity.signum();
            let quantity = match participation {
                Some(cap) => side * order.quantity.abs().min((cap * tick.volume.get()).floor()),
                None => order.quantity,
            };
            let remaining = order.quantity - quantity;
            book.pending = (remaining != 0.0).then_some(Order { quantity: remaining, ..order });
            if quantity != 0.0 {
                let range = tick.high.get() - tick.low.get();
                let price = tick.open.get() * (1.0 + side * slip) + side * range_share * range;
                let notional = quantity * price;
                let fee = notional.abs() * fee_rate + quantity.abs() * fee_per_share;
                let mark = book.last_close.unwrap_or(price);
                let gross_before = (book.position * mark).abs();
                book.apply(quantity, price, fee);
                let gross_after = (book.position * mark).abs();
                self.cash -= notional + fee;
                self.market_value += quantity * mark;
                self.gross_value += gross_after - gross_before;
                self.fees_paid += fee;
                self.traded_notional += notional.abs();
                self.fills += 1;
                fill = Some(Fill { symbol: tick.symbol, ts: tick.ts_event, quantity, price, fee });
            }
        }
        let book = self.book(tick.symbol);
        let close = tick.close.get();
        let old_close = book.last_close.replace(close).unwrap_or(close);
        let position = book.position;
        self.market_value += position * (close - old_close);
        self.gross_value += (position * close).abs() - (position * old_close).abs();
        fill
    }

    /// Sets the target for `tick.symbol` as a fraction of its allocation, priced at the
    /// decision tick's close; an order for the difference replaces any pending one.
    pub fn set_target(&mut self, tick: &Tick, weight: f64) {
        self.set_target_at(tick.symbol, tick.ts_event, weight);
    }

    /// Sets the target for `symbol`, decided at `decided_at` and priced at the symbol's last
    /// close (a symbol without a close yet cannot be sized: its target is ignored).
    ///
    /// Strategies state their target on every tick; re-stating the weight last asked for
    /// keeps the position and any order working towards it (rather than re-sizing to each
    /// new price, which would trade every tick); a different weight is sized afresh.
    ///
    /// `max_symbol_weight` caps the weight; `max_gross_exposure` cuts a target that would
    /// take gross exposure (valued at last closes, counting other symbols' working orders as
    /// filled) above that multiple of equity to what fits.
    pub fn set_target_at(&mut self, symbol: SymbolId, decided_at: Timestamp, weight: f64) {
        let cap = self.config.max_symbol_weight.unwrap_or(1.0);
        let weight = weight.clamp(-cap, cap);
        let allocation = self.allocation;
        let fill_from = decided_at.add_nanos(self.config.latency_ms as i64 * 1_000_000 + TICK_SPAN);
        let headroom = self.config.max_gross_exposure.map(|g| g * self.equity() - self.committed_gross(symbol));
        let book = self.book(symbol);
        let Some(close) = book.last_close else { return };
        if book.target_weight == Some(weight) {
            return;
        }
        book.target_weight = Some(weight);
        let mut target = (weight * allocation / close).trunc();
        if let Some(room) = headroom
            && target.abs() > book.position.abs()
            && target.abs() * close > room
        {
            // Never below what is held: cutting a new target must not force a trade.
            target = target.signum() * (room.max(0.0) / close).trunc().max(book.position.abs().min(target.abs()));
        }
        let quantity = target - book.position;
        book.pending = (quantity != 0.0).then_some(Order { quantity, fill_from });
    }

    /// Gross exposure of every symbol but `except`, as if their working orders had filled,
    /// at last closes.
    fn committed_gross(&self, except: SymbolId) -> f64 {
        self.books
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != except.index())
            .map(|(_, b)| {
                let shares = b.position + b.pending.map_or(0.0, |o| o.quantity);
                (shares * b.last_close.unwrap_or(0.0)).abs()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{Price, Volume};

    /// No fees, no slippage, no latency, no participation cap.
    fn costless() -> ExecutionConfig {
        ExecutionConfig {
            fee_bps: 0.0,
            fee_per_share: 0.0,
            slippage_bps: 0.0,
            slippage_range_share: 0.0,
            max_participation: None,
            latency_ms: 0,
            ..ExecutionConfig::default()
        }
    }

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
        let config = ExecutionConfig {
            initial_capital: 10_000.0,
            fee_bps: 10.0,
            slippage_bps: 100.0,
            latency_ms: 1500,
            ..costless()
        };
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
        let config = ExecutionConfig { initial_capital: 1_000.0, latency_ms: 1500, ..costless() };
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
        /// every fill, quantity × (last close − fill price), minus fees; the position is the
        /// sum of filled quantities; and the per-symbol P&L adds up to the change in equity.
        #[test]
        fn accounting_balances_after_any_sequence(
            steps in proptest::collection::vec((0u32..3, 1.0f64..500.0, 0.0f64..0.05, proptest::option::of(-1.0f64..1.0), 0.0f64..5_000.0), 1..200),
            fee_bps in 0.0f64..20.0,
            fee_per_share in 0.0f64..0.01,
            slippage_bps in 0.0f64..20.0,
            slippage_range_share in 0.0f64..0.5,
            max_participation in proptest::option::of(0.01f64..1.0),
            max_symbol_weight in proptest::option::of(0.1f64..1.0),
            max_gross_exposure in proptest::option::of(0.1f64..3.0),
            latency_ms in 0u64..3000,
        ) {
            let config = ExecutionConfig {
                initial_capital: 1_000_000.0, fee_bps, fee_per_share, slippage_bps, slippage_range_share, max_participation, latency_ms,
                max_symbol_weight, max_gross_exposure,
            };
            let mut b = Broker::new(config, 3);
            let mut fills = Vec::new();
            let mut last_close = [None::<f64>; 3];
            for (i, &(sym, close, gap, target, volume)) in steps.iter().enumerate() {
                let open = close * (1.0 + gap);
                let mut t = tick(i as i64 + 1, open, close);
                t.symbol = SymbolId::new(sym);
                t.volume = Volume(volume);
                let fill = b.on_tick(&t);
                if let (Some(f), Some(cap)) = (fill, max_participation) {
                    proptest::prop_assert!(f.quantity.abs() <= cap * volume, "{} shares of {volume} at cap {cap}", f.quantity);
                }
                fills.extend(fill);
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
            let pnl: f64 = b.by_symbol().map(|s| s.pnl).sum();
            proptest::prop_assert!((pnl - (b.equity() - 1_000_000.0)).abs() < tolerance, "Σ symbol P&L {pnl} vs {}", b.equity() - 1_000_000.0);
            let gross: f64 = (0..3).map(|i| (positions[i] * last_close[i].unwrap_or(0.0)).abs()).sum();
            proptest::prop_assert!((b.gross_value() - gross).abs() < 1e-6 * gross.max(1.0));
        }
    }

    #[test]
    fn a_participation_cap_fills_an_order_over_several_ticks_at_their_own_prices() {
        let config = ExecutionConfig { initial_capital: 10_000.0, max_participation: Some(0.1), ..costless() };
        let mut b = Broker::new(config, 1);
        let t1 = tick(1, 10.0, 10.0);
        b.on_tick(&t1);
        b.set_target(&t1, 1.0); // 1,000 shares; each tick trades 100 × 10 % = 10
        let mut filled = Vec::new();
        for secs in 2..=5 {
            let mut t = tick(secs, 10.0 + secs as f64, 10.0);
            t.volume = Volume(if secs == 3 { 4_000.0 } else { 100.0 });
            filled.extend(b.on_tick(&t).map(|f| (f.quantity, f.price)));
        }
        assert_eq!(filled, vec![(10.0, 12.0), (400.0, 13.0), (10.0, 14.0), (10.0, 15.0)]);
        assert_eq!(b.position(SymbolId::new(0)), 430.0, "570 shares still working");
    }

    #[test]
    fn per_share_fees_and_range_slippage_are_charged_against_the_order() {
        let config =
            ExecutionConfig { fee_per_share: 0.005, slippage_range_share: 0.5, initial_capital: 1_000.0, ..costless() };
        let mut b = Broker::new(config, 1);
        let t1 = tick(1, 10.0, 10.0);
        b.on_tick(&t1);
        b.set_target(&t1, 1.0);
        let mut t2 = tick(2, 10.0, 10.0);
        (t2.high, t2.low) = (Price(10.4), Price(9.8));
        let buy = b.on_tick(&t2).unwrap();
        assert!((buy.price - 10.3).abs() < 1e-12, "open + half the 0.6 range: {}", buy.price);
        assert!((buy.fee - 0.5).abs() < 1e-12, "100 shares × 0.005");
        b.set_target(&t2, -1.0);
        let mut t3 = tick(3, 10.0, 10.0);
        (t3.high, t3.low) = (Price(10.2), Price(9.8));
        let sell = b.on_tick(&t3).unwrap();
        assert_eq!(sell.quantity, -200.0);
        assert!((sell.price - 9.8).abs() < 1e-12, "a sell pays the concession downwards");
    }

    #[test]
    fn hit_rate_counts_closing_fills_against_the_average_entry() {
        let mut b = Broker::new(ExecutionConfig { initial_capital: 1_000.0, ..costless() }, 1);
        // Buy at 10 and 12 (average 11), sell half at 13 (win), the rest at 10 (loss).
        let steps =
            [(1, 10.0, Some(0.5)), (2, 10.0, Some(1.0)), (3, 12.0, Some(0.5)), (4, 13.0, Some(0.0)), (5, 10.0, None)];
        for (secs, price, target) in steps {
            let t = tick(secs, price, price);
            b.on_tick(&t);
            if let Some(w) = target {
                b.set_target(&t, w);
            }
        }
        let s = b.by_symbol().next().unwrap();
        assert_eq!((s.fills, s.closing_fills, s.winning_closes), (4, 2, 1));
        assert_eq!(s.position, 0.0);
        assert!((s.pnl - (b.equity() - 1_000.0)).abs() < 1e-9);
    }

    #[test]
    fn restating_a_weight_after_the_price_moved_keeps_the_position() {
        let mut b = Broker::new(ExecutionConfig { initial_capital: 1_000.0, ..costless() }, 1);
        let mut fills = 0;
        for (secs, price) in [(1, 10.0), (2, 10.0), (3, 12.5), (4, 8.0), (5, 9.0)] {
            let t = tick(secs, price, price);
            fills += usize::from(b.on_tick(&t).is_some());
            b.set_target(&t, 1.0);
        }
        assert_eq!((fills, b.position(SymbolId::new(0))), (1, 100.0), "bought once at 10, never re-sized");
        let t = tick(6, 9.0, 9.0);
        b.on_tick(&t);
        b.set_target(&t, 0.5);
        b.on_tick(&tick(7, 9.0, 9.0));
        assert_eq!(b.position(SymbolId::new(0)), 55.0, "a new weight is sized at the new price: 500 / 9");
    }

    #[test]
    fn symbol_and_gross_exposure_limits_cut_targets() {
        let config = ExecutionConfig {
            initial_capital: 3_000.0,
            max_symbol_weight: Some(0.5),
            max_gross_exposure: Some(1.0),
            ..costless()
        };
        let mut b = Broker::new(config, 3); // 1,000 allotted to each symbol
        let at = |symbol: u32, secs: i64| {
            let mut t = tick(secs, 10.0, 10.0);
            t.symbol = SymbolId::new(symbol);
            t
        };
        for s in 0..3 {
            b.on_tick(&at(s, 1));
        }
        b.set_target(&at(0, 1), 1.0);
        for s in 0..3 {
            b.on_tick(&at(s, 2));
        }
        assert_eq!(b.position(SymbolId::new(0)), 50.0, "weight capped at 0.5 of 1,000");
        // Gross capped at 0.3 × equity = 900.
        let config = ExecutionConfig { initial_capital: 3_000.0, max_gross_exposure: Some(0.3), ..costless() };
        let mut b = Broker::new(config, 3);
        for s in 0..3 {
            b.on_tick(&at(s, 1));
        }
        b.set_target(&at(0, 1), 0.6); // 600 of 900 allowed
        b.set_target(&at(1, 1), 0.6); // only 300 left: cut to 30 shares
        b.set_target(&at(2, 1), -0.5); // nothing left
        for s in 0..3 {
            b.on_tick(&at(s, 2));
        }
        let positions: Vec<f64> = (0..3).map(|s| b.position(SymbolId::new(s))).collect();
        assert_eq!(positions, vec![60.0, 30.0, 0.0]);
        assert!((b.gross_value() - 900.0).abs() < 1e-9);
        b.set_target(&at(0, 2), 0.0); // reducing is always allowed
        b.on_tick(&at(0, 3));
        assert_eq!(b.position(SymbolId::new(0)), 0.0);
    }

    #[test]
    fn a_new_target_replaces_the_pending_order() {
        let config = ExecutionConfig { initial_capital: 1_000.0, latency_ms: 0, ..costless() };
        let mut b = Broker::new(config, 1);
        let t1 = tick(1, 10.0, 10.0);
        b.on_tick(&t1);
        b.set_target(&t1, 1.0);
        b.set_target(&t1, 0.0);
        assert!(b.on_tick(&tick(2, 10.0, 10.0)).is_none());
        assert_eq!(b.equity(), 1_000.0);
    }
}
