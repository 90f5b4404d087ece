//! Engine tests of leaf links: two cores pumped by hand, a link on core 1.

use std::sync::Arc;

use super::super::tests::{info, limits};
use super::*;
use crate::leaf::{LeafRole, LeafSettings};

const CONNECT: &str =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\n";
const LEAF_CONNECT: &str = "CONNECT {\"version\":\"2.15.1\",\"server_id\":\"NL\",\"name\":\"other\",\"cluster\":\"other\",\"headers\":true,\"compress_mode\":\"not supported\",\"remote_account\":\"$G\",\"protocol\":3}\r\n";

fn settings() -> Arc<LeafSettings> {
    Arc::new(LeafSettings {
        server_id: "NTEST".into(),
        server_name: "test".into(),
        version: "2.11.0".into(),
        loop_subject: Bytes::from_static(b"$LDS.mine"),
        listen_host: "127.0.0.1".into(),
        listen_port: 7422,
        max_payload: 1 << 20,
        max_control_line: 4096,
        domain: None,
        jetstream: false,
        auth: None,
        tls_required: false,
        tls_verify: false,
        auth_timeout_ns: 2_000_000_000,
    })
}

struct Two {
    cores: Vec<Engine>,
}

impl Two {
    fn new() -> Self {
        Two::with(settings())
    }

    fn with(settings: Arc<LeafSettings>) -> Self {
        let cores = (0..2)
            .map(|core_id| {
                let mut e = Engine::new(EngineConfig {
                    core_id,
                    n_cores: 2,
                    limits: limits(),
                    info: info(),
                });
                e.set_leaf(Some(settings.clone()));
                e
            })
            .collect();
        Two { cores }
    }

    fn pump(&mut self) {
        for _ in 0..10 {
            for (from, to) in [(0, 1), (1, 0)] {
                let batch = self.cores[from].take_outgoing(to);
                if !batch.is_empty() {
                    let bytes = self.cores[to].on_ring(from, batch);
                    self.cores[to].credit_peer(from, bytes);
                }
            }
        }
    }

    fn send(&mut self, core: usize, conn: ConnId, bytes: &str) -> ReadStatus {
        let mut buf = BytesMut::from(bytes.as_bytes());
        let st = self.cores[core].on_read(conn, &mut buf, 1);
        self.pump();
        st
    }

    fn out(&mut self, core: usize, conn: ConnId) -> String {
        let mut buf = BytesMut::new();
        let _ = self.cores[core].take_output(conn, &mut buf);
        self.cores[core].write_done(conn);
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn client(&mut self, core: usize) -> ConnId {
        let id = self.cores[core].open_conn("127.0.0.1", 1, true);
        self.send(core, id, CONNECT);
        self.out(core, id);
        id
    }

    /// An accepted link on core 1, handshake done; returns it and what it was sent.
    fn hub_link(&mut self) -> (ConnId, String) {
        let l = self.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "$G");
        let info = self.out(1, l);
        assert!(info.starts_with("INFO {"), "{info}");
        assert!(
            info.contains("\"leafnode_urls\":[\"127.0.0.1:7422\"]"),
            "{info}"
        );
        assert!(info.contains("\"compression\":\"off\""), "{info}");
        self.send(1, l, LEAF_CONNECT);
        let out = self.out(1, l);
        (l, out)
    }
}

#[test]
fn link_up_announces_loop_subject_and_all_interest_of_every_core() {
    let mut t = Two::new();
    let c0 = t.client(0);
    t.send(0, c0, "SUB a.> 1\r\nSUB w g 2\r\nSUB w g 3\r\n");
    let (_, out) = t.hub_link();
    assert!(out.starts_with("LS+ $LDS.mine\r\n"), "{out}");
    assert!(out.contains("LS+ a.>\r\n"), "{out}");
    assert!(out.contains("LS+ w g 2\r\n"), "{out}");
}

