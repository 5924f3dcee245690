//! A relayed call's media through the media layer's answers, on simulated time: anchored
//! offers and answers (per fork branch, and in a re-INVITE), the CDR waiting for the call's
//! figures, a CANCEL while the offer is still out, and stopped media.

use super::*;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

fn sdp_at(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
    )
}

/// The one media request the shard made, as an SDP to anchor, with its token.
fn sdp_request(s: &mut Shard) -> (u64, MediaSdp) {
    let mut reqs = s.core.take_media();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let req = reqs.remove(0);
    match req.command {
        MediaCommand::Sdp(sdp) => (req.token.expect("an answer is waited for"), sdp),
        other => panic!("not an SDP: {other:?}"),
    }
}

#[test]
fn the_media_layers_answers_finish_the_forwarding_of_offer_and_answer() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c9", "1002", "", OFFER));
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "the INVITE waits for the media layer: {out:#?}"
    );
    let (token, offer) = sdp_request(&mut s);
    assert_eq!(offer.body, OFFER.as_bytes());
    assert!(!offer.answers);
    assert_eq!(offer.sender, Side::Caller);
    assert_eq!(offer.sender_tag.as_deref(), Some("a1"));
    assert_eq!(
        offer.create,
        Some([false, false]),
        "the call starts on its offer"
    );
    assert_eq!(
        offer.branch,
        Some((0, false)),
        "at the ports of the first branch"
    );

    let anchored = |sdp: &str| MediaAnswer::Sdp(Some(sdp.as_bytes().to_vec()));
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(&sdp_at(30000)),
    });
    let inv = s.one_to(6002);
    assert_eq!(
        body(&inv),
        sdp_at(30000),
        "the callee gets the anchored offer"
    );

    s.deliver(6002, &answer_to(&inv, "200 OK", "b9", &sdp_at(7078)));
    assert!(
        s.sent().iter().all(|(p, _)| *p != STRANGER),
        "the 200 waits for the media layer"
    );
    let mut reqs = s.core.take_media();
    assert_eq!(
        reqs.len(),
        2,
        "the answer, then keep the answering branch: {reqs:#?}"
    );
    assert!(matches!(reqs[1].command, MediaCommand::Keep(0)));
    let req = reqs.remove(0);
    let MediaCommand::Sdp(sdp) = req.command else {
        panic!("not an SDP");
    };
    assert!(sdp.answers);
    assert_eq!(sdp.sender, Side::Callee);
    s.media(MediaEvent::Answer {
        token: req.token.unwrap(),
        answer: anchored(&sdp_at(30002)),
    });
    let ok = s.one_to(STRANGER);
    assert_eq!(code(&ok), 200);
    assert_eq!(
        body(&ok),
        sdp_at(30002),
        "the caller gets the anchored answer"
    );

    s.deliver(STRANGER, &in_dialog(&ok, "BYE", 2, "c9-bye"));
    let bye = s.one_to(6002);
    s.deliver(6002, &answer(&bye, "200 OK", "b9", 6002, "", ""));
    assert_eq!(code(&s.one_to(STRANGER)), 200);
    let mut reqs = s.core.take_media();
    let delete = reqs.pop().expect("the media layer releases the call");
    assert!(
        matches!(delete.command, MediaCommand::Delete { .. }),
        "{delete:?}"
    );
    // The CDR waits for the call's figures.
    assert!(s.cdrs().is_empty());
    let qos = trunkline_store::Qos {
        rtp_packets_rx: Some(1500),
        ..Default::default()
    };
    let ended = MediaAnswer::Ended {
        qos,
        recording: None,
    };
    s.media(MediaEvent::Answer {
        token: delete.token.unwrap(),
        answer: ended,
    });
    s.advance(1);
    let cdrs = s.cdrs();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].qos.rtp_packets_rx, Some(1500));
}

