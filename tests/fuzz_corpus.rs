//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the
//! `cargo fuzz` targets run (`natrix::fuzz_checks`), on stable Rust, as ordinary tests: what
//! the fuzzer once found (minimized crash inputs are added to the corpus) stays fixed.

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Runs `target`'s check on each file of its corpus; fails naming the file that breaks it.
fn replay(target: &str) {
    let (_, check) = natrix::fuzz_checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    for file in &files {
        let data = std::fs::read(file).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails its check",
            file.display()
        );
    }
}

#[test]
fn every_target_has_a_corpus() {
    for (name, _) in natrix::fuzz_checks::TARGETS {
        assert!(corpus_dir(name).is_dir(), "fuzz/corpus/{name} is missing");
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/fuzz_targets/{name}.rs"));
        assert!(src.is_file(), "{} is missing", src.display());
    }
}

#[test]
fn jwt_corpus() {
    replay("jwt");
}

#[test]
fn protocol_parser_corpus() {
    replay("protocol_parser");
}

#[test]
fn connect_json_corpus() {
    replay("connect_json");
}

#[test]
fn js_api_request_corpus() {
    replay("js_api_request");
}

#[test]
fn headers_corpus() {
    replay("headers");
}

#[test]
fn record_decoder_corpus() {
    replay("record_decoder");
}

#[test]
fn config_toml_corpus() {
    replay("config_toml");
}

/// Writes the hand-made seeds next to the captured ones (`fuzz/seeds/seed.sh` runs this):
/// CONNECTs that authenticate (including a valid nkey signature), structured record and
/// header inputs, the repo's config files. `cargo test --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes seed files; run by fuzz/seeds/seed.sh"]
fn write_hand_seeds() {
    use base64::Engine as _;
    use natrix::fuzz_checks::connect::{NKEY_SEED, NONCE, PASSWORD, TOKEN, USER};
    let out = std::env::var("SEED_DIR").expect("SEED_DIR");
    let save = |target: &str, name: &str, data: &[u8]| {
        let dir = Path::new(&out).join(target);
        std::fs::create_dir_all(&dir).expect("seed dir");
        std::fs::write(dir.join(name), data).expect("seed file");
    };
    let kp = nkeys::KeyPair::from_seed(NKEY_SEED).expect("seed");
    let sig = kp.sign(NONCE.as_bytes()).expect("sign");
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig);
    let std_sig = base64::engine::general_purpose::STANDARD.encode(&sig);
    let pk = kp.public_key();
    for (name, json) in [
        (
            "user",
            format!(r#"{{"verbose":false,"user":"{USER}","pass":"{PASSWORD}"}}"#),
        ),
        (
            "token",
            format!(r#"{{"auth_token":"{TOKEN}","protocol":1,"headers":true}}"#),
        ),
        ("nkey_url", format!(r#"{{"nkey":"{pk}","sig":"{url}"}}"#)),
        (
            "nkey_std",
            format!(r#"{{"nkey":"{pk}","sig":"{std_sig}","echo":null}}"#),
        ),
    ] {
        save("connect_json", name, json.as_bytes());
    }
    // record_decoder mode 1: a message, a purge, a checkpoint, a tombstone.
    let mut rec = vec![1u8];
    rec.extend_from_slice(&5u64.to_le_bytes());
    rec.push(3);
    for (kind, body) in [
        (
            0u8,
            &b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x03foo\x0cNATS/1.0\r\n\r\n\x02hi"[..],
        ),
        (2, b"\x01\x09\x00\x00\x00\x00\x00\x00\x00\x03fo*"),
        (3, &[7u8; 24]),
        (2, b"\x00\x02\x00\x00\x00\x00\x00\x00\x00"),
    ] {
        rec.push(kind);
        rec.extend_from_slice(body);
    }
    rec.extend_from_slice(&[0x10, 0, 0x03, 0x55]);
    save("record_decoder", "structured", &rec);
    // headers mode 1: two pairs, direct-get numbers, a subject, a duration.
    let mut hdr = vec![1u8, 2, 4];
    hdr.extend_from_slice(b"X-Id\x03 42\x0bNats-Rollup\x03sub");
    hdr.extend_from_slice(&7u64.to_le_bytes());
    hdr.extend_from_slice(&1_764_000_000_123_456_789u64.to_le_bytes());
    hdr.push(1);
    hdr.extend_from_slice(&[3u8; 16]);
    hdr.extend_from_slice(b"\x03a.b");
    hdr.extend_from_slice(&1_500_000_001u64.to_le_bytes());
    save("headers", "structured", &hdr);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("config")).expect("config dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            save("config_toml", &name, &std::fs::read(&path).expect("config"));
        }
    }
}

/// The connect_json corpus reaches the accepting nkey path (a valid signature of the nonce),
/// so its "only the right key is accepted" property is exercised, not vacuous.
#[test]
fn the_signed_nkey_seed_is_accepted() {
    use natrix::auth::config::{AuthorizationConfig, UserConfig};
    use natrix::auth::{Authenticator, Decision};
    use natrix::fuzz_checks::connect::{nkey_public, NONCE};
    let cfg = AuthorizationConfig {
        users: vec![UserConfig {
            nkey: Some(nkey_public().to_owned()),
            ..UserConfig::default()
        }],
        ..AuthorizationConfig::default()
    };
    let auth = Authenticator::from_config(&cfg).expect("enabled");
    for seed in ["nkey_url", "nkey_std"] {
        let json = std::fs::read(corpus_dir("connect_json").join(seed)).expect("seed");
        let opts: natrix::protocol::info::ConnectOptions =
            serde_json::from_slice(&json).expect("CONNECT JSON");
        assert!(
            matches!(auth.check(&opts, Some(NONCE)), Decision::Accept(_)),
            "{seed} is not accepted"
        );
    }
}