#[test]
fn interest_changes_on_any_core_reach_the_link() {
    let mut t = Two::new();
    let (l, _) = t.hub_link();
    let c0 = t.client(0);
    t.send(0, c0, "SUB x 1\r\nSUB x 2\r\nSUB q g 3\r\n");
    assert_eq!(t.out(1, l), "LS+ x\r\nLS+ q g 1\r\n");
    t.send(0, c0, "UNSUB 1\r\n");
    assert_eq!(t.out(1, l), "", "plain interest still there");
    t.send(0, c0, "UNSUB 2\r\nUNSUB 3\r\n");
    assert_eq!(t.out(1, l), "LS- x\r\nLS- q g\r\n");
}

#[test]
fn remote_interest_is_a_subscription_and_messages_cross_once() {
    let mut t = Two::new();
    let (l, _) = t.hub_link();
    t.send(1, l, "LS+ foo.*\r\nLS+ foo.>\r\n");
    let c0 = t.client(0);
    t.send(0, c0, "PUB foo.bar r.1 2\r\nhi\r\n");
    // Two matching subscriptions of the link, one LMSG.
    assert_eq!(t.out(1, l), "LMSG foo.bar r.1 2\r\nhi\r\n");
    t.send(0, c0, "HPUB foo.h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(t.out(1, l), "HMSG foo.h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    t.send(1, l, "LS- foo.*\r\nLS- foo.>\r\n");
    t.send(0, c0, "PUB foo.bar 2\r\nhi\r\n");
    assert_eq!(t.out(1, l), "");
}

#[test]
fn the_links_own_interest_is_not_announced_back_and_its_messages_not_echoed() {
    let mut t = Two::new();
    let (l, _) = t.hub_link();
    t.send(1, l, "LS+ e\r\n");
    assert_eq!(t.out(1, l), "", "its own LS+ is not echoed");
    let c0 = t.client(0);
    t.send(0, c0, "SUB e 1\r\n");
    t.out(1, l);
    t.send(1, l, "LMSG e 2\r\nhi\r\n");
    assert_eq!(t.out(1, l), "", "no echo back over the link");
    assert_eq!(t.out(0, c0), "MSG e 1 2\r\nhi\r\n");
}

#[test]
fn queue_names_in_lmsg_decide_queue_delivery() {
    let mut t = Two::new();
    let (l, _) = t.hub_link();
    let c0 = t.client(0);
    t.send(0, c0, "SUB w g 1\r\n");
    t.out(1, l);
    t.send(1, l, "LMSG w 1\r\na\r\n");
    assert_eq!(t.out(0, c0), "", "no queue names: plain subscribers only");
    t.send(1, l, "LMSG w | g 1\r\nb\r\nLMSG w + r g 1\r\nc\r\n");
    assert_eq!(t.out(0, c0), "MSG w 1 1\r\nb\r\nMSG w 1 r 1\r\nc\r\n");
    // A queue member across the link is picked as one member: LMSG names the group.
    t.send(0, c0, "UNSUB 1\r\n");
    assert_eq!(t.out(1, l), "LS- w g\r\n");
    t.send(1, l, "LS+ w g 2\r\n");
    t.send(0, c0, "PUB w 1\r\nd\r\n");
    assert_eq!(t.out(1, l), "LMSG w | g 1\r\nd\r\n");
}

#[test]
fn our_loop_subject_coming_back_closes_the_link() {
    let mut t = Two::new();
    let (l, _) = t.hub_link();
    assert_eq!(t.send(1, l, "LS+ $LDS.mine\r\n"), ReadStatus::Closed);
    assert!(t
        .out(1, l)
        .contains("Loop detected for leafnode account=\"$G\""));
    assert_eq!(
        t.cores[1].session(l).close,
        Some(CloseReason::LeafLoopDetected)
    );
}

#[test]
fn same_cluster_name_is_refused() {
    let mut t = Two::new();
    let l = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "$G");
    t.out(1, l);
    t.send(
        1,
        l,
        "CONNECT {\"name\":\"test\",\"cluster\":\"test\",\"headers\":true,\"protocol\":3}\r\n",
    );
    assert_eq!(
        t.out(1, l),
        "-ERR 'remote leafnode has same cluster name'\r\n"
    );
}