#[test]
fn a_calls_stopped_media_ends_it_with_a_bye_to_each_party() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c10", "1002", "", OFFER));
    let (token, _) = sdp_request(&mut s);
    let unchanged = MediaAnswer::Sdp(None);
    s.media(MediaEvent::Answer {
        token,
        answer: unchanged,
    });
    let inv = s.one_to(6002);
    assert_eq!(
        body(&inv),
        OFFER,
        "a failed anchoring leaves the SDP as it was"
    );
    s.deliver(6002, &answer(&inv, "200 OK", "b10", 6002, "", ""));
    let _keep = s.core.take_media();
    let ok = s.one_to(STRANGER);
    s.deliver(STRANGER, &in_dialog(&ok, "ACK", 1, "c10"));
    s.sent();
    let call = crate::roles::proxy::calls::CallKey {
        call_id: "c10".to_owned(),
        caller_tag: "a1".to_owned(),
    };
    s.media(MediaEvent::Stopped(call));
    let out = s.sent();
    let byes: Vec<_> = out.iter().filter(|(_, m)| method(m) == "BYE").collect();
    assert_eq!(byes.len(), 2, "{out:#?}");
    assert!(byes.iter().any(|(p, _)| *p == STRANGER) && byes.iter().any(|(p, _)| *p == 6002));
    assert!(
        byes.iter().all(|(_, m)| m.contains("media timeout")),
        "{byes:#?}"
    );
}

/// [`answer`] with an SDP body, from the callee at 6002.
fn answer_to(request: &str, status: &str, tag: &str, sdp: &str) -> String {
    answer(request, status, tag, 6002, "", sdp)
}

#[test]
fn a_call_cancelled_while_its_offer_is_at_the_media_layer_never_rings() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c13", "1002", "", OFFER));
    let (token, _) = sdp_request(&mut s);
    s.deliver(STRANGER, &cancel("c13", "1002"));
    let out = s.sent();
    assert!(
        out.iter()
            .any(|(_, m)| code(m) == 200 && m.contains("CANCEL")),
        "{out:#?}"
    );
    let anchored = MediaAnswer::Sdp(Some(sdp_at(30000).into_bytes()));
    s.media(MediaEvent::Answer {
        token,
        answer: anchored,
    });
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "the INVITE never leaves: {out:#?}"
    );
    assert_eq!(invite_finals(&out), [487], "{out:#?}");
    // The branch's ports are let go, and the call's media with its CDR.
    let reqs = s.core.take_media();
    assert!(
        reqs.iter()
            .any(|r| matches!(r.command, MediaCommand::DropBranch(0))),
        "{reqs:#?}"
    );
    assert!(
        reqs.iter()
            .any(|r| matches!(r.command, MediaCommand::Delete { .. })),
        "{reqs:#?}"
    );
}

#[test]
fn a_re_invite_of_a_relayed_call_is_anchored_both_ways() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c14", "1002", "", OFFER));
    let (token, _) = sdp_request(&mut s);
    let anchored = |port: u16| MediaAnswer::Sdp(Some(sdp_at(port).into_bytes()));
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(30000),
    });
    let inv = s.one_to(6002);
    s.deliver(6002, &answer_to(&inv, "200 OK", "b14", &sdp_at(7078)));
    let reqs = s.core.take_media();
    s.media(MediaEvent::Answer {
        token: reqs[0].token.unwrap(),
        answer: anchored(30002),
    });
    let ok = s.one_to(STRANGER);
    s.deliver(STRANGER, &in_dialog(&ok, "ACK", 1, "c14"));
    s.sent();

    // The caller puts the call on hold: its new offer is anchored before it leaves.
    let reinvite = in_dialog(&ok, "INVITE", 2, "c14-re").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Contact: <sip:alice@127.0.0.1:{STRANGER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
            OFFER.len()
        ),
    );
    s.deliver(STRANGER, &reinvite);
    assert!(
        s.sent().iter().all(|(p, _)| *p != 6002),
        "waits for the media layer"
    );
    let (token, offer) = sdp_request(&mut s);
    assert!(!offer.answers);
    assert_eq!(offer.sender, Side::Caller);
    assert_eq!(offer.create, None, "an existing call");
    assert_eq!(offer.branch, None, "in a dialog: no fork branch");
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(30004),
    });
    let re = s.one_to(6002);
    assert!(re.starts_with("INVITE "), "{re}");
    assert_eq!(body(&re), sdp_at(30004));
    // And the callee's answer on its way back.
    s.deliver(6002, &answer_to(&re, "200 OK", "b14", &sdp_at(7080)));
    let (token, answer) = sdp_request(&mut s);
    assert!(answer.answers);
    assert_eq!(answer.sender, Side::Callee);
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(30006),
    });
    let ok2 = s.one_to(STRANGER);
    assert_eq!(code(&ok2), 200);
    assert_eq!(body(&ok2), sdp_at(30006));
}
