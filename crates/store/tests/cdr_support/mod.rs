//! CDR fixtures shared by the CDR repository and journal tests.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a subset

use std::collections::BTreeSet;

use trunkline_store::*;

/// An answered outbound leg of customer `customer`, unique by `i`.
pub fn cdr(customer: TenantId, i: u32) -> NewCdr {
    let start = 1_700_000_000_000 + i64::from(i) * 1000;
    NewCdr {
        uuid: CdrUuid::random(),
        customer_id: customer,
        user_id: None,
        call_id: format!("{i}-{}@pbx.test", customer.get()),
        leg: Leg::A,
        direction: Direction::Outbound,
        caller: "+4930123456".to_owned(),
        callee: format!("+4989{i:06}"),
        started_at: start,
        answered_at: Some(start + 2_000),
        ended_at: start + 62_000,
        disposition: Disposition::Answered,
        sip_code: 200,
        hangup_reason: "caller_bye".to_owned(),
        carrier_id: Some(1),
        rate_prefix: Some("+4989".to_owned()),
        billed: Some(12_000),
        currency: Some("EUR".to_owned()),
        qos: Qos {
            rtp_packets_rx: Some(3000),
            rtp_packets_tx: Some(3001),
            rtp_lost: Some(2),
            jitter_us: Some(1500),
            rtt_us: Some(40_000),
            mos_x100: Some(430),
        },
        recording: None,
    }
}

/// Every stored CDR's uuid, as the platform sees them (paging through all of them).
pub async fn stored_uuids(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut page = Page::first(1000);
    loop {
        let rows = store
            .list_cdrs(Scope::Platform, &CdrFilter::default(), page)
            .await
            .unwrap();
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id.get(), 1000);
        out.extend(rows.iter().map(|c| c.uuid.as_str().to_owned()));
    }
    out
}

/// Asserts that the store holds exactly the CDRs with these uuids, each once.
pub async fn assert_stored_exactly(store: &Store, expected: &BTreeSet<String>) {
    let stored = stored_uuids(store).await;
    let set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), set.len(), "a CDR is stored twice");
    assert_eq!(stored.len(), expected.len(), "CDR count");
    assert!(
        &set == expected,
        "stored CDRs differ from the recorded ones"
    );
}