#[test]
fn soliciting_side_connects_after_info_then_announces() {
    let mut t = Two::new();
    let c0 = t.client(0);
    t.send(0, c0, "SUB s 1\r\n");
    let auth = crate::leaf::SolicitAuth {
        user: Some("u".into()),
        pass: Some("p".into()),
        creds: None,
        ..Default::default()
    };
    let l = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Solicit(auth), "$G");
    assert_eq!(t.out(1, l), "", "waits for the hub's INFO");
    t.send(
        1,
        l,
        "INFO {\"server_id\":\"NH\",\"server_name\":\"hub\",\"client_id\":5,\"nonce\":\"abc\",\"leafnode_urls\":[]}\r\n",
    );
    let out = t.out(1, l);
    assert!(out.starts_with("CONNECT {"), "{out}");
    assert!(out.contains("\"user\":\"u\",\"pass\":\"p\""), "{out}");
    assert!(
        out.contains("\"name\":\"test\",\"cluster\":\"test\""),
        "{out}"
    );
    assert!(out.contains("\"remote_account\":\"$G\""), "{out}");
    assert!(out.ends_with("LS+ $LDS.mine\r\nLS+ s\r\n"), "{out}");
    assert!(t.cores[1].leaf_link_up(l));
    assert_eq!(t.send(1, l, "PING\r\n"), ReadStatus::Continue);
    assert_eq!(t.out(1, l), "PONG\r\n");
}

#[test]
fn queue_members_across_a_link_only_when_no_other_member_is_known() {
    let mut t = Two::new();
    let (l, _) = t.hub_link();
    t.send(1, l, "LS+ w g 5\r\n");
    let c1 = t.client(1);
    t.send(1, c1, "SUB w g 1\r\n");
    t.out(1, l);
    let c0 = t.client(0);
    for _ in 0..50 {
        t.send(0, c0, "PUB w 1\r\nx\r\n");
    }
    assert_eq!(
        t.out(1, l),
        "",
        "the local member is preferred (nats-server)"
    );
    assert_eq!(t.out(1, c1).matches("MSG w 1 1").count(), 50);
    t.send(1, c1, "UNSUB 1\r\n");
    t.out(1, l);
    t.send(0, c0, "PUB w 1\r\ny\r\n");
    assert_eq!(t.out(1, l), "LMSG w | g 1\r\ny\r\n");
}

#[test]
fn a_newer_link_from_the_same_server_replaces_the_old_one_on_any_core() {
    let mut t = Two::new();
    let (old, _) = t.hub_link();
    t.send(1, old, "LS+ stale\r\n");
    // The same server links again, this time to core 0.
    let new = t.cores[0].open_leaf("127.0.0.1", 2, 1, LeafRole::Accept, "$G");
    t.out(0, new);
    t.send(0, new, LEAF_CONNECT);
    assert_eq!(
        t.out(1, old),
        "-ERR 'Duplicate Remote LeafNode Connection'\r\n"
    );
    assert_eq!(
        t.cores[1].session(old).close,
        Some(CloseReason::DuplicateRemoteLeafnode)
    );
    assert!(t.cores[0].leaf_link_up(new));
    // The old link's interest went with it.
    let c = t.client(0);
    t.send(0, c, "PUB stale 1\r\nx\r\n");
    assert_eq!(t.out(1, old), "");
}

#[test]
fn a_link_bound_to_an_account_lives_in_it() {
    let cfgs: std::collections::BTreeMap<String, crate::accounts::config::AccountConfig> =
        toml::from_str("[TEAM_A]\n").expect("accounts");
    let accounts =
        Arc::new(crate::accounts::Accounts::build(&cfgs, None, false, [0; 4]).expect("accounts"));
    let team_a = accounts.id("TEAM_A").expect("TEAM_A");
    let mut t = Two::new();
    for core in &mut t.cores {
        core.set_accounts(accounts.clone());
    }
    let bound = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "TEAM_A");
    assert_eq!(t.cores[1].session(bound).account, team_a);
    assert!(t.cores[1].session(bound).is_open());
    let global = t.cores[1].open_leaf("127.0.0.1", 2, 1, LeafRole::Accept, "$G");
    assert_eq!(t.cores[1].session(global).account, crate::accounts::GLOBAL);
    // An account the server does not know: the link is refused, not put in `$G`.
    let unknown = t.cores[1].open_leaf("127.0.0.1", 3, 1, LeafRole::Accept, "NOPE");
    assert!(!t.cores[1].session(unknown).is_open());
}

