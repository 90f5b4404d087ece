//! Sans-IO NATS subject rules: validation, wildcard matching and overlap.
//!
//! A subject is a sequence of tokens separated by `.`. Only a token that is
//! exactly `*` (one token) or `>` (one or more trailing tokens) is a wildcard;
//! `f*o` and `>foo` are ordinary literal tokens. Comparison is byte-wise, so
//! any UTF-8 (or even control bytes other than the whitespace listed below) is
//! allowed inside a token.

/// Token separator.
const SEP: u8 = b'.';
/// Single-token wildcard.
const PWC: &[u8] = b"*";
/// Trailing multi-token wildcard.
const FWC: &[u8] = b">";

/// Bytes that may never appear in a subject (they delimit protocol fields).
#[inline]
fn is_forbidden_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

/// Iterates over the tokens of a subject without allocating.
#[inline]
fn tokens(subject: &[u8]) -> std::slice::Split<'_, u8, impl FnMut(&u8) -> bool> {
    subject.split(|&b| b == SEP)
}

/// A SUB subject is valid: non-empty tokens separated by '.', no ' ', '\t', '\r', '\n', '\x0c' anywhere; a token that is exactly ">" only as the last token. ("f*o" and ">foo" are literal tokens.)
pub fn is_valid_subscribe_subject(subject: &[u8]) -> bool {
    if subject.is_empty() || subject.iter().any(|&b| is_forbidden_byte(b)) {
        return false;
    }
    let mut seen_fwc = false;
    for token in tokens(subject) {
        if token.is_empty() || seen_fwc {
            return false;
        }
        seen_fwc = token == FWC;
    }
    true
}

/// A publish subject a pedantic client may use: valid as above and no token is exactly "*" or ">".
pub fn is_valid_publish_subject(subject: &[u8]) -> bool {
    is_valid_subscribe_subject(subject) && is_literal(subject)
}

/// A publish subject with an empty token (or empty) matches nothing at all (nats-server drops it).
pub fn has_empty_token(subject: &[u8]) -> bool {
    subject.first().is_none_or(|&b| b == SEP)
        || subject.last() == Some(&SEP)
        || subject.windows(2).any(|w| w == [SEP, SEP])
}

/// True when no token is exactly "*" or ">".
pub fn is_literal(subject: &[u8]) -> bool {
    tokens(subject).all(|t| t != PWC && t != FWC)
}

