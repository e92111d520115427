//! Idle connections cannot exhaust a server: alone in its process, so that the thread count
//! it reads is the servers'.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickloop_models::testing::{SumModel, card};
use tickloop_serve::{Dashboard, Limits, ModelServer, ModelServerConfig};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// Opens 300 connections that never send a byte, then asks `path` as a normal client.
fn flood_then_ask(name: &str, addr: SocketAddr, path: &str, open: &dyn Fn() -> usize) {
    let cap = Limits::default().max_connections;
    let before = threads();
    let idle: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        assert!(open() <= cap, "{name}: {} connections open, past the cap of {cap}", open());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open(), cap, "{name}: the cap is reached, not passed");
    assert_eq!(threads(), before, "{name}: no thread per connection");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{name}: {answer}");
    assert!(open() <= cap);
    drop(idle);
}

#[test]
fn three_hundred_idle_connections_stay_under_the_cap_and_a_request_still_answers() {
    let dashboard = Dashboard::serve("127.0.0.1:0", None, Arc::default()).unwrap();
    flood_then_ask("dashboard", dashboard.addr(), "/api/overview", &|| dashboard.server().open_connections());
    let config = ModelServerConfig { addr: "127.0.0.1:0".into(), ..ModelServerConfig::default() };
    let server = ModelServer::start(Arc::new(SumModel(card(&["a"]))), config).unwrap();
    flood_then_ask("model server", server.addr(), "/ping", &|| server.server().open_connections());
}
