//! This server's own host names, which no tenant may claim as a SIP domain: a request addressed
//! to the server by one of them would otherwise reach that tenant's users from every tenant
//! (issue 19, finding 1). IP literals and `localhost` are refused by the store for every
//! domain, so only names are collected here.

use std::net::IpAddr;

use trunkline_server::Config;

/// The names in `sip.aliases`, `proxy.advertise` and `media.address` that are not IP
/// addresses, and this host's name (`uname -n`), lower-cased, without a trailing dot.
pub fn reserved_domains(config: &Config) -> Vec<String> {
    let nodename = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let candidates = (config.sip.aliases.iter()).chain([
        &config.proxy.advertise,
        &config.media.address,
        &nodename,
    ]);
    let mut out: Vec<String> = Vec::new();
    for name in candidates {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        if name.is_empty() || bare.parse::<IpAddr>().is_ok() || out.contains(&name) {
            continue;
        }
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_not_addresses() {
        let mut config = Config::default();
        config.sip.aliases = vec!["SIP.Provider.example.".into(), "203.0.113.5".into()];
        config.proxy.advertise = "198.51.100.1".into();
        config.media.address = "[2001:db8::1]".into();
        let names = reserved_domains(&config);
        assert_eq!(names[0], "sip.provider.example");
        assert!(names.iter().all(|n| n.parse::<IpAddr>().is_err()));
        assert!(!names.iter().any(|n| n.contains("2001")));
    }
}
