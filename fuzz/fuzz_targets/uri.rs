//! URI, name-addr and Via value parsers on arbitrary bytes. Invariant: no panic, and every
//! accessor on a parsed value is total.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunkline_sip::{Contact, NameAddr, Uri, Via};

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = Uri::parse(data) {
        uri(&u);
    }
    if let Ok(n) = NameAddr::parse(data) {
        let _ = n.tag();
        let _ = n.display_unquoted();
        let _ = n.expires();
        let _ = n.q();
        let _ = n.instance();
        let _ = n.reg_id();
        let _ = n.params.iter().count();
        uri(&n.uri);
    }
    let _ = Contact::parse(data);
    if let Ok(v) = Via::parse(data) {
        let _ = v.branch();
        let _ = v.has_rfc3261_branch();
        let _ = v.received();
        let _ = v.rport();
        let _ = v.maddr();
        let _ = v.host.to_string();
        let _ = v.params.iter().count();
    }
});

fn uri(u: &Uri<'_>) {
    let _ = u.scheme();
    match u {
        Uri::Sip(s) => {
            let _ = s.to_string();
            let _ = s.transport();
            let _ = s.is_loose_router();
            let _ = s.user_unescaped();
            let _ = s.password.map(trunkline_sip::unescape);
            let _ = s.params.iter().count();
            let _ = s.params.get("maddr");
            let _ = s.host.ip();
            let _ = s.host.to_string();
        }
        Uri::Tel(t) => {
            let _ = t.is_global();
            let _ = t.params.iter().count();
        }
        Uri::Absolute(a) => {
            let _ = trunkline_sip::unescape(a.rest);
        }
    }
}
