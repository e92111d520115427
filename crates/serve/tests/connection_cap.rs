//! Idle connections cannot exhaust a server: alone in its process, so that the thread count
//! it reads is the server's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickloop_serve::{Dashboard, Limits};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn three_hundred_idle_connections_stay_under_the_cap_and_a_request_still_answers() {
    let dashboard = Dashboard::serve("127.0.0.1:0", None, Arc::default()).unwrap();
    let cap = Limits::default().max_connections;
    let before = threads();
    let idle: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(dashboard.addr()).unwrap()).collect();
    // Let the server accept them all.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        assert!(dashboard.server().open_connections() <= cap);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(dashboard.server().open_connections(), cap, "the cap is reached, not passed");
    assert_eq!(threads(), before, "no thread per connection");
    let mut s = TcpStream::connect(dashboard.addr()).unwrap();
    write!(s, "GET /api/overview HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(dashboard.server().open_connections() <= cap);
    drop(idle);
}
