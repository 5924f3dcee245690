//! Devices: CRUD and isolation between customers.

use trunkline_store::*;

use crate::fixtures::*;

pub(crate) async fn devices_crud(store: Store) {
    let w = world(&store).await;
    let u1 = user(&store, w.a, "a.test", "1001").await;
    let u2 = user(&store, w.a, "a.test", "1002").await;
    let mut new = device(w.a, "Reception", Some("AA:BB:CC:DD:EE:01"));
    new.model = Some(DeviceModel::parse("Yealink T54W").unwrap());
    new.user_id = Some(u1.id);
    let d = store.create_device(&admin(), &new).await.unwrap();
    assert_eq!(
        (
            d.customer_id,
            d.name.as_str(),
            d.mac.as_deref(),
            d.model.as_deref(),
            d.user_id
        ),
        (
            w.a,
            "Reception",
            Some("aabbccddee01"),
            Some("Yealink T54W"),
            Some(u1.id)
        )
    );
    assert_eq!(store.get_device(P, d.id).await.unwrap(), d);
    let mac = MacAddress::parse("aa-bb-cc-dd-ee-01").unwrap();
    assert_eq!(store.device_by_mac(P, &mac).await.unwrap(), d);
    // The MAC is unique platform-wide, whatever its spelling and whoever owns the device.
    conflict(
        store
            .create_device(&admin(), &device(w.b, "Copy", Some("aabbccddee01")))
            .await,
    );
    let bare = store
        .create_device(&admin(), &device(w.a, "Spare", None))
        .await
        .unwrap();
    let other_bare = store
        .create_device(&admin(), &device(w.a, "Spare 2", None))
        .await
        .unwrap();
    assert_eq!((bare.mac.clone(), bare.user_id), (None, None));
    // Filters.
    let by_user = store
        .list_devices(
            P,
            DeviceFilter {
                user_id: Some(u1.id),
                ..DeviceFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(by_user, vec![d.clone()]);
    let of_a = store
        .list_devices(
            P,
            DeviceFilter {
                customer_id: Some(w.a),
                ..DeviceFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(of_a.len(), 3);
    // Update: rename, move to another user, clear the model, change the MAC.
    let update = DeviceUpdate {
        name: Some(DeviceName::parse("Front desk").unwrap()),
        mac: Some(Some(MacAddress::parse("aabbccddee02").unwrap())),
        model: Some(None),
        user_id: Some(Some(u2.id)),
    };
    let d2 = store.update_device(&admin(), d.id, &update).await.unwrap();
    assert_eq!(
        (
            d2.name.as_str(),
            d2.mac.as_deref(),
            d2.model.as_deref(),
            d2.user_id
        ),
        ("Front desk", Some("aabbccddee02"), None, Some(u2.id))
    );
    // Nothing to change is not an error.
    assert_eq!(
        store
            .update_device(&admin(), d.id, &DeviceUpdate::default())
            .await
            .unwrap(),
        d2
    );
    // Taking another device's MAC conflicts.
    let steal = DeviceUpdate {
        mac: Some(Some(MacAddress::parse("aabbccddee02").unwrap())),
        ..DeviceUpdate::default()
    };
    conflict(store.update_device(&admin(), bare.id, &steal).await);
    // A user of another customer cannot be assigned (it does not exist for A).
    let ub = user(&store, w.b, "b.test", "2001").await;
    let to_b = DeviceUpdate {
        user_id: Some(Some(ub.id)),
        ..DeviceUpdate::default()
    };
    not_found(store.update_device(&admin(), d.id, &to_b).await);
    let mut foreign = device(w.a, "Foreign", None);
    foreign.user_id = Some(ub.id);
    not_found(store.create_device(&admin(), &foreign).await);
    // Devices belong to customers only.
    invalid(
        store
            .create_device(&admin(), &device(w.r1, "Reseller phone", None))
            .await,
        "customer_id",
    );
    // Deleting the user unassigns its devices.
    store.delete_user(&admin(), u2.id).await.unwrap();
    assert_eq!(store.get_device(P, d.id).await.unwrap().user_id, None);
    // Delete.
    store.delete_device(&admin(), other_bare.id).await.unwrap();
    not_found(store.get_device(P, other_bare.id).await);
    not_found(store.delete_device(&admin(), other_bare.id).await);
}

pub(crate) async fn devices_isolation(store: Store) {
    let w = world(&store).await;
    let ua = user(&store, w.a, "a.test", "1001").await;
    let da = store
        .create_device(&admin(), &device(w.a, "A phone", Some("0004f2000001")))
        .await
        .unwrap();
    let a = Scope::Customer(w.a);
    let b = Scope::Customer(w.b);
    let b_ctx = Ctx::new(b, "customer-b");
    // B neither sees ...
    not_found(store.get_device(b, da.id).await);
    not_found(
        store
            .device_by_mac(b, &MacAddress::parse("0004f2000001").unwrap())
            .await,
    );
    for filter in [
        DeviceFilter::default(),
        DeviceFilter {
            customer_id: Some(w.a),
            ..DeviceFilter::default()
        },
        DeviceFilter {
            user_id: Some(ua.id),
            ..DeviceFilter::default()
        },
    ] {
        assert!(
            store
                .list_devices(b, filter, Page::default())
                .await
                .unwrap()
                .is_empty()
        );
    }
    // ... nor changes A's devices.
    not_found(
        store
            .create_device(&b_ctx, &device(w.a, "Planted", None))
            .await,
    );
    let rename = DeviceUpdate {
        name: Some(DeviceName::parse("pwned").unwrap()),
        ..DeviceUpdate::default()
    };
    not_found(store.update_device(&b_ctx, da.id, &rename).await);
    not_found(store.delete_device(&b_ctx, da.id).await);
    // B cannot hand its own device to A's user.
    let mut own = device(w.b, "B phone", None);
    own.user_id = Some(ua.id);
    not_found(store.create_device(&b_ctx, &own).await);
    // Reseller R2 does not see A's device either; R1 does.
    not_found(store.get_device(Scope::Reseller(w.r2), da.id).await);
    assert_eq!(
        store
            .get_device(Scope::Reseller(w.r1), da.id)
            .await
            .unwrap(),
        da
    );
    // A manages its own devices.
    let a_ctx = Ctx::new(a, "customer-a");
    let mine = store
        .create_device(&a_ctx, &device(w.a, "Mine", None))
        .await
        .unwrap();
    store.update_device(&a_ctx, mine.id, &rename).await.unwrap();
    assert_eq!(store.get_device(P, da.id).await.unwrap(), da);
    assert_eq!(
        store
            .list_devices(a, DeviceFilter::default(), Page::default())
            .await
            .unwrap()
            .len(),
        2
    );
}
