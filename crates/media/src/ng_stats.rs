//! What a `query` or `delete` reply says about a call, in rtpengine's format so that
//! Kamailio's and OpenSIPS's rtpengine modules read it: `totals` (packets, bytes and errors
//! of RTP and RTCP: Kamailio's `$rtpstat`), `created`, `SSRC` (each stream's `average MOS`
//! with its packet loss, jitter and round trip: Kamailio's `mos_*` pseudo-variables) and
//! `tags` (which SSRC each party sends and the `label` it was given, for the `mos_A_*` and
//! `mos_B_*` ones), plus Trunkline's figures per party in `totals`.

use std::collections::BTreeMap;

use crate::LegQos;
use crate::bencode::Value;

type Dict = BTreeMap<Vec<u8>, Value>;

/// A call's parties as its offers and answers named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parties {
    /// The caller's tag (the first offer's `from-tag`) and the callee's (the answer's
    /// `to-tag`), once known.
    pub tags: [Option<String>; 2],
    /// The `label` each was given in its offer or answer.
    pub labels: [Option<String>; 2],
    /// When the call was created, in seconds since the Unix epoch.
    pub created: u64,
}

impl Parties {
    pub fn new(caller_tag: &str, created: u64) -> Parties {
        Parties {
            tags: [Some(caller_tag.to_owned()), None],
            labels: [None, None],
            created,
        }
    }
}

fn int(n: impl TryInto<i64>) -> Value {
    Value::Int(n.try_into().unwrap_or(i64::MAX))
}

fn put(d: &mut Dict, key: &str, v: Value) {
    d.insert(key.as_bytes().to_vec(), v);
}

/// The entries of a `query` or `delete` reply for a call with figures `q` ([caller, callee])
/// and `parties`, at `now` (seconds since the Unix epoch).
pub(crate) fn stats(q: &[LegQos; 2], parties: Option<&Parties>, now: u64) -> Dict {
    let mut d = Dict::new();
    put(&mut d, "totals", totals(q));
    let Some(parties) = parties else {
        return d;
    };
    put(&mut d, "created", int(parties.created));
    let mut ssrcs = Dict::new();
    let mut tags = Dict::new();
    for (i, leg) in q.iter().enumerate() {
        let Some(ssrc) = leg.ssrc.filter(|_| leg.received.packets > 0) else {
            continue;
        };
        let mut mos = Dict::new();
        put(&mut mos, "MOS", int((leg.mos * 10.0).round() as i64));
        put(&mut mos, "reported at", int(now));
        let loss = (leg.received.loss_fraction * 100.0).round() as i64;
        put(&mut mos, "packet loss", int(loss));
        put(&mut mos, "jitter", int(leg.received.jitter.as_millis()));
        let rtt = leg
            .peer_report
            .and_then(|r| r.rtt)
            .map_or(0, |r| r.as_micros());
        put(&mut mos, "round-trip time", int(rtt));
        put(&mut mos, "samples", int(1));
        let mut entry = Dict::new();
        put(&mut entry, "average MOS", Value::Dict(mos));
        ssrcs.insert(ssrc.to_string().into_bytes(), Value::Dict(entry));

        let Some(tag) = &parties.tags[i] else {
            continue;
        };
        let mut stream = Dict::new();
        put(&mut stream, "SSRC", int(ssrc));
        let mut media = Dict::new();
        put(
            &mut media,
            "streams",
            Value::List(vec![Value::Dict(stream)]),
        );
        let mut party = Dict::new();
        put(&mut party, "tag", Value::str(tag));
        if let Some(label) = &parties.labels[i] {
            put(&mut party, "label", Value::str(label));
        }
        put(&mut party, "medias", Value::List(vec![Value::Dict(media)]));
        tags.insert(tag.as_bytes().to_vec(), Value::Dict(party));
    }
    put(&mut d, "SSRC", Value::Dict(ssrcs));
    put(&mut d, "tags", Value::Dict(tags));
    d
}

/// rtpengine's totals (`RTP`, `RTCP`: packets, bytes, errors of both parties) and ours per
/// party (packets, bytes, errors, lost, jitter in µs, MOS × 10, in the kernel or not).
fn totals(q: &[LegQos; 2]) -> Value {
    let sum = |packets: u64, bytes: u64, errors: u64| {
        let mut d = Dict::new();
        d.insert(b"packets".to_vec(), Value::Int(packets as i64));
        d.insert(b"bytes".to_vec(), Value::Int(bytes as i64));
        d.insert(b"errors".to_vec(), Value::Int(errors as i64));
        Value::Dict(d)
    };
    let rtp = sum(
        q[0].received.packets + q[1].received.packets,
        q[0].received.bytes + q[1].received.bytes,
        q[0].dropped + q[1].dropped,
    );
    let rtcp = sum(q[0].rtcp.0 + q[1].rtcp.0, q[0].rtcp.1 + q[1].rtcp.1, 0);
    let leg = |l: &LegQos| {
        let mut d = Dict::new();
        d.insert(b"packets".to_vec(), Value::Int(l.received.packets as i64));
        d.insert(b"bytes".to_vec(), Value::Int(l.received.bytes as i64));
        d.insert(b"errors".to_vec(), Value::Int(l.dropped as i64));
        d.insert(b"lost".to_vec(), Value::Int(l.received.lost.max(0)));
        let jitter = i64::try_from(l.received.jitter.as_micros()).unwrap_or(i64::MAX);
        d.insert(b"jitter".to_vec(), Value::Int(jitter));
        d.insert(b"mos".to_vec(), Value::Int((l.mos * 10.0).round() as i64));
        d.insert(b"kernel".to_vec(), Value::Int(i64::from(l.kernel)));
        Value::Dict(d)
    };
    let mut d = Dict::new();
    d.insert(b"RTP".to_vec(), rtp);
    d.insert(b"RTCP".to_vec(), rtcp);
    d.insert(b"caller".to_vec(), leg(&q[0]));
    d.insert(b"callee".to_vec(), leg(&q[1]));
    Value::Dict(d)
}
