//! How a proxy rewrites what it forwards (RFC 3261 §16.4, §16.6, §16.7, §16.12, §9.1):
//! route preprocessing with strict-router interop, the forwarded request (Request-URI, Route,
//! Record-Route, Via, Max-Forwards), the response with our Via removed, and the CANCEL for a
//! forwarded INVITE. Pure functions over parsed messages; every untouched byte is copied.

use trunkline_sip::{Editor, HeaderName, Message, NameAddr, SipUri, Uri};

/// Max-Forwards for a request that had none (§16.6 item 3).
pub const DEFAULT_MAX_FORWARDS: u32 = 70;

/// What route preprocessing (§16.4) found in a request that reached us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preprocessed {
    /// A strict router before us put our Record-Route URI in the Request-URI: the real one is
    /// the last Route value, which becomes the Request-URI (and is dropped from Route).
    pub request_uri: Option<String>,
    /// Leading Route values that are ours, to be removed (two after a double Record-Route).
    pub drop_routes: usize,
    /// The last Route value moves to the Request-URI (see `request_uri`).
    pub drop_last_route: bool,
    /// The next hop is the first remaining Route value, if any (already loose-router-fixed
    /// by [`next_hop`]).
    pub route_left: bool,
}

/// The Route values of `msg`, top first (unparseable values are skipped).
pub fn routes<'a>(msg: &Message<'a>) -> Vec<NameAddr<'a>> {
    msg.name_addrs(HeaderName::Route).flatten().collect()
}

/// §16.4: `is_ours` recognises URIs that name this proxy (Record-Route values it inserted).
pub fn preprocess(msg: &Message<'_>, is_ours: impl Fn(&SipUri<'_>) -> bool) -> Preprocessed {
    let routes = routes(msg);
    let mut p = Preprocessed::default();
    let ruri = msg.request_line().and_then(|rl| Uri::parse(rl.uri).ok());
    // A strict router upstream: the Request-URI is our own Record-Route URI (no user part),
    // the real Request-URI is the last Route value.
    let strict = matches!(&ruri, Some(Uri::Sip(u)) if u.user.is_none() && is_ours(u));
    let mut usable = routes.len();
    if strict && let Some(last) = routes.last() {
        p.request_uri = Some(String::from_utf8_lossy(last.uri_raw).into_owned());
        p.drop_last_route = true;
        usable -= 1;
    }
    for r in &routes[..usable] {
        match r.uri {
            Uri::Sip(u) if is_ours(&u) => p.drop_routes += 1,
            _ => break,
        }
    }
    p.route_left = usable > p.drop_routes;
    p
}

/// The edits that forward a request to one target.
#[derive(Debug, Clone, Default)]
pub struct Forward<'p> {
    /// New Request-URI, if it changes (a registered contact, or from [`Preprocessed`]).
    pub request_uri: Option<&'p [u8]>,
    /// Our Via value, with its branch (prepended).
    pub via: &'p str,
    /// Record-Route values to prepend, in order (the first ends on top).
    pub record_route: &'p [String],
    /// Leading Route values to remove.
    pub drop_routes: usize,
    /// Remove the last Route value too.
    pub drop_last_route: bool,
    /// Route values to prepend (a Path of the target's binding), in order.
    pub prepend_routes: &'p [String],
    /// A Route value to append (a strict router's Request-URI goes last, §16.12).
    pub append_route: Option<&'p str>,
    /// Headers removed wherever they are.
    pub remove: &'p [HeaderName],
    /// Headers appended.
    pub add: &'p [(&'p str, String)],
    /// `(header index, new value)`: values replaced in place (a fixed-up Contact).
    pub replace: &'p [(usize, Vec<u8>)],
    /// A new body (SDP anchored at a media relay); Content-Length follows it.
    pub body: Option<&'p [u8]>,
}

