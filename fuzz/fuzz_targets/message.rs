//! The message parser on a datagram: framing, every typed accessor, the well-formedness check,
//! multipart bodies and the byte-exact serializer.
//!
//! Invariants: nothing panics; an untouched [`Editor`] writes back exactly [`Message::raw`],
//! and those bytes parse again to the same start line and header lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunkline_sip::{Contact, Editor, HeaderName, Message, NameAddr, Uri, Via};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        exercise(&m);
        assert_round_trip(&m, false);
    }
    if let Ok(m) = Message::parse_stream(data) {
        exercise(&m);
        assert_round_trip(&m, true);
    }
    // The lenient head parse only feeds error responses; it must not panic, nothing more.
    if let Ok(m) = Message::parse_head(data) {
        exercise(&m);
        let _ = Editor::new(&m).write();
    }
});

/// Untouched serialization is byte-exact (what a proxy relies on to forward signed or odd but
/// valid formatting), and its output is the same message again.
fn assert_round_trip(m: &Message<'_>, stream: bool) {
    let out = Editor::new(m).write();
    assert!(
        out.as_slice() == m.raw(),
        "untouched Editor::write differs from Message::raw\n written: \"{}\"\n raw:     \"{}\"",
        out.escape_ascii(),
        m.raw().escape_ascii(),
    );
    let parsed = if stream {
        Message::parse_stream(&out)
    } else {
        Message::parse(&out)
    };
    let again = match parsed {
        Ok(again) => again,
        Err(e) => panic!("untouched Editor::write output does not parse again: {e}"),
    };
    assert_eq!(again.start_line_raw(), m.start_line_raw());
    assert_eq!(again.start_line(), m.start_line());
    assert_eq!(again.headers().len(), m.headers().len());
    for (a, b) in again.headers().iter().zip(m.headers()) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.value, b.value);
    }
    assert_eq!(again.body(), m.body());
}

/// Calls every typed accessor and walks every iterator; results are ignored, only panics,
/// overflows and sanitizer reports count.
fn exercise(m: &Message<'_>) {
    let _ = trunkline_sip::check(m).map_err(|d| d.to_string());
    let _ = m.is_request();
    let _ = m.method().map(|x| x.as_str().len());
    if let Some(rl) = m.request_line() {
        uri(rl.uri);
    }
    let _ = m.status_line();
    for h in m.headers() {
        let _ = m.header_line(h);
        let _ = h.name.as_str();
        let _ = h.name.is_list();
        for v in m.values(h.name) {
            let _ = v;
        }
        let _ = m.single(h.name);
    }
    let _ = m.headers_raw_named("X-Unknown").count();
    for v in m.vias().flatten() {
        via(&v);
    }
    let _ = m.top_via();
    if let Ok(n) = m.from() {
        name_addr(&n);
    }
    if let Ok(n) = m.to() {
        name_addr(&n);
    }
    let _ = m.call_id();
    let _ = m.cseq().map(|c| c.method.as_str().len());
    let _ = m.max_forwards();
    let _ = m.expires();
    let _ = m.content_length();
    for c in m.contacts().flatten() {
        if let Contact::Addr(n) = c {
            name_addr(&n);
        }
    }
    for name in [HeaderName::Route, HeaderName::RecordRoute, HeaderName::Path] {
        for n in m.name_addrs(name).flatten() {
            name_addr(&n);
        }
    }
    for name in [
        HeaderName::Require,
        HeaderName::ProxyRequire,
        HeaderName::Supported,
        HeaderName::Unsupported,
    ] {
        let _ = m.option_tags(name).count();
    }
    if let Ok(Some(ct)) = m.content_type() {
        let _ = ct.params.iter().count();
        if ct.top.eq_ignore_ascii_case("multipart")
            && let Ok(parts) = trunkline_sip::multipart::parts(&ct, m.body())
        {
            for p in parts {
                let _ = p.header("Content-Type");
                let _ = p.body.len();
            }
        }
    }
    for name in [HeaderName::Authorization, HeaderName::ProxyAuthorization] {
        for h in m.headers_named(name) {
            let _ = trunkline_sip::digest::parse_credentials(h.value).map(|c| c.params().count());
        }
    }
    for name in [HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate] {
        for h in m.headers_named(name) {
            let _ = trunkline_sip::digest::parse_challenge(h.value).map(|c| c.params().count());
        }
    }
    let _ = m.body();
}

fn via(v: &Via<'_>) {
    let _ = v.branch();
    let _ = v.has_rfc3261_branch();
    let _ = v.received();
    let _ = v.rport();
    let _ = v.maddr();
    let _ = v.host.to_string();
    let _ = v.params.iter().count();
}

fn name_addr(n: &NameAddr<'_>) {
    let _ = n.tag();
    let _ = n.display_unquoted();
    let _ = n.expires();
    let _ = n.q();
    let _ = n.instance();
    let _ = n.reg_id();
    let _ = n.params.iter().count();
    uri_parsed(&n.uri);
}

fn uri(raw: &[u8]) {
    if let Ok(u) = Uri::parse(raw) {
        uri_parsed(&u);
    }
}

fn uri_parsed(u: &Uri<'_>) {
    let _ = u.scheme();
    match u {
        Uri::Sip(s) => {
            let _ = s.to_string();
            let _ = s.transport();
            let _ = s.is_loose_router();
            let _ = s.user_unescaped();
            let _ = s.params.iter().count();
            let _ = s.host.ip();
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