#[test]
fn hub_leaf_authorization_bcrypt_is_checked_off_the_core() {
    use crate::leaf::auth::{LeafAuthorization, LeafAuthorizationConfig};
    let mut s = (*settings()).clone();
    s.auth = Some(Arc::new(LeafAuthorization::new(LeafAuthorizationConfig {
        user: Some("l".into()),
        password: Some(bcrypt::hash("pw", 4).unwrap()),
        ..Default::default()
    })));
    let mut t = Two::with(Arc::new(s));
    for (pass, ok) in [("bad", false), ("pw", true)] {
        let l = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "$G");
        let info = t.out(1, l);
        assert!(info.contains("\"nonce\":\""), "{info}");
        let connect = LEAF_CONNECT.replace(
            "\"version\"",
            &format!("\"user\":\"l\",\"pass\":\"{pass}\",\"version\""),
        );
        assert_eq!(t.send(1, l, &connect), ReadStatus::Blocked);
        assert!(!t.cores[1].leaf_link_up(l));
        let (p, h) = t.cores[1].take_auth_job(l).expect("a bcrypt job");
        t.cores[1].finish_auth(l, crate::auth::bcrypt_matches(&p, &h));
        let out = t.out(1, l);
        if ok {
            assert!(out.starts_with("LS+ $LDS.mine\r\n"), "{out}");
            assert!(t.cores[1].leaf_link_up(l));
        } else {
            assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
        }
    }
}

#[test]
fn hub_leaf_authorization_wrong_user_is_refused_before_anything_else() {
    use crate::leaf::auth::{LeafAuthorization, LeafAuthorizationConfig};
    let mut s = (*settings()).clone();
    s.auth = Some(Arc::new(LeafAuthorization::new(LeafAuthorizationConfig {
        user: Some("l".into()),
        password: Some("pw".into()),
        ..Default::default()
    })));
    let mut t = Two::with(Arc::new(s));
    let l = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "$G");
    t.out(1, l);
    assert_eq!(t.send(1, l, LEAF_CONNECT), ReadStatus::Closed);
    assert_eq!(t.out(1, l), "-ERR 'Authorization Violation'\r\n");
}

#[test]
fn deny_imports_and_exports_on_a_soliciting_link() {
    let mut t = Two::new();
    let c0 = t.client(0);
    t.send(0, c0, "SUB in.> 1\r\nSUB in.private.* 2\r\n");
    let auth = crate::leaf::SolicitAuth {
        perms: crate::leaf::perms::LinkPerms::new(
            &["secret.>".to_string()],
            &["in.private.>".to_string()],
        ),
        ..Default::default()
    };
    let l = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Solicit(auth), "$G");
    t.send(
        1,
        l,
        "INFO {\"server_id\":\"NH\",\"server_name\":\"hub\",\"client_id\":5,\"leafnode_urls\":[]}\r\n",
    );
    let out = t.out(1, l);
    // The hub is told what not to send; the covered subscription is not announced.
    assert!(out.contains("\"deny_pub\":[\"in.private.>\"]"), "{out}");
    assert!(out.contains("LS+ in.>\r\n"), "{out}");
    assert!(!out.contains("LS+ in.private"), "{out}");
    // Received messages on denied subjects are dropped.
    let mut m = t.client(0);
    t.send(0, m, "SUB in.private.x 9\r\n");
    t.out(1, l);
    t.send(1, l, "LMSG in.private.x 1\r\na\r\nLMSG in.open 1\r\nb\r\n");
    let got = t.out(0, c0);
    assert_eq!(got, "MSG in.open 1 1\r\nb\r\n", "{got}");
    assert_eq!(t.out(0, m), "");
    // Interest in a literal denied export is ignored; a wildcard one is filtered per message.
    t.send(1, l, "LS+ secret.a\r\nLS+ secret.*\r\nLS+ open\r\n");
    m = t.client(0);
    t.send(0, m, "PUB secret.a 1\r\nx\r\nPUB open 1\r\ny\r\n");
    assert_eq!(t.out(1, l), "LMSG open 1\r\ny\r\n");
    assert!(t.cores[1].leaf_link_up(l), "a soliciting side ignores it");
}

