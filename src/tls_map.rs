//! `tls.verify_and_map`: the names a verified client certificate offers as a user name, in
//! nats-server's order: email SANs, DNS SANs, URI SANs, then the subject as Go prints an
//! RDN sequence (`CN=alice,O=natrix tests`: last RDN first). Sans-IO: DER bytes in, names out.
//!
//! Only the few DER structures needed are walked (certificate → tbsCertificate → subject and
//! the subjectAltName extension); anything malformed yields no names (and so no user).

/// One DER element: its tag and contents.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Splits the first DER element off `input`.
fn next_tlv<'a>(input: &mut &'a [u8]) -> Option<Tlv<'a>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let (body, after) = rest.split_at(len);
    *input = after;
    Some(Tlv { tag, body })
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// subjectAltName, 2.5.29.17.
const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11];

/// The user names a DER certificate offers, in the order nats-server tries them.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    parse(der).unwrap_or_default()
}

/// A DER certificate's subject (as nats-server prints it) and the DER encoding of its
/// subjectPublicKeyInfo (what `/connz`'s `tls_peer_certs[].spki_sha256` hashes).
pub fn subject_and_spki(der: &[u8]) -> Option<(String, &[u8])> {
    let mut input = der;
    let cert = next_tlv(&mut input).filter(|t| t.tag == SEQUENCE)?;
    let mut cert_body = cert.body;
    let tbs = next_tlv(&mut cert_body).filter(|t| t.tag == SEQUENCE)?;
    let mut fields = tbs.body;
    let mut first = next_tlv(&mut fields)?;
    if first.tag == 0xa0 {
        first = next_tlv(&mut fields)?;
    }
    let _serial = first;
    for _ in 0..3 {
        next_tlv(&mut fields)?; // signature, issuer, validity
    }
    let subject = next_tlv(&mut fields).filter(|t| t.tag == SEQUENCE)?;
    let before = fields;
    next_tlv(&mut fields).filter(|t| t.tag == SEQUENCE)?;
    let spki = &before[..before.len() - fields.len()];
    Some((rdn_string(subject.body)?, spki))
}

fn parse(der: &[u8]) -> Option<Vec<String>> {
    let mut input = der;
    let cert = next_tlv(&mut input).filter(|t| t.tag == SEQUENCE)?;
    let mut cert_body = cert.body;
    let tbs = next_tlv(&mut cert_body).filter(|t| t.tag == SEQUENCE)?;
    let mut fields = tbs.body;
    let mut first = next_tlv(&mut fields)?;
    if first.tag == 0xa0 {
        first = next_tlv(&mut fields)?; // version, then the serial number
    }
    let _serial = first;
    let _signature = next_tlv(&mut fields)?;
    let _issuer = next_tlv(&mut fields)?;
    let _validity = next_tlv(&mut fields)?;
    let subject = next_tlv(&mut fields).filter(|t| t.tag == SEQUENCE)?;
    let _spki = next_tlv(&mut fields)?;
    let (mut emails, mut dns, mut uris) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(t) = next_tlv(&mut fields) {
        if t.tag != 0xa3 {
            continue;
        }
        let mut ext = t.body;
        let exts = next_tlv(&mut ext).filter(|t| t.tag == SEQUENCE)?;
        let mut list = exts.body;
        while let Some(e) = next_tlv(&mut list) {
            let mut e = e.body;
            let oid = next_tlv(&mut e)?;
            if oid.tag != OID || oid.body != SAN_OID {
                continue;
            }
            let mut value = next_tlv(&mut e)?;
            if value.tag == 0x01 {
                value = next_tlv(&mut e)?; // critical flag
            }
            let mut octets = value.body;
            let names = next_tlv(&mut octets).filter(|t| t.tag == SEQUENCE)?;
            let mut names = names.body;
            while let Some(n) = next_tlv(&mut names) {
                let text = String::from_utf8_lossy(n.body).into_owned();
                match n.tag {
                    0x81 => emails.push(text),
                    0x82 => dns.push(text),
                    0x86 => uris.push(text),
                    _ => {}
                }
            }
        }
    }
    let mut out = emails;
    out.append(&mut dns);
    out.append(&mut uris);
    out.push(rdn_string(subject.body)?);
    Some(out)
}

