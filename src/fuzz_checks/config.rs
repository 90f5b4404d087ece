//! The TOML config: any text is a config or an error naming a real place in the text, never
//! a panic; an accepted config round-trips through TOML and starts what the server builds
//! from it (listen address, authenticator).

use crate::auth::Authenticator;
use crate::config::{Config, ConfigError};

/// The bytes are a config file (non-UTF-8 files are refused before parsing).
pub fn check_config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A position may point just past the last line (a missing value at EOF).
    let max_line = text.split('\n').count() + 1;
    match Config::from_toml_str(text, "fuzz.toml") {
        Ok(cfg) => {
            let again = toml::to_string(&cfg).expect("an accepted config serialises");
            let back = Config::from_toml_str(&again, "again.toml")
                .unwrap_or_else(|e| panic!("re-serialised config refused: {e}\n{again}"));
            assert_eq!(back, cfg, "config changes through TOML:\n{again}");
            cfg.listen_addr().expect("a validated address");
            if let Some(auth) = &cfg.authorization {
                let _ = Authenticator::from_config(auth);
            }
        }
        Err(e) => {
            let _ = e.to_string();
            match e {
                ConfigError::Parse { line, column, .. } => {
                    assert!((1..=max_line).contains(&line), "line {line} of {max_line}");
                    assert!(column >= 1, "column {column}");
                }
                ConfigError::Invalid {
                    line: Some(line), ..
                } => assert!((1..=max_line).contains(&line), "line {line} of {max_line}"),
                ConfigError::Invalid { .. } | ConfigError::Io { .. } => {}
            }
        }
    }
}