#[test]
fn a_hub_honours_the_leafs_deny_pub_and_refuses_denied_interest() {
    let mut t = Two::new();
    let l = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "$G");
    t.out(1, l);
    let connect = LEAF_CONNECT.replace("\"version\"", "\"deny_pub\":[\"priv.>\"],\"version\"");
    t.send(1, l, &connect);
    t.out(1, l);
    t.send(1, l, "LS+ >\r\n");
    let c0 = t.client(0);
    t.send(0, c0, "PUB priv.a 1\r\nx\r\nPUB pub.a 1\r\ny\r\n");
    assert_eq!(t.out(1, l), "LMSG pub.a 1\r\ny\r\n");
    assert_eq!(t.send(1, l, "LS+ priv.q\r\n"), ReadStatus::Closed);
    assert_eq!(
        t.out(1, l),
        "-ERR 'Permissions Violation for Subscription to \"priv.q\"'\r\n"
    );
}

#[test]
fn queue_picks_among_links_follow_their_ls_plus_weights() {
    let mut t = Two::new();
    let mut links = Vec::new();
    for name in ["a", "b"] {
        let l = t.cores[1].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "$G");
        t.out(1, l);
        let connect = LEAF_CONNECT
            .replace("\"name\":\"other\"", &format!("\"name\":\"{name}\""))
            .replace("\"cluster\":\"other\"", &format!("\"cluster\":\"{name}\""));
        t.send(1, l, &connect);
        t.out(1, l);
        links.push(l);
    }
    t.send(1, links[0], "LS+ work g 1\r\n");
    t.send(1, links[1], "LS+ work g 1\r\nLS+ work g 3\r\n");
    let c = t.client(1);
    let n = 4000;
    let mut counts = [0usize; 2];
    for _ in 0..n {
        t.send(1, c, "PUB work 1\r\nx\r\n");
        for (i, l) in links.iter().enumerate() {
            counts[i] += t.out(1, *l).matches("LMSG").count();
        }
    }
    assert_eq!(counts[0] + counts[1], n, "each message once");
    // Weight 3 against 1: about 3000 / 1000 (bounds far beyond random spread).
    assert!((2700..3300).contains(&counts[1]), "{counts:?}");
    // The weight goes back down with a new LS+; LS- forgets it.
    t.send(1, links[1], "LS+ work g 1\r\n");
    let mut counts = [0usize; 2];
    for _ in 0..n {
        t.send(1, c, "PUB work 1\r\nx\r\n");
        for (i, l) in links.iter().enumerate() {
            counts[i] += t.out(1, *l).matches("LMSG").count();
        }
    }
    assert!((1700..2300).contains(&counts[1]), "{counts:?}");
}

/// An accepted link from server `name` on `core`, handshake done.
fn named_link(t: &mut Two, core: usize, name: &str) -> ConnId {
    let l = t.cores[core].open_leaf("127.0.0.1", 1, 1, LeafRole::Accept, "$G");
    t.out(core, l);
    let connect = LEAF_CONNECT
        .replace("\"name\":\"other\"", &format!("\"name\":\"{name}\""))
        .replace("\"cluster\":\"other\"", &format!("\"cluster\":\"{name}\""));
    t.send(core, l, &connect);
    t.out(core, l);
    l
}

