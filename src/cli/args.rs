//! The flags every command shares ([`GlobalArgs`]) and the value parsers commands use
//! ([`parse_endpoint`], [`parse_duration`]). A leaf: the commands and the UI import it, it
//! imports none of them.

use std::path::PathBuf;

use clap::Args;

/// Flags shared by every command.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Stack file [default: chatstack.yml, then serverless.yml]
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Stage name, used in `${stage}` and in resource tags
    #[arg(long, global = true, default_value = "dev", value_name = "NAME")]
    pub stage: String,

    /// Send every API 3.0 and COS request to this base URL (the local cloud)
    #[arg(long, global = true, env = "CHATSTACK_ENDPOINT", value_name = "URL",
          value_parser = parse_endpoint)]
    pub endpoint: Option<url::Url>,

    /// Print one JSON document on stdout and nothing else there
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more (repeat for debug logs)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Parses `--endpoint`: an `http://` or `https://` URL; a bare `HOST:PORT` gets told to add
/// the scheme instead of a URL parser's "relative URL without a base".
pub fn parse_endpoint(s: &str) -> Result<url::Url, String> {
    let bare = !s.contains("://");
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ if bare => Err(format!(
            "`{s}` has no scheme: write `http://{s}` (the local cloud speaks plain HTTP)"
        )),
        Ok(u) => Err(format!(
            "`{s}`: the endpoint must be an http:// or https:// URL with a host, not {}:",
            u.scheme()
        )),
        Err(e) => Err(format!(
            "`{s}` is not a URL ({e}): write e.g. http://127.0.0.1:9000"
        )),
    }
}

/// Parses `90s`, `10m`, `1h`, `1h30m` or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let err = || format!("`{s}` is not a duration: write e.g. 90s, 10m or 1h30m");
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(err()),
        };
    }
    if !num.is_empty() || total == 0 {
        return Err(err());
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn endpoints_need_a_scheme_and_say_so() {
        use super::parse_endpoint;
        assert_eq!(
            parse_endpoint("http://127.0.0.1:9000").unwrap().as_str(),
            "http://127.0.0.1:9000/"
        );
        assert!(parse_endpoint("https://scf.tencentcloudapi.com").is_ok());
        for (bad, says) in [
            ("127.0.0.1:9", "write `http://127.0.0.1:9`"),
            ("localhost:9000", "write `http://localhost:9000`"),
            ("ftp://x", "http:// or https://"),
            ("http://", "not a URL"),
        ] {
            let e = parse_endpoint(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "m", "10x", "1h3", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
