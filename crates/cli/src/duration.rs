//! Durations on the command line: `90s`, `15m`, `6h30m`, `2d`.

/// Parses a wall-clock interval: `500ms`, or anything [`parse_secs`] takes.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    if let Some(ms) = text.trim().strip_suffix("ms") {
        return match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms)),
            _ => Err(format!("invalid duration {text:?}: use a positive number of ms, like 500ms")),
        };
    }
    parse_secs(text).map(|s| std::time::Duration::from_secs(s as u64))
}

/// Parses a duration into whole seconds (the syntax of [`tickloop_core::Span`]).
pub fn parse_secs(text: &str) -> Result<i64, String> {
    text.parse::<tickloop_core::Span>().map(|s| i64::from(s.as_secs())).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_secs;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_secs("6h30m"), Ok(23_400));
        assert_eq!(parse_secs("2d"), Ok(172_800));
        assert_eq!(parse_secs("90s"), Ok(90));
        for bad in ["", "10", "h", "5x", "0s", "1h 5"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