#[test]
fn queue_picks_weigh_links_on_different_cores() {
    let mut t = Two::new();
    let a = named_link(&mut t, 0, "a");
    let b = named_link(&mut t, 1, "b");
    t.send(0, a, "LS+ work g 1\r\n");
    t.send(1, b, "LS+ work g 3\r\n");
    let n = 4000;
    // Published on either core: weight 3 against 1 wherever the links are.
    for core in [0, 1] {
        let c = t.client(core);
        let (mut on_a, mut on_b) = (0, 0);
        for _ in 0..n {
            t.send(core, c, "PUB work 1\r\nx\r\n");
            on_a += t.out(0, a).matches("LMSG").count();
            on_b += t.out(1, b).matches("LMSG").count();
        }
        assert_eq!(on_a + on_b, n, "each message once");
        assert!(
            (2700..3300).contains(&on_b),
            "from core {core}: {on_a}/{on_b}"
        );
    }
    // A client member on any core comes first; the links get nothing meanwhile.
    let c0 = t.client(0);
    let c1 = t.client(1);
    t.send(1, c1, "SUB work g 9\r\n");
    t.out(0, a);
    t.out(1, b);
    for _ in 0..200 {
        t.send(0, c0, "PUB work 1\r\nx\r\n");
    }
    assert_eq!(t.out(1, c1).matches("MSG work 9").count(), 200);
    assert_eq!((t.out(0, a), t.out(1, b)), (String::new(), String::new()));
    // Gone again: back to the links; and a link leaving takes its weight with it.
    t.send(1, c1, "UNSUB 9\r\n");
    t.send(1, b, "LS- work g\r\n");
    for _ in 0..100 {
        t.send(0, c0, "PUB work 1\r\nx\r\n");
    }
    assert_eq!(t.out(0, a).matches("LMSG").count(), 100);
}

#[test]
fn js_deliveries_cross_with_the_stored_subject_after_an_at() {
    let mut t = Two::new();
    let a = named_link(&mut t, 1, "a");
    let b = named_link(&mut t, 0, "b");
    let c0 = t.client(0);
    t.send(0, c0, "SUB dlv.x 1\r\n");
    t.send(0, b, "LS+ dlv.x\r\n");
    t.out(1, a);
    t.out(0, b);
    // As nats-server writes a consumer delivery: delivery subject, ack reply @ stored subject.
    let ack = "$JS.ACK.O.c.1.5.5.1700000000000000000.0";
    t.send(1, a, &format!("LMSG dlv.x {ack}@o.5 2\r\nhi\r\n"));
    // A client sees the stored subject and the bare ack reply (on another core, too) ...
    assert_eq!(t.out(0, c0), format!("MSG o.5 1 {ack} 2\r\nhi\r\n"));
    // ... and the next link the same form again.
    assert_eq!(t.out(0, b), format!("LMSG dlv.x {ack}@o.5 2\r\nhi\r\n"));
    // Any other reply with an `@` crosses untouched.
    t.send(1, a, "LMSG dlv.x _INBOX.a@b 2\r\nhi\r\n");
    assert_eq!(t.out(0, c0), "MSG dlv.x 1 _INBOX.a@b 2\r\nhi\r\n");
}

/// The last `LS+`/`LS-` line of `out` (an update may pass through a step when the other
/// core's two updates land one after the other).
fn last_line(out: &str) -> &str {
    out.trim_end().rsplit("\r\n").next().unwrap_or("")
}

#[test]
fn links_are_announced_with_the_weight_of_the_other_links() {
    let mut t = Two::new();
    let a = named_link(&mut t, 1, "a");
    let b = named_link(&mut t, 1, "b");
    let c = named_link(&mut t, 0, "c");
    // A's group of three is announced to the other links as three members (nats-server
    // adds a leaf's weight), on its core and the other.
    t.send(1, a, "LS+ work g 3\r\n");
    assert_eq!(t.out(1, b), "LS+ work g 3\r\n");
    assert_eq!(t.out(0, c), "LS+ work g 3\r\n");
    assert_eq!(t.out(1, a), "", "its own interest is not announced back");
    // A new weight; a client member on core 0 adds one.
    t.send(1, a, "LS+ work g 1\r\n");
    assert_eq!(t.out(1, b), "LS+ work g 1\r\n");
    assert_eq!(t.out(0, c), "LS+ work g 1\r\n");
    let c0 = t.client(0);
    t.send(0, c0, "SUB work g 5\r\n");
    assert_eq!(t.out(1, b), "LS+ work g 2\r\n");
    assert_eq!(t.out(1, a), "LS+ work g 1\r\n");
    // C's members count for A and B; A leaving leaves the client and C.
    t.send(0, c, "LS+ work g 4\r\n");
    assert_eq!(last_line(&t.out(1, a)), "LS+ work g 5");
    assert_eq!(last_line(&t.out(1, b)), "LS+ work g 6");
    t.send(1, a, "LS- work g\r\n");
    assert_eq!(last_line(&t.out(1, b)), "LS+ work g 5");
    assert_eq!(last_line(&t.out(0, c)), "LS+ work g 1");
    // The client and C gone too: nothing left to announce.
    t.send(0, c0, "UNSUB 5\r\n");
    t.send(0, c, "LS- work g\r\n");
    assert_eq!(last_line(&t.out(1, b)), "LS- work g");
}

