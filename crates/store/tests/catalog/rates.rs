//! Rate tables and rates: CRUD, longest-prefix lookup, customer assignment.

use trunkline_store::*;

use crate::fixtures::*;

pub(crate) async fn rate_tables_and_rates(store: Store) {
    let w = world(&store).await;
    let t1 = store
        .create_rate_table(
            &Ctx::new(Scope::Reseller(w.r1), "reseller-1"),
            w.r1,
            &RateTableName::parse("R1 retail").unwrap(),
            Currency::parse("eur").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (t1.tenant_id, t1.name.as_str(), t1.currency.as_str()),
        (w.r1, "R1 retail", "EUR")
    );
    let t2 = rate_table(&store, w.r2, "R2 retail").await;
    let pt = rate_table(&store, w.p, "Platform default").await;
    conflict(
        store
            .create_rate_table(
                &admin(),
                w.r1,
                &RateTableName::parse("R1 retail").unwrap(),
                Currency::parse("USD").unwrap(),
            )
            .await,
    );
    rate_table(&store, w.r2, "R1 retail").await;
    // Customers own no rate tables.
    forbidden(
        store
            .create_rate_table(
                &Ctx::new(Scope::Customer(w.a), "customer-a"),
                w.a,
                &RateTableName::parse("Mine").unwrap(),
                Currency::parse("EUR").unwrap(),
            )
            .await,
    );
    invalid(
        store
            .create_rate_table(
                &admin(),
                w.a,
                &RateTableName::parse("Mine").unwrap(),
                Currency::parse("EUR").unwrap(),
            )
            .await,
        "rate_table.tenant_id",
    );
    // Rates.
    let mut new = NewRate::new(t1.id, RatePrefix::parse("49").unwrap(), 12_000);
    new.description = Some(RateDescription::parse("Germany").unwrap());
    new.connect_fee = 50_000;
    new.initial_increment_s = 30;
    new.increment_s = 6;
    let de = store.create_rate(&admin(), &new).await.unwrap();
    assert_eq!(
        (
            de.rate_table_id,
            de.prefix.as_str(),
            de.description.as_deref(),
            de.price_per_min,
            de.connect_fee,
            de.initial_increment_s,
            de.increment_s
        ),
        (t1.id, "49", Some("Germany"), 12_000, 50_000, 30, 6)
    );
    conflict(store.create_rate(&admin(), &new).await);
    // The same prefix in another table is fine.
    rate(&store, t2.id, "49", 9_000).await;
    assert_eq!(store.get_rate(P, de.id).await.unwrap(), de);
    let in_t1 = store
        .list_rates(
            P,
            RateFilter {
                rate_table_id: Some(t1.id),
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(in_t1, vec![de.clone()]);
    let update = RateUpdate {
        prefix: Some(RatePrefix::parse("491").unwrap()),
        description: Some(None),
        price_per_min: Some(20_000),
        connect_fee: Some(0),
        initial_increment_s: Some(60),
        increment_s: Some(60),
    };
    let changed = store.update_rate(&admin(), de.id, &update).await.unwrap();
    assert_eq!(
        (
            changed.prefix.as_str(),
            changed.description.clone(),
            changed.price_per_min,
            changed.connect_fee,
            changed.initial_increment_s,
            changed.increment_s
        ),
        ("491", None, 20_000, 0, 60, 60)
    );
    rate(&store, t1.id, "49", 10_000).await;
    let clash = RateUpdate {
        prefix: Some(RatePrefix::parse("49").unwrap()),
        ..RateUpdate::default()
    };
    conflict(store.update_rate(&admin(), de.id, &clash).await);
    // Table update.
    let renamed = store
        .update_rate_table(
            &admin(),
            t1.id,
            &RateTableUpdate {
                name: Some(RateTableName::parse("R1 wholesale").unwrap()),
                currency: Some(Currency::parse("USD").unwrap()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.currency.as_str()),
        ("R1 wholesale", "USD")
    );
    // Isolation: R1 sees its own table and rates only; customers see none.
    let r1 = Scope::Reseller(w.r1);
    let r1_ctx = Ctx::new(r1, "reseller-1");
    let tables = store
        .list_rate_tables(r1, RateTableFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(tables.iter().map(|t| t.id).collect::<Vec<_>>(), vec![t1.id]);
    not_found(store.get_rate_table(r1, t2.id).await);
    not_found(store.get_rate_table(r1, pt.id).await);
    assert!(
        store
            .list_rates(
                r1,
                RateFilter {
                    rate_table_id: Some(t2.id)
                },
                Page::default()
            )
            .await
            .unwrap()
            .is_empty()
    );
    let r2_rate = store
        .list_rates(
            P,
            RateFilter {
                rate_table_id: Some(t2.id),
            },
            Page::default(),
        )
        .await
        .unwrap()[0]
        .clone();
    not_found(store.get_rate(r1, r2_rate.id).await);
    not_found(store.update_rate(&r1_ctx, r2_rate.id, &update).await);
    not_found(store.delete_rate(&r1_ctx, r2_rate.id).await);
    not_found(
        store
            .create_rate(
                &r1_ctx,
                &NewRate::new(t2.id, RatePrefix::parse("1").unwrap(), 1),
            )
            .await,
    );
    not_found(
        store
            .update_rate_table(&r1_ctx, t2.id, &RateTableUpdate::default())
            .await,
    );
    not_found(store.delete_rate_table(&r1_ctx, t2.id).await);
    let a = Scope::Customer(w.a);
    assert!(
        store
            .list_rate_tables(a, RateTableFilter::default(), Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_rates(a, RateFilter::default(), Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    forbidden(
        store
            .create_rate(
                &Ctx::new(a, "customer-a"),
                &NewRate::new(t1.id, RatePrefix::parse("1").unwrap(), 1),
            )
            .await,
    );
    // Delete one rate, then the table with the rest.
    store.delete_rate(&r1_ctx, de.id).await.unwrap();
    not_found(store.get_rate(P, de.id).await);
    store.delete_rate_table(&r1_ctx, t1.id).await.unwrap();
    not_found(store.get_rate_table(P, t1.id).await);
    assert!(
        store
            .list_rates(
                P,
                RateFilter {
                    rate_table_id: Some(t1.id)
                },
                Page::default()
            )
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn rate_lookup_longest_prefix(store: Store) {
    let w = world(&store).await;
    let t = rate_table(&store, w.r1, "R1 retail").await;
    let other = rate_table(&store, w.r2, "R2 retail").await;
    for (prefix, price) in [("4", 1), ("49", 2), ("4915", 3), ("49151", 4), ("1", 5)] {
        rate(&store, t.id, prefix, price).await;
    }
    // A longer, better match in another table must never be picked.
    rate(&store, other.id, "491512", 99).await;
    let r1 = Scope::Reseller(w.r1);
    let price = |number: &'static str| {
        let store = store.clone();
        async move {
            store
                .rate_for(r1, t.id, number)
                .await
                .unwrap()
                .map(|r| r.price_per_min)
        }
    };
    assert_eq!(price("+4915123456789").await, Some(4));
    assert_eq!(price("4915123456789").await, Some(4));
    assert_eq!(price("+4915").await, Some(3));
    assert_eq!(price("+4930123456").await, Some(2));
    assert_eq!(price("+44207").await, Some(1));
    assert_eq!(price("+12125551234").await, Some(5));
    assert_eq!(price("+33123456789").await, None);
    // Numbers longer than any prefix still match on their first 20 digits.
    assert_eq!(price("491512345678901234567890").await, Some(4));
    // Bad numbers are refused, never spliced into SQL.
    for bad in ["", "+", "49'; DROP TABLE rates; --", "49 15", "4915%"] {
        invalid(store.rate_for(r1, t.id, bad).await, "number");
    }
    // Tables outside the scope look like tables that do not exist.
    not_found(store.rate_for(Scope::Reseller(w.r2), t.id, "+49").await);
    not_found(store.rate_for(Scope::Customer(w.a), t.id, "+49").await);
    not_found(store.rate_for(P, RateTableId(9999), "+49").await);
    assert_eq!(
        store
            .rate_for(Scope::Reseller(w.r2), other.id, "+4915123")
            .await
            .unwrap()
            .map(|r| r.price_per_min),
        Some(99)
    );
}

pub(crate) async fn tenant_rate_table(store: Store) {
    let w = world(&store).await;
    let t1 = rate_table(&store, w.r1, "R1 retail").await;
    let t2 = rate_table(&store, w.r2, "R2 retail").await;
    let pt = rate_table(&store, w.p, "Platform default").await;
    let r1_ctx = Ctx::new(Scope::Reseller(w.r1), "reseller-1");
    assert_eq!(store.tenant_rate_table(P, w.a).await.unwrap(), None);
    // The customer's reseller assigns its own table or the platform's.
    store
        .set_tenant_rate_table(&r1_ctx, w.a, Some(t1.id))
        .await
        .unwrap();
    assert_eq!(store.tenant_rate_table(P, w.a).await.unwrap(), Some(t1.id));
    assert_eq!(
        store
            .tenant_rate_table(Scope::Customer(w.a), w.a)
            .await
            .unwrap(),
        Some(t1.id)
    );
    store
        .set_tenant_rate_table(&r1_ctx, w.a, Some(pt.id))
        .await
        .unwrap();
    assert_eq!(store.tenant_rate_table(P, w.a).await.unwrap(), Some(pt.id));
    // Never another reseller's table, not even when the platform does it.
    not_found(store.set_tenant_rate_table(&r1_ctx, w.a, Some(t2.id)).await);
    not_found(
        store
            .set_tenant_rate_table(&admin(), w.a, Some(t2.id))
            .await,
    );
    // A direct customer of the platform gets platform tables only.
    not_found(
        store
            .set_tenant_rate_table(&admin(), w.c, Some(t1.id))
            .await,
    );
    store
        .set_tenant_rate_table(&admin(), w.c, Some(pt.id))
        .await
        .unwrap();
    // Not for another reseller's customer, not by the customer, not for a reseller.
    not_found(store.set_tenant_rate_table(&r1_ctx, w.b, Some(t1.id)).await);
    forbidden(
        store
            .set_tenant_rate_table(&Ctx::new(Scope::Customer(w.a), "a"), w.a, None)
            .await,
    );
    invalid(
        store
            .set_tenant_rate_table(&admin(), w.r1, Some(pt.id))
            .await,
        "tenant.rate_table_id",
    );
    not_found(store.tenant_rate_table(Scope::Customer(w.b), w.a).await);
    // A table in use cannot be deleted until it is unassigned.
    store
        .set_tenant_rate_table(&r1_ctx, w.a, Some(t1.id))
        .await
        .unwrap();
    conflict(store.delete_rate_table(&r1_ctx, t1.id).await);
    assert!(store.get_rate_table(P, t1.id).await.is_ok());
    store
        .set_tenant_rate_table(&r1_ctx, w.a, None)
        .await
        .unwrap();
    assert_eq!(store.tenant_rate_table(P, w.a).await.unwrap(), None);
    store.delete_rate_table(&r1_ctx, t1.id).await.unwrap();
}
