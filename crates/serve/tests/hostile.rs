//! The attacks an outside script ran against the dashboard and the model server, each
//! replayed over a real socket against both: foreign `Host`s (DNS rebinding), smuggling
//! framings, trickled heads and bodies, unauthenticated large bodies, event-stream clients
//! that stop reading.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickloop_core::{SymbolId, Tick, Timestamp};
use tickloop_models::testing::{SumModel, card};
use tickloop_serve::{Dashboard, DashboardOptions, DashboardState, Limits, ModelServer, ModelServerConfig};

/// Deadlines short enough for a test.
fn limits(max_body: usize) -> Limits {
    Limits { head_timeout: Duration::from_secs(1), write_stall: Duration::from_secs(1), max_body, ..Limits::default() }
}

fn dashboard(token: Option<&str>) -> Dashboard {
    let options = DashboardOptions { http: limits(0), update_every: Duration::from_millis(50), ..Default::default() };
    Dashboard::serve_with("127.0.0.1:0", token.map(str::to_owned), Arc::default(), options).unwrap()
}

fn model_server(token: Option<&str>) -> ModelServer {
    let config = ModelServerConfig {
        addr: "127.0.0.1:0".into(),
        token: token.map(str::to_owned),
        ..ModelServerConfig::default()
    };
    ModelServer::start_with(Arc::new(SumModel(card(&["a", "b"]))), config, limits(1024)).unwrap()
}

/// Both servers, each with the path a plain request of it asks for.
fn both() -> Vec<(&'static str, SocketAddr, &'static str, Box<dyn std::any::Any>)> {
    let d = dashboard(None);
    let m = model_server(None);
    vec![("dashboard", d.addr(), "/", Box::new(d)), ("model server", m.addr(), "/ping", Box::new(m))]
}

/// Sends `request` and reads the answer until the server closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> u16 {
    answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[test]
fn only_requests_addressed_to_localhost_are_answered_on_an_open_loopback_bind() {
    for (name, addr, path, _server) in both() {
        let get = |host: &str| status(&exchange(addr, format!("GET {path} HTTP/1.1\r\n{host}\r\n").as_bytes()));
        assert_eq!(get(&format!("Host: 127.0.0.1:{}\r\n", addr.port())), 200, "{name}");
        assert_eq!(get(&format!("Host: localhost:{}\r\n", addr.port())), 200, "{name}");
        // A page on evil.example whose name now resolves to 127.0.0.1 sends its own name.
        assert_eq!(get(&format!("Host: evil.example:{}\r\n", addr.port())), 403, "{name}");
        assert_eq!(get("Host: localhost.evil.example\r\n"), 403, "{name}");
        assert_eq!(get(""), 403, "{name}: no Host at all");
    }
    // With a token, the token is what counts.
    let locked = model_server(Some("s3cret"));
    let answer =
        exchange(locked.addr(), b"GET /ping HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer s3cret\r\n\r\n");
    assert_eq!(status(&answer), 200);
}