/// Does a (possibly wildcard) subscription subject match a published subject? Token-wise; a published subject's own "*"/">" tokens are literals (nats-server delivers a publish to `foo.*` literally to `SUB foo.*`, and to `SUB foo.>`/`SUB >`/`SUB *.*`). Used for one-off checks (reply matching) and as the reference in tests.
///
/// A published subject with an empty token matches nothing. In `pattern`, a
/// `>` token matches everything from its position on (at least one token).
pub fn subject_matches(pattern: &[u8], subject: &[u8]) -> bool {
    if has_empty_token(subject) {
        return false;
    }
    let mut pat = tokens(pattern);
    let mut sub = tokens(subject);
    loop {
        match (pat.next(), sub.next()) {
            (None, None) => return true,
            (Some(p), Some(_)) if p == FWC => return true,
            (Some(p), Some(_)) if p == PWC => {}
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

/// Do two subscription subjects (either may have wildcards) have any subject in common? (Used later to refuse overlapping JetStream streams.)
///
/// A subject with an empty token can match nothing, so it overlaps nothing.
pub fn subjects_overlap(a: &[u8], b: &[u8]) -> bool {
    if has_empty_token(a) || has_empty_token(b) {
        return false;
    }
    let mut ta = tokens(a);
    let mut tb = tokens(b);
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return true,
            // `>` needs at least one token, and the other side has one here,
            // which any non-empty literal instantiates.
            (Some(x), Some(y)) if x == FWC || y == FWC => return true,
            (Some(x), Some(y)) if x == PWC || y == PWC || x == y => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subscribe_validation_accepts() {
        for s in [
            &b"foo"[..],
            b"foo.bar",
            b"foo.*",
            b"*",
            b">",
            b"foo.>",
            b"*.*.>",
            b"f*o",
            b">foo",
            b"foo.>bar",
            b"foo.b>",
            b"**.>>",
            "fü.bar".as_bytes(),
            b"foo.\x01.bar",
            b"\x7f",
            b"$SYS.>",
            b"_INBOX.abc.*",
        ] {
            assert!(
                is_valid_subscribe_subject(s),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn subscribe_validation_rejects() {
        for s in [
            &b""[..],
            b".",
            b"..",
            b"foo..bar",
            b".foo",
            b"foo.",
            b"foo.>.bar",
            b">.foo",
            b">.>",
            b"foo bar",
            b"foo\tbar",
            b"foo\rbar",
            b"foo\nbar",
            b"foo\x0cbar",
            b" foo",
            b"foo ",
        ] {
            assert!(
                !is_valid_subscribe_subject(s),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn publish_validation() {
        assert!(is_valid_publish_subject(b"foo.bar"));
        assert!(is_valid_publish_subject(b"f*o.>x"));
        assert!(is_valid_publish_subject("ü.\x01".as_bytes()));
        assert!(!is_valid_publish_subject(b"foo.*"));
        assert!(!is_valid_publish_subject(b"foo.>"));
        assert!(!is_valid_publish_subject(b"*.foo"));
        assert!(!is_valid_publish_subject(b"foo..bar"));
        assert!(!is_valid_publish_subject(b""));
        assert!(!is_valid_publish_subject(b"foo bar"));
    }

    #[test]
    fn empty_tokens() {
        for s in [
            &b""[..],
            b".",
            b".foo",
            b"foo.",
            b"foo..bar",
            b"a.b..",
            b"..",
        ] {
            assert!(has_empty_token(s), "{:?}", String::from_utf8_lossy(s));
        }
        for s in [&b"foo"[..], b"a.b", b"*", b">", b"a.*.>", b" "] {
            assert!(!has_empty_token(s), "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn literal_detection() {
        assert!(is_literal(b"foo.bar"));
        assert!(is_literal(b"f*o.>x.**"));
        assert!(!is_literal(b"foo.*"));
        assert!(!is_literal(b"*"));
        assert!(!is_literal(b">"));
        assert!(!is_literal(b"a.>"));
        assert!(!is_literal(b"a.*.b"));
    }

    #[test]
    fn matching_basics() {
        assert!(subject_matches(b"foo.bar", b"foo.bar"));
        assert!(!subject_matches(b"foo.bar", b"foo.baz"));
        assert!(!subject_matches(b"foo.bar", b"foo"));
        assert!(!subject_matches(b"foo", b"foo.bar"));
        assert!(!subject_matches(b"foo.bar", b"foo.bar.baz"));
        assert!(!subject_matches(b"Foo", b"foo"), "case-sensitive");
        assert!(subject_matches("fü.*".as_bytes(), "fü.bar".as_bytes()));
    }

    #[test]
    fn matching_star() {
        assert!(subject_matches(b"foo.*", b"foo.bar"));
        assert!(subject_matches(b"*.bar", b"foo.bar"));
        assert!(subject_matches(b"*.*", b"foo.bar"));
        assert!(subject_matches(b"*", b"foo"));
        assert!(!subject_matches(b"foo.*", b"foo"));
        assert!(!subject_matches(b"foo.*", b"foo.bar.baz"));
        assert!(!subject_matches(b"*", b"foo.bar"));
        assert!(subject_matches(b"a.*.c", b"a.b.c"));
        assert!(!subject_matches(b"a.*.c", b"a.b.d"));
        // `f*o` is a literal token, not a pattern.
        assert!(!subject_matches(b"f*o", b"foo"));
        assert!(subject_matches(b"f*o", b"f*o"));
    }

    #[test]
    fn matching_gt() {
        assert!(subject_matches(b"foo.>", b"foo.bar"));
        assert!(subject_matches(b"foo.>", b"foo.bar.baz.qux"));
        assert!(
            !subject_matches(b"foo.>", b"foo"),
            "> needs at least one token"
        );
        assert!(subject_matches(b">", b"foo"));
        assert!(subject_matches(b">", b"foo.bar.baz"));
        assert!(subject_matches(b"*.>", b"a.b"));
        assert!(!subject_matches(b"*.>", b"a"));
        assert!(!subject_matches(b"foo.>", b"bar.baz"));
        // `>foo` is a literal token.
        assert!(!subject_matches(b">foo", b"foo"));
    }

    #[test]
    fn matching_literal_wildcard_publish() {
        // A published `*` / `>` token is just a literal token.
        assert!(subject_matches(b"foo.*", b"foo.*"));
        assert!(subject_matches(b"foo.>", b"foo.*"));
        assert!(subject_matches(b">", b"foo.*"));
        assert!(subject_matches(b"*.*", b"foo.*"));
        assert!(subject_matches(b"foo.>", b"foo.>"));
        assert!(!subject_matches(b"foo.bar", b"foo.*"));
        assert!(!subject_matches(b"foo.*.baz", b"foo.>"));
    }

    #[test]
    fn matching_empty_token_subjects_match_nothing() {
        for s in [&b""[..], b"foo.", b".foo", b"foo..bar", b"."] {
            for p in [
                &b">"[..],
                b"*",
                b"*.*",
                b"foo.>",
                b"foo.*",
                b"*.>",
                b"foo..bar",
            ] {
                assert!(!subject_matches(p, s), "{:?} {:?}", p, s);
            }
        }
    }

    #[test]
    fn overlap_examples() {
        assert!(subjects_overlap(b"foo.bar", b"foo.bar"));
        assert!(!subjects_overlap(b"foo.bar", b"foo.baz"));
        assert!(subjects_overlap(b"foo.*", b"foo.bar"));
        assert!(subjects_overlap(b"foo.*", b"*.bar"));
        assert!(subjects_overlap(b"foo.>", b"*.bar.baz"));
        assert!(subjects_overlap(b">", b"a.b.c"));
        assert!(!subjects_overlap(b"foo.>", b"foo"));
        assert!(!subjects_overlap(b"foo.*", b"foo.*.*"));
        assert!(subjects_overlap(b"foo.*.>", b"foo.>"));
        assert!(!subjects_overlap(b"foo.*.>", b"foo.*"));
        assert!(!subjects_overlap(b"a.*", b"b.>"));
        assert!(!subjects_overlap(b"foo..bar", b">"));
    }

    /// Small alphabet so that collisions between random patterns are common.
    fn pattern_strategy() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "*"]), 0..4),
            prop::sample::select(vec!["a", "b", "*", ">"]),
        )
            .prop_map(|(init, last)| {
                let mut toks = init;
                toks.push(last);
                toks.join(".").into_bytes()
            })
    }

    /// Every literal subject over {a, b, c} with 1..=max_tokens tokens
    /// (`c` stands for any token that appears in no pattern).
    fn all_subjects(max_tokens: usize) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut level: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..max_tokens {
            let mut next = Vec::new();
            for prefix in &level {
                for t in [&b"a"[..], b"b", b"c"] {
                    let mut s = prefix.clone();
                    if !s.is_empty() {
                        s.push(b'.');
                    }
                    s.extend_from_slice(t);
                    next.push(s);
                }
            }
            out.extend(next.iter().cloned());
            level = next;
        }
        out
    }

    proptest! {
        #[test]
        fn overlap_matches_brute_force(a in pattern_strategy(), b in pattern_strategy()) {
            prop_assert!(is_valid_subscribe_subject(&a));
            prop_assert!(is_valid_subscribe_subject(&b));
            let max_tokens = tokens(&a).count().max(tokens(&b).count());
            let brute = all_subjects(max_tokens)
                .iter()
                .any(|s| subject_matches(&a, s) && subject_matches(&b, s));
            prop_assert_eq!(subjects_overlap(&a, &b), brute);
            prop_assert_eq!(subjects_overlap(&b, &a), brute);
        }

        #[test]
        fn validity_matches_definition(toks in prop::collection::vec(
            prop::sample::select(vec!["", "a", "*", ">", "f*o", ">x", "a b", "\x01", "ü"]), 1..5)
        ) {
            let s = toks.join(".");
            let expected = toks.iter().all(|t| !t.is_empty() && !t.contains(' '))
                && toks.iter().rev().skip(1).all(|t| *t != ">");
            prop_assert_eq!(is_valid_subscribe_subject(s.as_bytes()), expected);
            let literal = toks.iter().all(|t| *t != "*" && *t != ">");
            prop_assert_eq!(is_valid_publish_subject(s.as_bytes()), expected && literal);
            prop_assert_eq!(is_literal(s.as_bytes()), literal);
            prop_assert_eq!(has_empty_token(s.as_bytes()), toks.iter().any(|t| t.is_empty()));
        }
    }
}
