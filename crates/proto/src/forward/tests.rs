use super::*;
use trunkline_sip::Host;

fn ours(u: &SipUri<'_>) -> bool {
    u.host == Host::Domain("proxy.test") || u.host.ip() == "10.0.0.9".parse().ok()
}

fn parse(s: &str) -> Message<'_> {
    Message::parse(s.as_bytes()).unwrap()
}

const BYE: &str = "BYE sip:callee@10.0.0.2:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n\
Route: <sip:proxy.test;lr>, <sip:10.0.0.9;transport=tcp;lr>\r\n\
Route: <sip:next.test;lr>\r\n\
Max-Forwards: 10\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";

#[test]
fn double_record_route_is_removed_and_the_rest_kept() {
    let msg = parse(BYE);
    let p = preprocess(&msg, ours);
    assert_eq!(p.drop_routes, 2);
    assert!(p.route_left && p.request_uri.is_none());
    let out = request(
        &msg,
        &Forward {
            via: "SIP/2.0/TCP 10.0.0.9;branch=z9hG4bKb",
            drop_routes: p.drop_routes,
            ..Forward::default()
        },
    );
    let fwd = Message::parse(&out).unwrap();
    let routes: Vec<_> = routes(&fwd).iter().map(|r| r.uri_raw.to_vec()).collect();
    assert_eq!(routes, [b"sip:next.test;lr".to_vec()]);
    assert_eq!(fwd.max_forwards().unwrap(), Some(9));
    assert_eq!(fwd.vias().count(), 2);
    assert_eq!(fwd.top_via().unwrap().branch(), Some(&b"z9hG4bKb"[..]));
}

#[test]
fn strict_router_upstream_gives_back_the_request_uri() {
    let msg = parse(
        "BYE sip:proxy.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n\
Route: <sip:other.test;lr>, <sip:callee@10.0.0.2>\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
    );
    let p = preprocess(&msg, ours);
    assert_eq!(p.request_uri.as_deref(), Some("sip:callee@10.0.0.2"));
    assert!(p.drop_last_route && p.route_left && p.drop_routes == 0);
    let uri = p.request_uri.clone().unwrap();
    let out = request(
        &msg,
        &Forward {
            request_uri: Some(uri.as_bytes()),
            via: "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb",
            drop_last_route: true,
            ..Forward::default()
        },
    );
    let fwd = Message::parse(&out).unwrap();
    assert_eq!(fwd.request_line().unwrap().uri, b"sip:callee@10.0.0.2");
    assert_eq!(routes(&fwd).len(), 1);
    assert_eq!(fwd.max_forwards().unwrap(), Some(DEFAULT_MAX_FORWARDS));
}

#[test]
fn record_route_path_and_header_edits() {
    let msg = parse(
        "INVITE sip:b@proxy.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n\
P-Asserted-Identity: <sip:spoof@x>\r\nMax-Forwards: 70\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    );
    let rr = [
        "<sip:10.0.0.9;transport=tcp;lr>".to_owned(),
        "<sip:10.0.0.9;lr>".to_owned(),
    ];
    let path = ["<sip:edge.test;lr>".to_owned()];
    let add = [("P-Asserted-Identity", "<sip:a@x>".to_owned())];
    let out = request(
        &msg,
        &Forward {
            request_uri: Some(b"sip:b@10.0.0.2:5080"),
            via: "SIP/2.0/TCP 10.0.0.9;branch=z9hG4bKb",
            record_route: &rr,
            prepend_routes: &path,
            remove: &[HeaderName::PAssertedIdentity],
            add: &add,
            ..Forward::default()
        },
    );
    let fwd = Message::parse(&out).unwrap();
    let rrs: Vec<_> = (fwd.name_addrs(HeaderName::RecordRoute).flatten())
        .map(|r| r.uri_raw.to_vec())
        .collect();
    assert_eq!(
        rrs,
        [
            b"sip:10.0.0.9;transport=tcp;lr".to_vec(),
            b"sip:10.0.0.9;lr".to_vec()
        ]
    );
    assert_eq!(routes(&fwd)[0].uri_raw, b"sip:edge.test;lr");
    let pai: Vec<_> = fwd.headers_named(HeaderName::PAssertedIdentity).collect();
    assert_eq!(pai.len(), 1);
    assert_eq!(pai[0].value, b"<sip:a@x>");
    assert_eq!(fwd.max_forwards().unwrap(), Some(69));
    assert!(trunkline_sip::check(&fwd).is_ok());
}

#[test]
fn response_loses_our_via_and_can_be_reworded() {
    let resp = parse(
        "SIP/2.0 503 Busy\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    );
    let extra = [(
        HeaderName::ProxyAuthenticate,
        "Digest realm=\"r\"".to_owned(),
    )];
    let out = response(
        &resp,
        Some((500, "Server Internal Error")),
        &extra,
        &[],
        None,
    )
    .unwrap();
    let up = Message::parse(&out).unwrap();
    assert_eq!(up.status_line().unwrap().code, 500);
    assert_eq!(up.vias().count(), 1);
    assert_eq!(up.top_via().unwrap().branch(), Some(&b"z9hG4bKa"[..]));
    assert!(up.header(HeaderName::ProxyAuthenticate).is_some());

    let only_ours = parse(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(response(&only_ours, None, &[], &[], None).is_none());
}

#[test]
fn cancel_matches_the_forwarded_invite() {
    let inv = parse(
        "INVITE sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nRoute: <sip:edge.test;lr>\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 7 INVITE\r\n\
Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0",
    );
    let out = cancel(&inv).unwrap();
    let c = Message::parse(&out).unwrap();
    assert_eq!(c.request_line().unwrap().uri, b"sip:b@10.0.0.2");
    assert_eq!(c.vias().count(), 1);
    assert_eq!(c.top_via().unwrap().branch(), Some(&b"z9hG4bKb"[..]));
    assert_eq!(c.cseq().unwrap().seq, 7);
    assert_eq!(routes(&c).len(), 1);
    assert!(c.body().is_empty());
    assert!(trunkline_sip::check(&c).is_ok());
}
