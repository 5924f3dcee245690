//! Routing decisions as tables of who calls what: local users, DIDs, the server's own
//! address, relaying and carrier scopes (issue 19's attacks among them).

use super::*;
use trunkline_store::{Carrier, CarrierAuth, Change, Did, DidId, Snapshot, Tenant, TenantKind};

const PLATFORM: TenantId = TenantId(1);
const R1: TenantId = TenantId(10);
const C1: TenantId = TenantId(11);
const R2: TenantId = TenantId(20);
const C2: TenantId = TenantId(21);

fn tenant(id: TenantId, kind: TenantKind, parent: Option<TenantId>) -> Change {
    Change::TenantUpserted(Tenant {
        id,
        kind,
        parent_id: parent,
        name: format!("t{}", id.0),
        created_at: 0,
    })
}

fn carrier(id: i64, owner: TenantId) -> Carrier {
    Carrier {
        id: trunkline_store::CarrierId(id),
        tenant_id: owner,
        name: format!("carrier{id}"),
        auth: CarrierAuth::Ip,
        enabled: true,
        max_channels: None,
        created_at: 0,
    }
}

/// Platform → R1 → C1 (d1.test: 1022, 2001 with DID +4930100) and R2 → C2 (d2.test: 1022,
/// DID +4940200 for 1022).
fn world() -> Snapshot {
    let mut s = Snapshot::default();
    s.apply_test_change(tenant(PLATFORM, TenantKind::Platform, None));
    s.apply_test_change(tenant(R1, TenantKind::Reseller, Some(PLATFORM)));
    s.apply_test_change(tenant(C1, TenantKind::Customer, Some(R1)));
    s.apply_test_change(tenant(R2, TenantKind::Reseller, Some(PLATFORM)));
    s.apply_test_change(tenant(C2, TenantKind::Customer, Some(R2)));
    s.insert_test_customer_user(C1, "d1.test", "1022");
    let u2001 = s.insert_test_customer_user(C1, "d1.test", "2001");
    let c2_1022 = s.insert_test_customer_user(C2, "d2.test", "1022");
    for (id, customer, e164, user) in [(1, C1, "+4930100", u2001), (2, C2, "+4940200", c2_1022)] {
        s.apply_test_change(Change::DidUpserted(Did {
            id: DidId(id),
            customer_id: customer,
            e164: e164.to_owned(),
            user_id: Some(user),
            created_at: 0,
        }));
    }
    s
}

fn request<'a>(caller: Caller<'a>, user: &'a str, host: &'a str) -> Request<'a> {
    Request {
        caller,
        user: Some(user),
        host,
        to_us: false,
        to_domain: None,
        preloaded_route: false,
    }
}

/// The callee's `user@domain`, or the refusal's code.
fn outcome(d: Decision<'_>) -> Result<String, u16> {
    match d {
        Decision::User(u) => Ok(format!("{}@{}", u.username, u.domain)),
        Decision::AsAddressed => Ok("as addressed".to_owned()),
        Decision::Reject(r) => Err(r.code),
    }
}

#[test]
fn local_users_by_aor_and_by_did() {
    let s = world();
    let policy = Policy::default();
    let alice = s.user("d1.test", "1022").unwrap();
    let cases = [
        ("2001", "d1.test", Ok("2001@d1.test")),
        ("1022", "d2.test", Ok("1022@d2.test")),
        ("+4930100", "d1.test", Ok("2001@d1.test")),
        // A DID dialled without its +, in any of our domains.
        ("4940200", "d1.test", Ok("1022@d2.test")),
        ("9999", "d1.test", Err(404)),
    ];
    for (user, host, want) in cases {
        let got = outcome(decide(
            &s,
            &request(Caller::Subscriber(alice), user, host),
            &policy,
        ));
        assert_eq!(got, want.map(str::to_owned), "{user}@{host}");
    }
}

/// Issue 19 finding 1: a call to the server's own address resolves in the caller's domain,
/// never in a domain another tenant named after that address.
#[test]
fn the_servers_own_address_means_the_callers_domain() {
    let mut s = world();
    // C1 managed to own a domain named like the server (old data, from before names were
    // checked) with its own 1022.
    s.insert_test_customer_user(C1, "127.0.0.70", "1022");
    let c2_caller = s.user("d2.test", "1022").unwrap().clone();
    let mut req = request(Caller::Subscriber(&c2_caller), "1022", "127.0.0.70");
    req.to_us = true;
    let got = outcome(decide(&s, &req, &Policy::default()));
    assert_eq!(
        got,
        Ok("1022@d2.test".to_owned()),
        "C2's own 1022, not C1's"
    );
    // A trusted source claiming a local domain: that domain.
    req.caller = Caller::Trusted {
        domain: Some("d1.test"),
    };
    assert_eq!(
        outcome(decide(&s, &req, &Policy::default())),
        Ok("1022@d1.test".to_owned())
    );
    // A stranger is placed by the To header, and only in a domain of ours.
    req.caller = Caller::Stranger;
    req.to_domain = Some("d2.test");
    assert_eq!(
        outcome(decide(&s, &req, &Policy::default())),
        Ok("1022@d2.test".to_owned())
    );
    req.to_domain = Some("elsewhere.example");
    assert_eq!(outcome(decide(&s, &req, &Policy::default())), Err(404));
}

