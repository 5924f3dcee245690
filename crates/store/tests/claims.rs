#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! Issue 19, findings 1, 4 and 6, on SQLite and PostgreSQL: what may be claimed as a domain,
//! what a caller learns when a platform-wide name is taken by another tenant, and which
//! characters names may hold.

mod common;

use std::sync::Arc;

use trunkline_store::*;

on_both_backends!(
    another_tenants_names_look_unavailable,
    formatting_characters_are_refused
);

const P: Scope = Scope::Platform;

fn ctx(scope: Scope) -> Ctx {
    Ctx::new(scope, "test")
}

fn unavailable(r: Result<impl std::fmt::Debug, StoreError>, field: &str, value: &str) {
    match r {
        Err(StoreError::Invalid { field: f, reason }) => {
            assert_eq!(f, field);
            assert_eq!(reason, format!("{value:?} is not available"));
        }
        other => panic!("expected {field} not available, got {other:?}"),
    }
}

/// Customer A (of reseller R1) holds a domain, a DID, a MAC and a login. Customer B (of
/// reseller R2) and R2 itself asking for the same get exactly what they get for any name they
/// may not have: 422 naming the field, no owner, no 409. A and R1 still get 409.
async fn another_tenants_names_look_unavailable(store: Store) {
    let p = store.platform_id();
    let tenant = |kind, parent, n: &str| {
        let store = store.clone();
        let n = TenantName::parse(n).unwrap();
        async move {
            store
                .create_tenant(&ctx(P), kind, parent, &n)
                .await
                .unwrap()
                .id
        }
    };
    let r1 = tenant(TenantKind::Reseller, p, "R1").await;
    let r2 = tenant(TenantKind::Reseller, p, "R2").await;
    let a = tenant(TenantKind::Customer, r1, "A").await;
    let b = tenant(TenantKind::Customer, r2, "B").await;
    let (sa, sb) = (Scope::Customer(a), Scope::Customer(b));

    let d = DomainName::parse("acme.example").unwrap();
    store.create_domain(&ctx(sa), a, &d).await.unwrap();
    let n = E164::parse("+4930123456").unwrap();
    store.create_did(&ctx(sa), a, &n, None).await.unwrap();
    let mut phone = NewDevice::new(a, DeviceName::parse("Desk").unwrap());
    phone.mac = Some(MacAddress::parse("aa:bb:cc:dd:ee:ff").unwrap());
    store.create_device(&ctx(sa), &phone).await.unwrap();
    let login = Login::parse("ops@acme.example").unwrap();
    let pw = Password::parse("correct horse").unwrap();
    store
        .create_account(&ctx(sa), a, &login, &pw, Role::Admin)
        .await
        .unwrap();

    for scope in [sb, Scope::Reseller(r2)] {
        let c = ctx(scope);
        unavailable(
            store.create_domain(&c, b, &d).await,
            "domain.name",
            "acme.example",
        );
        unavailable(
            store.create_did(&c, b, &n, None).await,
            "did.e164",
            "+4930123456",
        );
        let mut twin = NewDevice::new(b, DeviceName::parse("Twin").unwrap());
        twin.mac = phone.mac.clone();
        unavailable(
            store.create_device(&c, &twin).await,
            "device.mac",
            "aabbccddeeff",
        );
        let r = store.create_account(&c, b, &login, &pw, Role::Admin).await;
        unavailable(r, "account.login", "ops@acme.example");
    }
    // Moving B's own phone onto A's MAC is refused the same way.
    let mut other = NewDevice::new(b, DeviceName::parse("Other").unwrap());
    other.mac = Some(MacAddress::parse("001122334455").unwrap());
    let other = store.create_device(&ctx(sb), &other).await.unwrap();
    let update = DeviceUpdate {
        mac: Some(phone.mac.clone()),
        ..DeviceUpdate::default()
    };
    let r = store.update_device(&ctx(sb), other.id, &update).await;
    unavailable(r, "device.mac", "aabbccddeeff");

    // Inside the owner's own tree the conflict is no secret.
    for scope in [sa, Scope::Reseller(r1), P] {
        let r = store.create_domain(&ctx(scope), a, &d).await;
        assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
        let r = store.create_did(&ctx(scope), a, &n, None).await;
        assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    }
}

/// Issue 19, finding 6: U+202E and U+2028 were stored, U+0085 silently dropped.
async fn formatting_characters_are_refused(store: Store) {
    let p = store.platform_id();
    for bad in [
        "Evil\u{202E}Corp",
        "Line\u{2028}Two",
        "\u{0085}Trimmed",
        "Iso\u{2066}late",
    ] {
        let r = TenantName::parse(bad);
        assert!(
            matches!(
                r,
                Err(StoreError::Invalid {
                    field: "tenant.name",
                    ..
                })
            ),
            "{bad:?}: {r:?}"
        );
        assert!(CarrierName::parse(bad).is_err(), "{bad:?}");
        assert!(DeviceName::parse(bad).is_err(), "{bad:?}");
        assert!(CallerId::parse(bad).is_err(), "{bad:?}");
    }
    let ok = TenantName::parse("  Müller & Söhne ").unwrap();
    let t = store
        .create_tenant(&ctx(P), TenantKind::Customer, p, &ok)
        .await
        .unwrap();
    assert_eq!(t.name, "Müller & Söhne");
}

/// Issue 19, finding 1: the server's own names are never a tenant's domain; IP literals and
/// localhost are refused by every store.
#[tokio::test]
async fn server_names_are_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("db.sqlite");
    let options = ConnectOptions {
        reserved_domains: vec!["SIP.Provider.example.".to_owned()],
        keyring: Some(Arc::new(Keyring::generate().unwrap())),
        ..ConnectOptions::default()
    };
    let store = Store::connect_with(url.to_str().unwrap(), options)
        .await
        .unwrap();
    let c = store
        .create_tenant(
            &ctx(P),
            TenantKind::Customer,
            store.platform_id(),
            &TenantName::parse("C1").unwrap(),
        )
        .await
        .unwrap()
        .id;
    let own = DomainName::parse("sip.provider.example").unwrap();
    let r = store.create_domain(&ctx(Scope::Customer(c)), c, &own).await;
    assert!(
        matches!(&r, Err(StoreError::Invalid { field: "domain.name", reason }) if reason.contains("not available")),
        "{r:?}"
    );
    let fine = DomainName::parse("customer.example").unwrap();
    assert!(
        store
            .create_domain(&ctx(Scope::Customer(c)), c, &fine)
            .await
            .is_ok()
    );
    for literal in ["127.0.0.70", "[::1]", "localhost", "pbx.localhost"] {
        assert!(DomainName::parse(literal).is_err(), "{literal}");
    }
    store.close().await;
}
