//! The engine's side of lame duck mode (SIGUSR2): the INFO that tells clients to move to
//! another server, and the list of connections the shell then closes a few at a time.

use super::Engine;
use crate::protocol::encode;
use crate::session::{CloseReason, ConnId};

impl Engine {
    /// Queues an INFO with `"ldm":true` to every open client that takes async INFO (as
    /// nats-server: `protocol` 1 and its first PONG sent); returns how many were told.
    pub fn enter_lame_duck(&mut self) -> usize {
        let mut told = 0;
        for id in 0..self.sessions.len() as ConnId {
            let Some(s) = self.sessions[id as usize].as_mut() else {
                continue;
            };
            if !s.is_open() || s.opts.protocol < 1 || !s.sent_connect_info {
                continue;
            }
            let mut info = self.cfg.info.clone();
            info.client_id = s.client_id;
            info.client_ip = s.client_ip.clone();
            info.lame_duck_mode = true;
            encode::write_info(&mut s.out, &info);
            told += 1;
            self.signal_writable(id);
        }
        told
    }

    /// The connections still open, in the order they were made on this core.
    pub fn open_connections(&self) -> Vec<ConnId> {
        let mut ids: Vec<(u64, ConnId)> = (0..self.sessions.len() as ConnId)
            .filter_map(|id| {
                self.sessions[id as usize]
                    .as_ref()
                    .filter(|s| s.is_open())
                    .map(|s| (s.client_id, id))
            })
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Lame duck mode closes a client: what is queued for it is flushed first.
    pub fn close_for_lame_duck(&mut self, conn: ConnId) {
        if self.session(conn).is_open() {
            self.close(conn, CloseReason::ServerShutdown, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use crate::engine::tests::{info, limits};
    use crate::engine::{Engine, EngineConfig, OutputState};
    use crate::session::ConnId;

    fn output(e: &mut Engine, conn: ConnId) -> String {
        let mut all = Vec::new();
        loop {
            let mut buf = BytesMut::new();
            match e.take_output(conn, &mut buf) {
                OutputState::Data => {
                    all.extend_from_slice(&buf);
                    e.write_done(conn);
                }
                OutputState::Idle | OutputState::Close => break,
            }
        }
        String::from_utf8(all).expect("utf8 output")
    }

    fn connect(e: &mut Engine, connect: &str) -> ConnId {
        let id = e.open_conn("127.0.0.1", 0, true);
        let mut buf = BytesMut::from(connect.as_bytes());
        e.on_read(id, &mut buf, 0);
        output(e, id);
        id
    }

    #[test]
    fn ldm_info_goes_to_protocol_1_clients_after_their_first_pong() {
        let mut e = Engine::new(EngineConfig {
            core_id: 0,
            n_cores: 1,
            limits: limits(),
            info: info(),
        });
        let a = connect(
            &mut e,
            "CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n",
        );
        let b = connect(&mut e, "CONNECT {\"verbose\":false}\r\nPING\r\n");
        let c = connect(&mut e, "CONNECT {\"protocol\":1,\"verbose\":false}\r\n");
        assert_eq!(e.enter_lame_duck(), 1);
        let out = output(&mut e, a);
        assert!(
            out.starts_with("INFO {") && out.contains("\"ldm\":true") && out.ends_with("\r\n"),
            "{out}"
        );
        assert_eq!(output(&mut e, b), "");
        assert_eq!(output(&mut e, c), "");
        assert_eq!(e.open_connections(), vec![a, b, c]);
        e.close_for_lame_duck(a);
        assert_eq!(e.open_connections(), vec![b, c]);
    }
}