/// Issue 19 finding 3: a subscriber's call leaves only to local users and DIDs; a pre-loaded
/// Route or a Request-URI naming a host is refused unless the customer's policy allows it.
#[test]
fn subscribers_do_not_choose_their_next_hop_unless_allowed() {
    let s = world();
    let alice = s.user("d1.test", "1022").unwrap();
    let mut policy = Policy::default();
    let to_host = request(Caller::Subscriber(alice), "x", "127.0.0.99");
    let mut routed = request(Caller::Subscriber(alice), "2001", "d1.test");
    routed.preloaded_route = true;
    assert_eq!(outcome(decide(&s, &to_host, &policy)), Err(403));
    assert_eq!(outcome(decide(&s, &routed, &policy)), Err(403));
    // A PBX trunk customer with its own route.
    policy.relay_customers.insert(C1);
    assert_eq!(
        outcome(decide(&s, &to_host, &policy)),
        Ok("as addressed".to_owned())
    );
    assert_eq!(
        outcome(decide(&s, &routed, &policy)),
        Ok("as addressed".to_owned())
    );
    // Another customer's subscribers still may not.
    let bob = s.user("d2.test", "1022").unwrap();
    let bob_out = request(Caller::Subscriber(bob), "x", "127.0.0.99");
    assert_eq!(outcome(decide(&s, &bob_out, &policy)), Err(403));
}

#[test]
fn strangers_and_trusted_sources() {
    let s = world();
    let policy = Policy::default();
    // No relaying for strangers, with or without a Route.
    let out = request(Caller::Stranger, "x", "192.0.2.1");
    assert_eq!(outcome(decide(&s, &out, &policy)), Err(403));
    let mut routed = request(Caller::Stranger, "2001", "d1.test");
    routed.preloaded_route = true;
    assert_eq!(outcome(decide(&s, &routed, &policy)), Err(403));
    // Strangers reach local users (calls from the internet).
    let inbound = request(Caller::Stranger, "2001", "d1.test");
    assert_eq!(
        outcome(decide(&s, &inbound, &policy)),
        Ok("2001@d1.test".to_owned())
    );
    // But not a DID, with or without its +: telephone numbers come through a carrier.
    for did in ["+4930100", "4930100"] {
        let by_did = request(Caller::Stranger, did, "d1.test");
        assert_eq!(outcome(decide(&s, &by_did, &policy)), Err(403), "{did}");
    }
    // Nor any other number (the same answer: which numbers are ours is not told), while a
    // name that is no user of ours stays not found.
    let other = request(Caller::Stranger, "+4999", "d1.test");
    assert_eq!(outcome(decide(&s, &other, &policy)), Err(403));
    let nobody = request(Caller::Stranger, "nobody", "d1.test");
    assert_eq!(outcome(decide(&s, &nobody, &policy)), Err(404));
    // Trusted sources (an SBC) may relay.
    let sbc = Caller::Trusted { domain: None };
    assert_eq!(
        outcome(decide(&s, &request(sbc, "x", "192.0.2.1"), &policy)),
        Ok("as addressed".to_owned())
    );
}

/// Issue 19 finding 5: an ip-auth carrier of reseller R1 delivers to R1's customers only; the
/// platform's carriers deliver to anyone.
#[test]
fn a_resellers_carrier_reaches_only_its_own_customers() {
    let s = world();
    let policy = Policy::default();
    let r1_carrier = carrier(1, R1);
    let platform_carrier = carrier(2, PLATFORM);
    let to_c1 = request(Caller::Carrier(&r1_carrier), "+4930100", "d1.test");
    assert_eq!(
        outcome(decide(&s, &to_c1, &policy)),
        Ok("2001@d1.test".to_owned())
    );
    let to_c2 = request(Caller::Carrier(&r1_carrier), "+4940200", "d2.test");
    assert_eq!(
        outcome(decide(&s, &to_c2, &policy)),
        Err(404),
        "R2's DID, same answer as none"
    );
    let via_other_domain = request(Caller::Carrier(&r1_carrier), "4940200", "d1.test");
    assert_eq!(outcome(decide(&s, &via_other_domain, &policy)), Err(404));
    let from_platform = request(Caller::Carrier(&platform_carrier), "+4940200", "d2.test");
    assert_eq!(
        outcome(decide(&s, &from_platform, &policy)),
        Ok("1022@d2.test".to_owned())
    );
    // Carriers do not relay either.
    let out = request(Caller::Carrier(&platform_carrier), "x", "192.0.2.1");
    assert_eq!(outcome(decide(&s, &out, &policy)), Err(403));
}

#[test]
fn disabled_users_and_missing_user_parts_are_not_found() {
    let mut s = world();
    s.insert_test_user("d3.test", "off", "pw", false);
    let stranger = request(Caller::Stranger, "off", "d3.test");
    assert_eq!(outcome(decide(&s, &stranger, &Policy::default())), Err(404));
    let mut no_user = request(Caller::Stranger, "", "d1.test");
    no_user.user = None;
    assert_eq!(outcome(decide(&s, &no_user, &Policy::default())), Err(404));
}
