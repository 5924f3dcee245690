//! Property tests: generated messages survive parse → serialize → parse unchanged, and no
//! byte string makes the parser or validator panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use proptest::prelude::*;
use trunkline_sip::{Editor, HeaderName, Host, Message, Method, RequestBuilder, Uri, check};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z][a-z0-9]{0,6}){0,3}",
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn user() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}(%[0-9A-F]{2})?"
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop::option::of(user()),
        host(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(
            ("[a-z][a-z0-9-]{0,8}", prop::option::of("[a-z0-9]{1,6}")),
            0..3,
        ),
    )
        .prop_map(|(u, h, p, params)| {
            let mut s = String::from("sip:");
            if let Some(u) = u {
                s += &u;
                s.push('@');
            }
            s += &h;
            if let Some(p) = p {
                s += &format!(":{p}");
            }
            for (n, v) in params {
                s.push(';');
                s += &n;
                if let Some(v) = v {
                    s.push('=');
                    s += &v;
                }
            }
            s
        })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("INVITE".to_string()),
        Just("REGISTER".to_string()),
        Just("OPTIONS".to_string()),
        Just("BYE".to_string()),
        "[A-Z]{3,10}",
    ]
}

/// LWS a sender may put around separators, folding included.
fn lws() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("  "), Just("\r\n "), Just("\t")]
}

#[derive(Debug, Clone)]
struct Spec {
    method: String,
    uri: String,
    via_hosts: Vec<(String, u16, String)>,
    from_display: Option<String>,
    from_tag: String,
    call_id: String,
    cseq: u32,
    contact: String,
    sep: &'static str,
    body: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        method(),
        sip_uri(),
        prop::collection::vec((host(), 1u16..65535, "[A-Za-z0-9]{1,10}"), 1..4),
        prop::option::of("[ -!#-\\[\\]-~]{0,12}"),
        token(),
        "[A-Za-z0-9.@_-]{1,24}",
        0u32..=u32::MAX,
        sip_uri(),
        lws(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(
                method,
                uri,
                via_hosts,
                from_display,
                from_tag,
                call_id,
                cseq,
                contact,
                sep,
                body,
            )| {
                Spec {
                    method,
                    uri,
                    via_hosts,
                    from_display,
                    from_tag,
                    call_id,
                    cseq,
                    contact,
                    sep,
                    body,
                }
            },
        )
}

fn build(s: &Spec) -> Vec<u8> {
    let vias: Vec<String> = s
        .via_hosts
        .iter()
        .map(|(h, p, b)| {
            format!(
                "SIP/2.0/UDP {h}:{p}{sep};{sep}branch=z9hG4bK{b}",
                sep = s.sep
            )
        })
        .collect();
    let display = s
        .from_display
        .as_ref()
        .map(|d| format!("\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\"")))
        .unwrap_or_default();
    let method = Method::parse(s.method.as_bytes()).unwrap();
    RequestBuilder::new(method, &s.uri)
        .header("Via", &vias.join(&format!(",{}", s.sep)))
        .header(
            "From",
            &format!("{display}<sip:a@example.test>;tag={}", s.from_tag),
        )
        .header("To", &format!("<{}>", s.uri))
        .header("Call-ID", &s.call_id)
        .header("CSeq", &format!("{}{} {}", s.cseq, s.sep, s.method))
        .header("Contact", &format!("<{}>;expires=60", s.contact))
        .header("Max-Forwards", "70")
        .finish(Some(("application/octet-stream", &s.body)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_serialize_parse(s in spec()) {
        let bytes = build(&s);
        let m = Message::parse(&bytes).unwrap();
        prop_assert_eq!(check(&m), Ok(()));
        // Untouched serialization is byte-exact, and parses to the same values.
        let out = Editor::new(&m).write();
        prop_assert_eq!(&out, &bytes);
        let again = Message::parse(&out).unwrap();
        prop_assert_eq!(again.headers().len(), m.headers().len());
        prop_assert_eq!(again.body(), &s.body[..]);
        prop_assert_eq!(again.method().unwrap().as_str(), s.method.as_str());
        prop_assert_eq!(again.request_line().unwrap().uri, s.uri.as_bytes());
        prop_assert_eq!(again.call_id().unwrap(), s.call_id.as_bytes());
        prop_assert_eq!(again.cseq().unwrap().seq, s.cseq);
        prop_assert_eq!(again.from().unwrap().tag(), Some(s.from_tag.as_bytes()));
        let vias: Vec<_> = again.vias().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(vias.len(), s.via_hosts.len());
        for (v, (h, p, b)) in vias.iter().zip(&s.via_hosts) {
            prop_assert_eq!(v.port, Some(*p));
            prop_assert_eq!(v.host.to_string(), Host::parse(h.as_bytes()).unwrap().to_string());
            let branch = format!("z9hG4bK{b}");
            prop_assert_eq!(v.branch().unwrap(), branch.as_bytes());
        }
        if let Some(d) = &s.from_display {
            let f = again.from().unwrap();
            let shown = f.display_unquoted().unwrap().into_owned();
            prop_assert_eq!(shown, d.as_bytes().to_vec());
        }
        let contact = again.contacts().next().unwrap().unwrap();
        let trunkline_sip::Contact::Addr(c) = contact else { panic!("star") };
        prop_assert_eq!(c.uri_raw, s.contact.as_bytes());
        prop_assert_eq!(c.expires(), Ok(Some(60)));
        prop_assert!(again.header(HeaderName::MaxForwards).is_some());
    }

    #[test]
    fn uris_round_trip_through_display(u in sip_uri()) {
        let parsed = Uri::parse(u.as_bytes()).unwrap();
        let text = parsed.as_sip().unwrap().to_string();
        let again = Uri::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(parsed, again);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = Message::parse(&bytes) {
            let _ = check(&m);
            let _ = Editor::new(&m).write();
        }
        let _ = Message::parse_head(&bytes);
        let _ = Uri::parse(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(s in spec(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = build(&s);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(m) = Message::parse(&bytes) {
            let _ = check(&m);
            prop_assert_eq!(Editor::new(&m).write(), m.raw());
        }
    }
}
