//! Just enough HTTP/1.1 for our two servers (dashboard, model server): one request per
//! connection, bounded headers and body, a read timeout, `Expect: 100-continue`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Longest request line or header line accepted.
const MAX_LINE: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization").and_then(|v| v.strip_prefix("Bearer "))
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

/// Why no request could be read; each maps to the status the client gets, if any.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed or timed out before a whole request line: nothing to answer.
    Gone,
    /// 400, with the reason.
    Malformed(&'static str),
    /// 413: the declared body is over the limit (it is not read).
    TooLarge { limit: usize },
}

fn read_line(reader: &mut impl BufRead) -> Result<String, ReadError> {
    let mut line = Vec::new();
    let n = reader.take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).map_err(|_| ReadError::Gone)?;
    if n == 0 {
        return Err(ReadError::Gone);
    }
    if n > MAX_LINE {
        return Err(ReadError::Malformed("header line too long"));
    }
    String::from_utf8(line).map(|l| l.trim_end().to_owned()).map_err(|_| ReadError::Malformed("header is not UTF-8"))
}

/// Reads one request with a body of at most `max_body` bytes; the whole read must finish
/// within `timeout` per socket read (slow clients are dropped).
pub(crate) fn read_request(stream: &mut TcpStream, max_body: usize, timeout: Duration) -> Result<Request, ReadError> {
    let _ = stream.set_read_timeout(Some(timeout));
    let mut reader = BufReader::new(stream.try_clone().map_err(|_| ReadError::Gone)?);
    let line = read_line(&mut reader)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(ReadError::Malformed("bad request line"));
    };
    let mut headers = Vec::new();
    loop {
        let header = read_line(&mut reader)?;
        if header.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ReadError::Malformed("too many headers"));
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(ReadError::Malformed("bad header line"));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Malformed("chunked bodies are not supported: send Content-Length"));
    }
    let length = match request.header("content-length") {
        Some(v) => v.parse::<usize>().map_err(|_| ReadError::Malformed("bad Content-Length"))?,
        None => 0,
    };
    if length > max_body {
        return Err(ReadError::TooLarge { limit: max_body });
    }
    if length > 0 {
        if request.header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        request.body = vec![0; length];
        reader.read_exact(&mut request.body).map_err(|_| ReadError::Malformed("body shorter than Content-Length"))?;
    }
    Ok(request)
}

pub(crate) fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
}

/// Answers a failed read (nothing for a client that went away).
pub(crate) fn respond_read_error(stream: &mut TcpStream, error: &ReadError) {
    match error {
        ReadError::Gone => {}
        ReadError::Malformed(why) => respond(stream, "400 Bad Request", "text/plain", format!("{why}\n").as_bytes()),
        ReadError::TooLarge { limit } => {
            respond(
                stream,
                "413 Payload Too Large",
                "text/plain",
                format!("request body over the {limit}-byte limit\n").as_bytes(),
            );
            // Closing with unread input makes the kernel send a reset, which can destroy the
            // answer before the client reads it: discard what the client is still sending,
            // bounded in bytes and time.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = std::io::copy(&mut Read::take(&mut *stream, 64 * 1024 * 1024), &mut std::io::sink());
        }
    }
}