/// The subject as nats-server prints it: Go parses the Name into fixed fields and prints
/// `Name.ToRDNSequence().String()`, i.e. SERIALNUMBER, CN, OU, O, POSTALCODE, STREET, L, ST,
/// C (reversed field order; several values of one field joined by `+`; only the last CN and
/// serial number; attributes of other types are not printed).
fn rdn_string(name: &[u8]) -> Option<String> {
    // Go's field order before the reversal.
    const ORDER: [u8; 9] = [6, 8, 7, 9, 17, 10, 11, 3, 5];
    let mut values: [Vec<String>; 9] = Default::default();
    let mut input = name;
    while let Some(set) = next_tlv(&mut input) {
        if set.tag != SET {
            return None;
        }
        let mut body = set.body;
        while let Some(atv) = next_tlv(&mut body) {
            let mut atv_body = atv.body;
            let oid = next_tlv(&mut atv_body).filter(|t| t.tag == OID)?;
            let value = next_tlv(&mut atv_body)?;
            let [0x55, 0x04, x] = oid.body else { continue };
            let Some(slot) = ORDER.iter().position(|t| t == x) else {
                continue;
            };
            let text = String::from_utf8_lossy(value.body).into_owned();
            if matches!(x, 3 | 5) {
                values[slot] = vec![text]; // CN, SERIALNUMBER: the last one wins
            } else {
                values[slot].push(text);
            }
        }
    }
    let rdns: Vec<String> = ORDER
        .iter()
        .zip(&values)
        .rev()
        .filter(|(_, v)| !v.is_empty())
        .map(|(t, v)| {
            let name = attribute_name(*t);
            v.iter()
                .map(|v| format!("{name}={}", escape(v)))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Some(rdns.join(","))
}

fn attribute_name(x: u8) -> &'static str {
    match x {
        3 => "CN",
        5 => "SERIALNUMBER",
        6 => "C",
        7 => "L",
        8 => "ST",
        9 => "STREET",
        10 => "O",
        11 => "OU",
        _ => "POSTALCODE",
    }
}

/// Go's escaping of an attribute value.
fn escape(value: &str) -> String {
    let n = value.chars().count();
    let mut out = String::with_capacity(value.len());
    for (k, c) in value.chars().enumerate() {
        let esc = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k + 1 == n,
            '#' => k == 0,
            _ => false,
        };
        if esc {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name);
        CertificateDer::from_pem_file(path).unwrap().to_vec()
    }

    #[test]
    fn client_certificate_names_in_nats_server_order() {
        assert_eq!(
            certificate_names(&fixture("client-cert.pem")),
            [
                "alice@example.com",
                "alice.example.com",
                "CN=alice,O=natrix tests"
            ]
        );
        assert_eq!(
            certificate_names(&fixture("server-cert.pem")),
            ["localhost", "CN=localhost,O=natrix tests"]
        );
    }

    #[test]
    fn subject_and_public_key_info() {
        let der = fixture("client-cert.pem");
        let (subject, spki) = subject_and_spki(&der).unwrap();
        assert_eq!(subject, "CN=alice,O=natrix tests");
        // A DER SEQUENCE, and the certificate holds it verbatim.
        assert_eq!(spki[0], SEQUENCE);
        assert!(der.windows(spki.len()).any(|w| w == spki));
        assert!(subject_and_spki(b"\x30\x03junk").is_none());
    }

    #[test]
    fn garbage_yields_no_names() {
        assert!(certificate_names(b"").is_empty());
        assert!(certificate_names(&[0x30, 0x82, 0xff]).is_empty());
        let mut der = fixture("client-cert.pem");
        der.truncate(der.len() / 2);
        assert!(certificate_names(&der).is_empty());
    }

    #[test]
    fn go_escaping() {
        assert_eq!(escape(" a,b#"), "\\ a\\,b#");
        assert_eq!(escape("#x "), "\\#x\\ ");
    }
}