/// The forwarded request (§16.6): `fw`'s edits, Max-Forwards decremented (or set to 70).
pub fn request(msg: &Message<'_>, fw: &Forward<'_>) -> Vec<u8> {
    let mut ed = Editor::new(msg);
    if let Some(uri) = fw.request_uri {
        ed.set_request_uri(uri);
    }
    // Prepended lines keep the order they are added in, all before the received headers; our
    // Via goes last so that it stays next to the Vias it was put above.
    for rr in fw.record_route {
        ed.prepend("Record-Route", rr.as_bytes());
    }
    ed.prepend("Via", fw.via.as_bytes());
    for r in fw.prepend_routes {
        ed.prepend("Route", r.as_bytes());
    }
    let route_lines: Vec<usize> = (msg.headers().iter().enumerate())
        .filter(|(_, h)| h.name == HeaderName::Route)
        .map(|(i, _)| i)
        .collect();
    drop_leading(&mut ed, msg, &route_lines, fw.drop_routes);
    if fw.drop_last_route
        && let Some(&last) = route_lines.last()
        && let Some(h) = msg.headers().get(last)
    {
        let n = h.elements().count();
        match n {
            0 | 1 => ed.remove(last),
            _ => ed.set_value(last, &without_last(h, n)),
        };
    }
    for (i, v) in fw.replace {
        ed.set_value(*i, v);
    }
    let mut saw_mf = false;
    for (i, h) in msg.headers().iter().enumerate() {
        if fw.remove.contains(&h.name) {
            ed.remove(i);
        } else if h.name == HeaderName::MaxForwards && !saw_mf {
            saw_mf = true;
            let n = msg
                .max_forwards()
                .ok()
                .flatten()
                .unwrap_or(DEFAULT_MAX_FORWARDS);
            ed.set_value(i, n.saturating_sub(1).to_string().as_bytes());
        }
    }
    if !saw_mf {
        ed.append("Max-Forwards", DEFAULT_MAX_FORWARDS.to_string().as_bytes());
    }
    if let Some(r) = fw.append_route {
        ed.append("Route", r.as_bytes());
    }
    for (name, value) in fw.add {
        ed.append(name, value.as_bytes());
    }
    if let Some(b) = fw.body {
        ed.set_body(b);
    }
    ed.write()
}

/// Removes the first `n` elements across the header lines at `lines` (in order).
fn drop_leading(ed: &mut Editor<'_, '_>, msg: &Message<'_>, lines: &[usize], mut n: usize) {
    for &i in lines {
        if n == 0 {
            return;
        }
        let Some(h) = msg.headers().get(i) else {
            return;
        };
        let count = h.elements().count();
        if count <= n {
            ed.remove(i);
            n -= count;
        } else {
            if let Some(rest) = h.value_without_first(n) {
                ed.set_value(i, rest);
            }
            return;
        }
    }
}

/// The line's value without its last element (it has `n`).
fn without_last(h: &trunkline_sip::Header<'_>, n: usize) -> Vec<u8> {
    let kept: Vec<&[u8]> = h.elements().take(n - 1).flatten().collect();
    kept.join(&b", "[..])
}

/// The response to forward upstream: our top Via removed (§16.7 item 3), a new status line
/// if given (a 503 becomes 500, item 6), the aggregated challenges appended (item 7), and
/// `replace`'s `(header index, value)` pairs set (a fixed-up Contact) and the body replaced
/// when `body` is given (SDP anchored at a relay).
/// `None` if the response carries no second Via: it was for us, not to forward.
pub fn response(
    resp: &Message<'_>,
    status: Option<(u16, &str)>,
    extra: &[(HeaderName, String)],
    replace: &[(usize, Vec<u8>)],
    body: Option<&[u8]>,
) -> Option<Vec<u8>> {
    let _second = resp.vias().nth(1)?;
    let mut ed = Editor::new(resp);
    let vias: Vec<usize> = (resp.headers().iter().enumerate())
        .filter(|(_, h)| h.name == HeaderName::Via)
        .map(|(i, _)| i)
        .collect();
    drop_leading(&mut ed, resp, &vias, 1);
    for (i, v) in replace {
        ed.set_value(*i, v);
    }
    if let Some((code, reason)) = status {
        ed.set_status(code, reason);
    }
    for (name, value) in extra {
        ed.append(name.as_str(), value.as_bytes());
    }
    if let Some(b) = body {
        ed.set_body(b);
    }
    Some(ed.write())
}

/// The CANCEL for a forwarded INVITE (§9.1): same Request-URI, top Via, Route, Call-ID,
/// From, To and CSeq number; method CANCEL; no body.
pub fn cancel(invite: &Message<'_>) -> Option<Vec<u8>> {
    let rl = invite.request_line()?;
    let via = invite.values(HeaderName::Via).next()?.ok()?;
    let cseq = invite.cseq().ok()?;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"CANCEL ");
    out.extend_from_slice(rl.uri);
    out.extend_from_slice(b" SIP/2.0\r\nVia: ");
    out.extend_from_slice(via);
    out.extend_from_slice(b"\r\n");
    for h in invite.headers() {
        if matches!(
            h.name,
            HeaderName::Route | HeaderName::From | HeaderName::To | HeaderName::CallId
        ) {
            out.extend_from_slice(h.name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("CSeq: {} CANCEL\r\n", cseq.seq).as_bytes());
    out.extend_from_slice(b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    Some(out)
}

#[cfg(test)]
mod tests;
