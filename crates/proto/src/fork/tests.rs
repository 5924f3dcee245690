use super::*;

fn resp(code: u16, extra: &str) -> Received {
    Received::parse(bytes::Bytes::from(format!(
        "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag={code}\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

fn started(out: &[Step<&'static str>]) -> Vec<(usize, &'static str)> {
    (out.iter())
        .filter_map(|s| match s {
            Step::Start { branch, target } => Some((branch.0, *target)),
            _ => None,
        })
        .collect()
}

fn final_code<T>(out: &[Step<T>]) -> Option<u16> {
    out.iter().find_map(|s| match s {
        Step::Final { code, .. } => Some(*code),
        _ => None,
    })
}

#[test]
fn parallel_then_serial_groups() {
    let mut f = Fork::new(true, vec![vec!["a", "b"], vec!["c"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    assert_eq!(started(&out), [(0, "a"), (1, "b")]);
    out.clear();
    f.response(BranchId(0), 486, resp(486, ""), &mut out);
    assert!(out.is_empty(), "waits for the other branch");
    f.response(BranchId(1), 480, resp(480, ""), &mut out);
    assert_eq!(
        started(&out),
        [(2, "c")],
        "next group only after the first failed"
    );
    out.clear();
    f.failed(BranchId(2), 408, &mut out);
    // 486 is the most useful 4xx, and a received response beats the local 408.
    assert_eq!(final_code(&out), Some(486));
    assert!(f.is_finished());
}

#[test]
fn a_2xx_cancels_the_other_branches_and_every_2xx_goes_up() {
    let mut f = Fork::new(true, vec![vec!["a", "b", "c"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    out.clear();
    f.response(BranchId(0), 180, resp(180, ""), &mut out);
    f.response(BranchId(1), 100, resp(100, ""), &mut out);
    assert_eq!(out.len(), 1, "only the 180 goes up");
    out.clear();
    f.response(BranchId(0), 200, resp(200, ""), &mut out);
    assert!(matches!(out[0], Step::Forward(..)));
    assert_eq!(
        out[1..],
        [Step::Cancel(BranchId(1))],
        "c never answered: no CANCEL yet"
    );
    assert!(f.is_done(BranchId(0)));
    assert!(!f.is_done(BranchId(2)), "c may still need its CANCEL");
    // Letting go of the kept responses changes nothing that follows.
    f.settle();
    out.clear();
    f.response(BranchId(2), 180, resp(180, ""), &mut out);
    assert_eq!(
        out,
        [Step::Cancel(BranchId(2))],
        "CANCEL once it is proceeding, 180 not forwarded"
    );
    out.clear();
    f.response(BranchId(1), 200, resp(200, ""), &mut out);
    assert!(
        matches!(out[..], [Step::Forward(..)]),
        "a second 2xx is forwarded too"
    );
    out.clear();
    f.response(BranchId(2), 487, resp(487, ""), &mut out);
    assert!(out.is_empty());
    assert!(f.is_finished());
}

#[test]
fn caller_cancel_cancels_everything_and_487_is_the_answer() {
    let mut f = Fork::new(true, vec![vec!["a", "b"], vec!["c"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    f.response(BranchId(0), 180, resp(180, ""), &mut out);
    f.response(BranchId(1), 183, resp(183, ""), &mut out);
    out.clear();
    f.cancel(&mut out);
    assert_eq!(out, [Step::Cancel(BranchId(0)), Step::Cancel(BranchId(1))]);
    out.clear();
    f.response(BranchId(0), 487, resp(487, ""), &mut out);
    f.response(BranchId(1), 487, resp(487, ""), &mut out);
    assert_eq!(final_code(&out), Some(487));
    assert!(started(&out).is_empty(), "no serial group after a CANCEL");
}

#[test]
fn six_hundred_wins_and_stops_the_search() {
    let mut f = Fork::new(true, vec![vec!["a", "b"], vec!["c"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    f.response(BranchId(1), 180, resp(180, ""), &mut out);
    out.clear();
    f.response(BranchId(0), 603, resp(603, ""), &mut out);
    assert_eq!(out, [Step::Cancel(BranchId(1))]);
    out.clear();
    f.response(BranchId(1), 487, resp(487, ""), &mut out);
    assert_eq!(final_code(&out), Some(603));
}

#[test]
fn challenges_are_aggregated() {
    let mut f = Fork::new(true, vec![vec!["a", "b"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    f.response(
        BranchId(0),
        401,
        resp(401, "WWW-Authenticate: Digest realm=\"a\", nonce=\"1\"\r\n"),
        &mut out,
    );
    out.clear();
    f.response(
        BranchId(1),
        407,
        resp(
            407,
            "Proxy-Authenticate: Digest realm=\"b\", nonce=\"2\"\r\n",
        ),
        &mut out,
    );
    let Some(Step::Final {
        code, challenges, ..
    }) = out.pop()
    else {
        panic!("no final");
    };
    assert_eq!(code, 401);
    assert_eq!(
        challenges,
        [(
            HeaderName::ProxyAuthenticate,
            "Digest realm=\"b\", nonce=\"2\"".to_owned()
        )]
    );
}

#[test]
fn lowest_class_wins_and_no_target_is_480() {
    let mut f = Fork::new(false, vec![vec!["a", "b"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    f.response(BranchId(0), 503, resp(503, ""), &mut out);
    f.response(BranchId(1), 302, resp(302, ""), &mut out);
    assert_eq!(final_code(&out), Some(302));

    let mut none: Fork<&str> = Fork::new(true, vec![vec![]]);
    let mut out = Vec::new();
    none.start(&mut out);
    assert_eq!(final_code(&out), Some(480));
}

#[test]
fn timer_c_gives_408_and_cancels() {
    let mut f = Fork::new(true, vec![vec!["a"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    f.response(BranchId(0), 180, resp(180, ""), &mut out);
    out.clear();
    f.expire(&mut out);
    assert_eq!(out[0], Step::Cancel(BranchId(0)));
    assert_eq!(final_code(&out), Some(408));
    out.clear();
    f.response(BranchId(0), 487, resp(487, ""), &mut out);
    assert!(out.is_empty(), "the late 487 changes nothing");
}

#[test]
fn redirect_recursion_tries_the_new_targets_first() {
    let mut f = Fork::new(true, vec![vec!["a"], vec!["z"]]);
    let mut out = Vec::new();
    f.start(&mut out);
    out.clear();
    f.redirect(BranchId(0), 302, resp(302, ""), vec!["m"], &mut out);
    assert_eq!(started(&out), [(1, "m")]);
    out.clear();
    f.response(BranchId(1), 404, resp(404, ""), &mut out);
    assert_eq!(started(&out), [(2, "z")]);
    out.clear();
    f.response(BranchId(2), 404, resp(404, ""), &mut out);
    assert_eq!(final_code(&out), Some(302), "the 3xx stays the best answer");
}
