//! Parser throughput on the messages a carrier sees most: an INVITE with SDP and a REGISTER
//! with digest credentials, parse only and parse plus typed access to the headers a proxy
//! and registrar read. Run with `cargo bench -p trunkline-sip`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code may panic

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use trunkline_sip::{Contact, Message};

/// A typical INVITE from a desk phone through one proxy: two Vias, Record-Route, SDP offer.
const INVITE: &[u8] = b"INVITE sip:+4930123456@carrier.example.net;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---6b0b4d0ff7a0c2e8;rport\r\n\
Via: SIP/2.0/UDP 10.0.0.23:5062;received=198.51.100.7;rport=5062;branch=z9hG4bK-d8754z-9f8e7a6b5c4d\r\n\
Max-Forwards: 69\r\n\
Record-Route: <sip:192.0.2.10;lr;ftag=as4f2a1b9c>\r\n\
Contact: <sip:1001@198.51.100.7:5062;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000b82a1b2c3>\"\r\n\
To: <sip:+4930123456@carrier.example.net;user=phone>\r\n\
From: \"Alice Example\" <sip:1001@pbx.example.com>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@10.0.0.23\r\n\
CSeq: 102 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE, PRACK\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
Session-Expires: 1800\r\n\
P-Asserted-Identity: \"Alice Example\" <sip:+4930999001@pbx.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 424\r\n\
\r\n\
v=0\r\n\
o=- 20518 0 IN IP4 198.51.100.7\r\n\
s=SDP data\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 11780 RTP/AVP 0 8 9 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp:11781 IN IP4 198.51.100.7\r\n\
a=ssrc:1193046 cname:a1b2c3d4e5f6@198.51.100.7\r\n\
a=maxptime:150\r\n\
a=label:main-audio-stream-1\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";

/// A REGISTER answering a digest challenge.
const REGISTER: &[u8] = b"REGISTER sip:pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.23:5062;branch=z9hG4bK-d8754z-1f2e3d4c5b6a;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@10.0.0.23:5062;rinstance=6d8f1b2c3a4e5f60>;expires=3600\r\n\
To: <sip:1001@pbx.example.com>\r\n\
From: <sip:1001@pbx.example.com>;tag=7a3c5e91\r\n\
Call-ID: MjAxOGQ5ZjE3NzBmYjQ2NTk1Nzc1OGE0\r\n\
CSeq: 2 REGISTER\r\n\
User-Agent: Zoiper rv2.10.19.6\r\n\
Authorization: Digest username=\"1001\",realm=\"pbx.example.com\",nonce=\"Y2hhbGxlbmdlLW5vbmNlLTE3MDAwMDAwMDA\",uri=\"sip:pbx.example.com\",response=\"6629fae49393a05397450978507c4ef1\",cnonce=\"0a4f113b\",nc=00000001,qop=auth,algorithm=MD5\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

/// Reads what a proxy or registrar reads of every message.
fn typed(m: &Message<'_>) -> usize {
    let via = m.top_via().unwrap();
    let from = m.from().unwrap();
    let to = m.to().unwrap();
    let call_id = m.call_id().unwrap();
    let cseq = m.cseq().unwrap();
    let mut n = via.branch().map_or(0, <[u8]>::len) + call_id.len() + cseq.seq as usize;
    n += from.tag().map_or(0, <[u8]>::len) + to.uri_raw.len();
    for c in m.contacts() {
        if let Ok(Contact::Addr(a)) = c {
            n += a.uri_raw.len();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    eprintln!("INVITE fixture: {} bytes", INVITE.len());
    let mut g = c.benchmark_group("parse");
    for (name, msg) in [("invite_sdp_1306B", INVITE), ("register_auth", REGISTER)] {
        Message::parse(msg).unwrap();
        g.bench_function(format!("{name}/frame"), |b| {
            b.iter(|| Message::parse(black_box(msg)).unwrap().headers().len())
        });
        g.bench_function(format!("{name}/frame+typed"), |b| {
            b.iter(|| typed(&Message::parse(black_box(msg)).unwrap()))
        });
    }
    g.bench_function("register_auth/frame+typed+credentials", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(REGISTER)).unwrap();
            let auth = m.header(trunkline_sip::HeaderName::Authorization).unwrap();
            let creds = trunkline_sip::digest::parse_credentials(auth.value).unwrap();
            typed(&m) + creds.username().map_or(0, |u| u.raw().len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
