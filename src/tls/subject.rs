//! The subject of a verified client certificate, as `$context.identity.clientCert.subjectDN`.
//!
//! rustls verifies the chain but exposes only DER; reading one `Name` needs a few lines of DER
//! walking, not a full X.509 library. The name is written as RFC 4514 does (last RDN first,
//! `CN=client,O=Example`), which is how API Gateway shows it.

/// One DER element: its tag and contents, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The subject DN of a DER certificate, or `None` when it cannot be read.
pub fn subject_dn(cert: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    let (tag, cert, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    // [0] version is optional; then serial, signature algorithm, issuer, validity, subject.
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = element(tbs)?.2;
    }
    let (tag, name, _) = element(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    format_name(name)
}

/// RFC 4514 string of a `Name`'s contents.
fn format_name(mut name: &[u8]) -> Option<String> {
    let mut rdns: Vec<String> = Vec::new();
    while !name.is_empty() {
        let (_, set, rest) = element(name)?;
        name = rest;
        let mut parts: Vec<String> = Vec::new();
        let mut set = set;
        while !set.is_empty() {
            let (_, atv, rest) = element(set)?;
            set = rest;
            let (_, oid, rest) = element(atv)?;
            let (vtag, value, _) = element(rest)?;
            parts.push(format!(
                "{}={}",
                attribute_name(oid),
                attribute_value(vtag, value)
            ));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// Short name of a well-known attribute, else its dotted OID.
fn attribute_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x55, 0x04, 0x05] => "SERIALNUMBER".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress".into(),
        _ => dotted(oid),
    }
}

fn dotted(oid: &[u8]) -> String {
    let mut out = String::new();
    let mut value: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if out.is_empty() && i < 8 {
                let (a, b) = if value < 80 {
                    (value / 40, value % 40)
                } else {
                    (2, value - 80)
                };
                out = format!("{a}.{b}");
            } else {
                out.push_str(&format!(".{value}"));
            }
            value = 0;
        }
    }
    out
}

/// Text of a string value with RFC 4514 escapes; other types as `#hex`.
fn attribute_value(tag: u8, value: &[u8]) -> String {
    const STRINGS: [u8; 5] = [0x0c, 0x13, 0x16, 0x14, 0x1a];
    let text = match std::str::from_utf8(value) {
        Ok(s) if STRINGS.contains(&tag) => s,
        _ => {
            return format!(
                "#{}",
                value.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        }
    };
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == text.len() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_of_a_generated_certificate_in_rfc4514_order() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["client.test".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "DE");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme, Inc");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client-1");
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_dn(cert.der()).as_deref(),
            Some("CN=client-1,O=Acme\\, Inc,C=DE")
        );
    }

    #[test]
    fn garbage_is_not_a_subject() {
        assert_eq!(subject_dn(b""), None);
        assert_eq!(subject_dn(&[0x30, 0x82, 0xff]), None);
        assert_eq!(subject_dn(&[0x30, 0x03, 0x02, 0x01, 0x01]), None);
    }

    #[test]
    fn unknown_attributes_are_dotted_oids() {
        assert_eq!(
            dotted(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]),
            "1.3.6.1.4.1.311"
        );
    }
}
