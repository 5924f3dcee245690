//! Digest `Authorization` and `WWW-Authenticate` value parsers. Invariant: no panic; every
//! accessor and the parameter iterator are total on whatever parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunkline_sip::digest::{parse_challenge, parse_credentials};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_credentials(data) {
        let _ = c.scheme();
        for v in [
            c.username(),
            c.realm(),
            c.nonce(),
            c.uri(),
            c.response(),
            c.cnonce(),
            c.opaque(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = v.unescape();
        }
        let _ = c.nc().map(|n| (n.as_str(), n.value()));
        let _ = c.userhash();
        let _ = c.algorithm();
        let _ = c.qop();
        let _ = c.require_complete();
        let _ = c.param("username");
        let _ = c.raw_params();
        for p in c.params().flatten() {
            let _ = (
                p.name,
                p.value.raw(),
                p.value.is_quoted(),
                p.value.unescape(),
            );
        }
    }
    if let Ok(c) = parse_challenge(data) {
        let _ = c.scheme();
        for v in [c.realm(), c.domain(), c.nonce(), c.opaque(), c.charset()]
            .into_iter()
            .flatten()
        {
            let _ = v.unescape();
        }
        let _ = c.stale();
        let _ = c.userhash();
        let _ = c.algorithm();
        let _ = c.qop_options().count();
        let _ = c.offers_qop(trunkline_sip::digest::Qop::Auth);
        let _ = c.preferred_qop();
        let _ = c.param("realm");
        let _ = c.raw_params();
        for p in c.params().flatten() {
            let _ = (
                p.name,
                p.value.raw(),
                p.value.is_quoted(),
                p.value.unescape(),
            );
        }
    }
});