#[test]
fn smuggling_framings_get_400() {
    let framings: [(&str, &str); 6] = [
        ("two lengths", "Content-Length: 5\r\nContent-Length: 10\r\n"),
        ("signed length", "Content-Length: +5\r\n"),
        ("list of lengths", "Content-Length: 5, 10\r\n"),
        ("space before the colon", "Content-Length : 5\r\n"),
        ("folded header line", "X-Note: one\r\n two\r\nContent-Length: 5\r\n"),
        ("length and chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
    ];
    for (name, addr, _, _server) in both() {
        for (framing, headers) in framings {
            let request = format!("POST /invocations HTTP/1.1\r\nHost: localhost\r\n{headers}\r\nhello");
            let answer = exchange(addr, request.as_bytes());
            assert_eq!(status(&answer), 400, "{name}, {framing}: {answer}");
        }
        let answer = exchange(addr, b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nhello");
        assert_eq!(status(&answer), 400, "{name}, a coding that is not chunked: {answer}");
    }
}

#[test]
fn a_client_trickling_its_head_is_cut_at_the_deadline() {
    for (name, addr, path, _server) in both() {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let start = Instant::now();
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n").unwrap();
        let mut answer = Vec::new();
        let cut = loop {
            assert!(start.elapsed() < Duration::from_secs(5), "{name}: still reading a head after 5 s");
            // One header line every 100 ms, never the blank line that ends the head.
            if s.write_all(b"X-Slow: still coming\r\n").is_err() {
                break start.elapsed();
            }
            let mut buf = [0u8; 512];
            match s.read(&mut buf) {
                Ok(0) => break start.elapsed(),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break start.elapsed(),
            }
        };
        assert!(cut >= Duration::from_millis(900), "{name}: cut after {cut:?}, before the 1 s deadline");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{name}: {answer}");
    }
}

#[test]
fn a_body_is_read_only_after_access_is_granted_and_only_while_it_keeps_coming() {
    let server = model_server(Some("s3cret"));
    let addr = server.addr();
    // 50 MB announced, nothing sent: the refusal comes without waiting for a byte of it.
    let head =
        "POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\nContent-Length: 50000000\r\n";
    for (auth, expected) in
        [("", 401), ("Authorization: Bearer wrong\r\n", 401), ("Authorization: Bearer s3cret\r\n", 413)]
    {
        let start = Instant::now();
        let answer = exchange(addr, format!("{head}{auth}\r\n").as_bytes());
        assert_eq!(status(&answer), expected, "{answer}");
        assert!(start.elapsed() < Duration::from_secs(1), "answered at once, not after a deadline");
    }
    // A body that stops coming is cut at its deadline (1 s for the head plus its size at 64 KiB/s).
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    s.write_all(b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer s3cret\r\n").unwrap();
    s.write_all(b"Content-Type: text/csv\r\nContent-Length: 1000\r\n\r\n1,2\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert_eq!(status(&answer), 408, "{answer}");
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(4), "cut after {took:?}");
    // And a whole, authorised body is answered.
    let body = "1,2\n3,4\n";
    let request = format!("{head}Authorization: Bearer s3cret\r\n\r\n").replace("50000000", &body.len().to_string());
    let answer = exchange(addr, format!("{request}{body}").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with(r#"[{"return":3.0},{"return":7.0}]}"#), "{answer}");
}

#[test]
fn an_event_stream_client_that_stops_reading_is_dropped() {
    let dashboard = dashboard(None);
    let state: Arc<Mutex<DashboardState>> = dashboard.state().clone();
    // 1,000 symbols: each overview is ~150 KB, as on a real market.
    let tick =
        |id: u32, sec: i64| Tick::at_price(SymbolId::new(id), Timestamp::from_secs(1_704_205_800 + sec), 100.0, 1.0);
    for id in 0..1000 {
        state.lock().unwrap().on_tick(&format!("SYM{id:04}"), &tick(id, 0), &[]);
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let market = {
        let (state, done) = (state.clone(), done.clone());
        std::thread::spawn(move || {
            for sec in 1.. {
                if done.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                state.lock().unwrap().on_tick("SYM0000", &tick(0, sec), &[]);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut viewer = TcpStream::connect(dashboard.addr()).unwrap();
    viewer.write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut first = [0u8; 4096];
    let n = viewer.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert_eq!(dashboard.server().in_flight(), 1, "the stream is open");
    // The viewer stops reading; the server's writes stall and it lets go.
    let start = Instant::now();
    while dashboard.server().in_flight() > 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "a viewer that stopped reading is still served");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dashboard.server().open_connections(), 0);
    done.store(true, std::sync::atomic::Ordering::Release);
    market.join().unwrap();
    drop(viewer);
}

#[test]
fn a_server_whose_connections_are_all_busy_answers_503_and_so_does_a_stream_too_many() {
    let dashboard_with = |max_connections, max_streams| {
        let options = DashboardOptions {
            http: Limits { max_connections, ..limits(0) },
            update_every: Duration::from_millis(50),
            max_streams,
        };
        Dashboard::serve_with("127.0.0.1:0", None, Arc::default(), options).unwrap()
    };
    let open_stream = |addr: SocketAddr| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut head = [0u8; 256];
        let n = s.read(&mut head).unwrap();
        (s, String::from_utf8_lossy(&head[..n]).into_owned())
    };
    // Two connection slots, both held by open event streams: a newcomer has nothing to evict.
    let full = dashboard_with(2, 8);
    let streams: Vec<_> = (0..2).map(|_| open_stream(full.addr())).collect();
    assert!(streams.iter().all(|(_, head)| head.starts_with("HTTP/1.1 200")));
    let answer = exchange(full.addr(), b"GET /api/overview HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status(&answer), 503, "{answer}");
    assert!(full.server().open_connections() <= 2);
    // One stream allowed: the second is refused, the first keeps flowing.
    let one = dashboard_with(8, 1);
    let (_first, head) = open_stream(one.addr());
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_second, head) = open_stream(one.addr());
    assert!(head.starts_with("HTTP/1.1 503") && head.contains("too many event streams"), "{head}");
}
