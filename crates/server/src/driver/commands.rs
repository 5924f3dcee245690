//! The node's answers to the control socket (`trunkline ban|location|calls|status`) and to
//! the API's live-call requests: shared state (bans, bindings) is read directly, each shard's
//! own (its calls) by asking every shard and merging what they say.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use trunkline_store::{LiveCall, LiveRequest, RecordOutcome};

use crate::driver::control::Command;
use crate::driver::dispatch::{Query, now_ms};
use crate::roles::shared::Shared;
use crate::transport::ingress::shard_of;

/// Answers commands and live-call requests until both queues close.
pub(crate) async fn serve(
    mut control: mpsc::Receiver<Command>,
    mut live: mpsc::Receiver<LiveRequest>,
    shared: Arc<Shared>,
    shards: Vec<mpsc::Sender<Query>>,
) {
    let node = Node { shared, shards };
    loop {
        tokio::select! {
            Some(cmd) = control.recv() => {
                let answer = node.command(&cmd.line).await;
                let _ = cmd.reply.send(answer);
            }
            Some(req) = live.recv() => match req {
                LiveRequest::List(reply) => {
                    let _ = reply.send(node.calls().await);
                }
                LiveRequest::Record { call_id, reply } => {
                    let _ = reply.send(node.record(call_id).await);
                }
            },
            else => return,
        }
    }
}

struct Node {
    shared: Arc<Shared>,
    shards: Vec<mpsc::Sender<Query>>,
}

impl Node {
    /// Every shard's calls in progress.
    async fn calls(&self) -> Vec<LiveCall> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let (tx, rx) = oneshot::channel();
            if shard.send(Query::Calls(tx)).await.is_ok()
                && let Ok(calls) = rx.await
            {
                all.extend(calls);
            }
        }
        all.sort_by(|a, b| (a.started_at, &a.call_id).cmp(&(b.started_at, &b.call_id)));
        all
    }

    /// Asks the shard of `call_id` to record it.
    async fn record(&self, call_id: String) -> RecordOutcome {
        let shard = &self.shards[shard_of(call_id.as_bytes(), self.shards.len())];
        let (reply, rx) = oneshot::channel();
        if shard.send(Query::Record { call_id, reply }).await.is_err() {
            return RecordOutcome::NotFound;
        }
        rx.await.unwrap_or(RecordOutcome::NotFound)
    }

    /// Calls in progress and requests being proxied, over every shard.
    async fn counts(&self) -> (usize, usize) {
        let mut sum = (0, 0);
        for shard in &self.shards {
            let (tx, rx) = oneshot::channel();
            if shard.send(Query::Counts(tx)).await.is_ok()
                && let Ok((calls, pending)) = rx.await
            {
                sum = (sum.0 + calls, sum.1 + pending);
            }
        }
        sum
    }

    async fn command(&self, line: &str) -> String {
        let now = now_ms();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ban", "list"] => {
                let mut out = String::new();
                for b in self.shared.guard().bans(now) {
                    out.push_str(&format!(
                        "{}\t{}\t{} s left\t{} dropped\n",
                        b.addr,
                        b.reason.as_str(),
                        b.remaining_secs,
                        b.dropped
                    ));
                }
                out
            }
            ["ban", "remove", ip] => match ip.parse::<std::net::IpAddr>() {
                Ok(ip) if self.shared.guard().unban(ip) => format!("{ip} unbanned\n"),
                Ok(ip) => format!("error: {ip} is not banned\n"),
                Err(_) => format!("error: {ip:?} is not an IP address\n"),
            },
            ["location", "list"] => {
                let mut out = String::new();
                let registrar = self.shared.registrar();
                let loc = registrar.location();
                let mut aors: Vec<_> = loc.iter().map(|(a, _)| a).collect();
                aors.sort_unstable();
                for aor in aors {
                    for b in loc.lookup(aor, now) {
                        out.push_str(&format!(
                            "{aor}\t{}\t{} s\t{}:{}\n",
                            b.contact,
                            b.remaining_secs(now),
                            b.received.transport,
                            b.received.source
                        ));
                    }
                }
                out
            }
            ["calls"] => calls_report(&self.calls().await, now),
            ["status"] => {
                let (calls, proxied) = self.counts().await;
                let g = self.shared.guard().stats();
                let (aors, bindings) = {
                    let registrar = self.shared.registrar();
                    let loc = registrar.location();
                    (loc.aor_count(), loc.len())
                };
                format!(
                    "aors {aors}\nbindings {bindings}\ncalls {calls}\nproxied {proxied}\nshards {}\nflood_bans {}\nauth_bans {}\ndropped_banned {}\ndropped_scanners {}\nauth_failures {}\n",
                    self.shards.len(),
                    g.flood_bans,
                    g.auth_bans,
                    g.dropped_banned,
                    g.dropped_scanners,
                    g.auth_failures
                )
            }
            _ => format!(
                "error: unknown command {line:?} (ban list | ban remove IP | calls | location list | status)\n"
            ),
        }
    }
}

/// The calls in progress, a line each (`trunkline calls`): Call-ID, caller, callee, state,
/// seconds since it started, and for a relayed call what the relay received from each party
/// (packets, lost, jitter, MOS) and whether it records.
fn calls_report(calls: &[trunkline_store::LiveCall], now_ms: u64) -> String {
    let mut out = String::new();
    for c in calls {
        let state = match c.answered_at {
            Some(_) => "answered",
            None => "ringing",
        };
        let secs = (now_ms as i64).saturating_sub(c.started_at) / 1000;
        let media = match &c.media {
            Some(m) => {
                let leg = |l: &trunkline_store::LiveMedia| {
                    format!(
                        "{} pkts {} lost {:.1} ms jitter MOS {:.1}{}",
                        l.packets,
                        l.lost,
                        f64::from(l.jitter_us) / 1000.0,
                        f64::from(l.mos_x100) / 100.0,
                        if l.kernel { " (kernel)" } else { "" }
                    )
                };
                let rec = if c.recording { "; recording" } else { "" };
                format!("relayed: caller {}; callee {}{rec}", leg(&m[0]), leg(&m[1]))
            }
            None if c.relayed => {
                let rec = if c.recording { "; recording" } else { "" };
                format!("relayed by a media node{rec}")
            }
            None => "direct".to_owned(),
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{state}\t{secs} s\t{media}\n",
            c.call_id, c.caller, c.callee
        ));
    }
    out
}