/// A solicited link on `core`, up after the hub `name`'s INFO; returns it and what it sent.
fn solicited_link_out(t: &mut Two, core: usize, name: &str) -> (ConnId, String) {
    let auth = crate::leaf::SolicitAuth::default();
    let l = t.cores[core].open_leaf("127.0.0.1", 1, 1, LeafRole::Solicit(auth), "$G");
    let info = format!(
        "INFO {{\"server_id\":\"N{name}\",\"server_name\":\"{name}\",\"client_id\":5,\"leafnode_urls\":[]}}\r\n"
    );
    t.send(core, l, &info);
    assert!(t.cores[core].leaf_link_up(l));
    let out = t.out(core, l);
    (l, out)
}

fn solicited_link(t: &mut Two, core: usize, name: &str) -> ConnId {
    solicited_link_out(t, core, name).0
}

#[test]
fn one_hubs_interest_is_not_announced_to_another_hub() {
    let mut t = Two::new();
    let h1 = solicited_link(&mut t, 1, "hub1");
    let h2 = solicited_link(&mut t, 0, "hub2");
    let h3 = solicited_link(&mut t, 1, "hub3");
    let (acc, _) = t.hub_link();
    t.out(1, acc);
    // Hub 1's interest: no other hub hears it, an accepted leaf does; loop subjects pass.
    t.send(
        1,
        h1,
        "LS+ only.hub1\r\nLS+ q.hub1 g 3\r\nLS+ $LDS.hub1\r\n",
    );
    assert_eq!(t.out(0, h2), "LS+ $LDS.hub1\r\n");
    assert_eq!(t.out(1, h3), "LS+ $LDS.hub1\r\n");
    let got = t.out(1, acc);
    assert!(got.contains("LS+ only.hub1\r\n"), "{got}");
    assert!(got.contains("LS+ q.hub1 g 3\r\n"), "{got}");
    // A client's interest in the same subject reaches every hub, once, and stays while
    // the hub's interest goes and comes back.
    let c = t.client(0);
    t.send(0, c, "SUB only.hub1 1\r\nSUB q.hub1 g 2\r\n");
    assert_eq!(t.out(0, h2), "LS+ only.hub1\r\nLS+ q.hub1 g 1\r\n");
    assert_eq!(t.out(1, h3), "LS+ only.hub1\r\nLS+ q.hub1 g 1\r\n");
    assert_eq!(t.out(1, h1), "LS+ only.hub1\r\nLS+ q.hub1 g 1\r\n");
    t.send(1, h1, "LS- only.hub1\r\nLS- q.hub1 g\r\nLS+ only.hub1\r\n");
    assert_eq!(t.out(0, h2), "");
    assert_eq!(t.out(1, h3), "");
    t.send(0, c, "UNSUB 1\r\nUNSUB 2\r\n");
    assert_eq!(t.out(0, h2), "LS- only.hub1\r\nLS- q.hub1 g\r\n");
    assert_eq!(t.out(1, h3), "LS- only.hub1\r\nLS- q.hub1 g\r\n");
    assert_eq!(t.out(1, h1), "LS- only.hub1\r\nLS- q.hub1 g\r\n");
    // An accepted leaf's interest reaches every hub.
    t.send(1, acc, "LS+ from.leaf\r\n");
    assert_eq!(t.out(0, h2), "LS+ from.leaf\r\n");
    assert_eq!(t.out(1, h1), "LS+ from.leaf\r\n");
    // A hub linked later is told the leaf's interest, not the hubs'.
    let (_, got) = solicited_link_out(&mut t, 0, "hub4");
    assert!(got.contains("LS+ from.leaf\r\n"), "{got}");
    assert!(got.contains("LS+ $LDS.hub1\r\n"), "{got}");
    assert!(
        !got.contains("only.hub1") && !got.contains("q.hub1"),
        "{got}"
    );
}
