//! `trunkline config show`: the effective configuration written back as TOML.

use std::fmt::Write as _;

use trunkline_server::Config;
use trunkline_server::config::TlsConfig;

/// Renders `config` as a TOML document that loads back to the same `Config`.
pub fn to_toml(config: &Config) -> String {
    let list = |items: &mut dyn Iterator<Item = String>| {
        let quoted: Vec<String> = items.map(|s| quote(&s)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let sip = &config.sip;
    let (reg, guard) = (&config.registrar, &config.guard);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "[sip]\n\
         listen = {}\n\
         aliases = {}\n\
         max_message_size = {}\n\
         server_header = {}\n\
         tcp_idle_timeout_secs = {}\n\
         udp_shards = {}\n\
         shards = {}\n\
         overload_wait_ms = {}\n\
         udp_batch = {}\n\
         max_connections = {}\n\
         max_connections_per_ip = {}\n\
         \n\
         [sip.tls]\n\
         {}\
         handshake_timeout_secs = {}\n\
         \n\
         [registrar]\n\
         min_expires = {}\n\
         max_expires = {}\n\
         default_expires = {}\n\
         max_contacts = {}\n\
         nonce_ttl_secs = {}\n\
         sync_interval_ms = {}\n\
         digest_algorithms = {}\n\
         flow_timer_secs = {}\n\
         allow_private_contacts = {}\n\
         \n\
         [guard]\n\
         trusted = {}\n\
         register_rate = {}\n\
         register_burst = {}\n\
         invite_rate = {}\n\
         invite_burst = {}\n\
         other_rate = {}\n\
         other_burst = {}\n\
         flood_ban_secs = {}\n\
         auth_failures = {}\n\
         auth_window_secs = {}\n\
         auth_ban_secs = {}\n\
         scanner_user_agents = {}\n\
         overload_retry_after_secs = {}\n\
         \n\
         [proxy]\n\
         ring_timeout_secs = {}\n\
         max_call_secs = {}\n\
         follow_redirects = {}\n\
         advertise = {}\n\
         nat_ping_interval_secs = {}\n\
         nat_ping_method = {}\n\
         nat_ping_all_udp = {}\n\
         relay_customers = [{}]\n\
         \n\
         [media]\n\
         mode = {}\n\
         address = {}\n\
         bridge_address = {}\n\
         port_min = {}\n\
         port_max = {}\n\
         ng_listen = {}\n\
         timeout_secs = {}\n\
         threads = {}\n\
         kernel = {}\n\
         nodes = {}\n\
         \n\
         [http]\n\
         listen = {}\n\
         \n\
         [data]\n\
         dir = {}\n\
         database_url = {}\n\
         secret_key_file = {}\n\
         \n\
         [log]\n\
         level = {}\n\
         format = {}\n",
        list(&mut sip.listen.iter().map(ToString::to_string)),
        list(&mut sip.aliases.iter().cloned()),
        sip.max_message_size,
        quote(&sip.server_header),
        sip.tcp_idle_timeout_secs,
        sip.udp_shards,
        sip.shards,
        sip.overload_wait_ms,
        sip.udp_batch,
        sip.max_connections,
        sip.max_connections_per_ip,
        tls_paths(&sip.tls),
        sip.tls.handshake_timeout_secs,
        reg.min_expires,
        reg.max_expires,
        reg.default_expires,
        reg.max_contacts,
        reg.nonce_ttl_secs,
        reg.sync_interval_ms,
        list(&mut reg.digest_algorithms.iter().cloned()),
        reg.flow_timer_secs,
        reg.allow_private_contacts,
        list(&mut guard.trusted.iter().cloned()),
        guard.register_rate,
        guard.register_burst,
        guard.invite_rate,
        guard.invite_burst,
        guard.other_rate,
        guard.other_burst,
        guard.flood_ban_secs,
        guard.auth_failures,
        guard.auth_window_secs,
        guard.auth_ban_secs,
        list(&mut guard.scanner_user_agents.iter().cloned()),
        guard.overload_retry_after_secs,
        config.proxy.ring_timeout_secs,
        config.proxy.max_call_secs,
        config.proxy.follow_redirects,
        quote(&config.proxy.advertise),
        config.proxy.nat_ping_interval_secs,
        quote(config.proxy.nat_ping_method.as_str()),
        config.proxy.nat_ping_all_udp,
        (config.proxy.relay_customers.iter())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        quote(config.media.mode.as_str()),
        quote(&config.media.address),
        quote(&config.media.bridge_address),
        config.media.port_min,
        config.media.port_max,
        quote(&config.media.ng_listen),
        config.media.timeout_secs,
        config.media.threads,
        config.media.kernel,
        list(&mut config.media.nodes.iter().cloned()),
        quote(&config.http.listen.to_string()),
        quote(&config.data.dir.to_string_lossy()),
        quote(&config.data.database_url),
        quote(&config.data.secret_key_file.to_string_lossy()),
        quote(&config.log.level),
        quote(config.log.format.as_str()),
    );
    out
}

/// The `[sip.tls]` file keys that are set, one `key = "path"` line each; unset ones are left
/// out, as TOML has no null.
fn tls_paths(tls: &TlsConfig) -> String {
    let mut out = String::new();
    for (key, path) in [
        ("cert", &tls.cert),
        ("key", &tls.key),
        ("client_ca", &tls.client_ca),
    ] {
        if let Some(path) = path {
            let _ = writeln!(out, "{key} = {}", quote(&path.to_string_lossy()));
        }
    }
    out
}

/// A TOML basic string (TOML 1.0 section "String"): escapes `"`, `\` and control characters.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Overrides, load_from};
    use figment::Figment;
    use figment::providers::{Format, Toml};
    use trunkline_server::config::{
        DataConfig, GuardConfig, HttpConfig, LogConfig, LogFormat, ProxyConfig, RegistrarConfig,
        SipConfig, TlsConfig,
    };

    fn round_trip(config: &Config) -> Config {
        let toml = to_toml(config);
        load_from(&Figment::from(Toml::string(&toml)), &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}\n{toml}"))
    }

    #[test]
    fn default_round_trips() {
        assert_eq!(round_trip(&Config::default()), Config::default());
    }

    #[test]
    fn every_field_round_trips() {
        // A struct literal, so a new field fails to compile here until `to_toml` is taught it.
        let config = Config {
            sip: SipConfig {
                listen: vec![
                    "udp:[::1]:5070".parse().unwrap(),
                    "tcp:127.0.0.1:5071".parse().unwrap(),
                ],
                aliases: vec!["sip.example.com".into(), "203.0.113.9".into()],
                max_message_size: 4096,
                server_header: "Trunk \"line\" \\ é".into(),
                tcp_idle_timeout_secs: 30,
                udp_shards: 0,
                shards: 3,
                overload_wait_ms: 250,
                udp_batch: false,
                max_connections: 500,
                max_connections_per_ip: 7,
                tls: TlsConfig {
                    cert: Some("/etc/trunkline/tls/fullchain.pem".into()),
                    key: Some("/etc/trunkline/tls/privkey.pem".into()),
                    client_ca: Some("/etc/trunkline/tls/carrier \"ca\".pem".into()),
                    handshake_timeout_secs: 5,
                },
            },
            registrar: RegistrarConfig {
                min_expires: 30,
                max_expires: 7200,
                default_expires: 600,
                max_contacts: 3,
                nonce_ttl_secs: 60,
                sync_interval_ms: 50,
                digest_algorithms: vec!["SHA-256".into()],
                flow_timer_secs: 25,
                allow_private_contacts: true,
            },
            guard: GuardConfig {
                trusted: vec!["192.0.2.0/24".into(), "2001:db8::1".into()],
                register_rate: 1,
                register_burst: 2,
                invite_rate: 3,
                invite_burst: 4,
                other_rate: 5,
                other_burst: 6,
                flood_ban_secs: 7,
                auth_failures: 8,
                auth_window_secs: 9,
                auth_ban_secs: 10,
                scanner_user_agents: vec!["evil \"scan\"".into()],
                overload_retry_after_secs: 11,
            },
            proxy: ProxyConfig {
                ring_timeout_secs: 12,
                max_call_secs: 600,
                follow_redirects: true,
                advertise: "192.0.2.9".into(),
                nat_ping_interval_secs: 13,
                nat_ping_method: trunkline_server::config::NatPing::Crlf,
                nat_ping_all_udp: true,
                relay_customers: vec![11, 42],
            },
            media: trunkline_server::config::MediaConfig {
                mode: trunkline_server::config::MediaMode::Always,
                address: "192.0.2.10".into(),
                bridge_address: "2001:db8::10".into(),
                port_min: 20000,
                port_max: 20999,
                ng_listen: "127.0.0.1:2223".into(),
                timeout_secs: 90,
                threads: 2,
                kernel: false,
                nodes: vec!["10.0.0.5:2223".into()],
            },
            http: HttpConfig {
                listen: "[::1]:9090".parse().unwrap(),
            },
            data: DataConfig {
                dir: "/var/lib/trunk line".into(),
                database_url: "postgres://trunkline@db.example.net/trunk\"line".into(),
                secret_key_file: "/etc/trunkline/secret key".into(),
            },
            log: LogConfig {
                level: "warn,trunkline_sip=debug".into(),
                format: LogFormat::Compact,
            },
        };
        assert_eq!(round_trip(&config), config);
    }

    #[test]
    fn quotes_control_characters() {
        assert_eq!(quote("a\u{1}b\n"), "\"a\\u0001b\\n\"");
    }
}
