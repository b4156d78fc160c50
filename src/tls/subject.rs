//! A verified client certificate as API Gateway shows it to later phases:
//! `$context.identity.clientCert` with `clientCertPem`, `subjectDN`, `issuerDN`,
//! `serialNumber` and `validity.notBefore`/`notAfter`.
//!
//! rustls verifies the chain but exposes only DER; reading these few fields needs a few lines
//! of DER walking, not a full X.509 library. Names are written as RFC 4514 does (last RDN
//! first, `CN=client,O=Example`), dates as OpenSSL prints them (`May 28 12:30:02 2019 GMT`).

/// `$context.identity.clientCert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The leaf certificate, PEM.
    pub pem: String,
    /// Subject distinguished name.
    pub subject_dn: String,
    /// Issuer distinguished name.
    pub issuer_dn: String,
    /// Serial number, colon-separated hex bytes.
    pub serial_number: String,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
}

/// The fields of a DER certificate, or `None` when it cannot be read.
pub fn client_cert(der: &[u8]) -> Option<ClientCert> {
    let mut tbs = tbs(der)?;
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.2;
    }
    let (_, serial, rest) = element(tbs)?;
    let (_, _signature, rest) = element(rest)?;
    let (_, issuer, rest) = element(rest)?;
    let (_, validity, rest) = element(rest)?;
    let (_, subject, _) = element(rest)?;
    let (t1, before, after) = element(validity)?;
    let (t2, after, _) = element(after)?;
    Some(ClientCert {
        pem: pem(der),
        subject_dn: format_name(subject)?,
        issuer_dn: format_name(issuer)?,
        serial_number: serial
            .iter()
            .skip_while(|&&b| b == 0 && serial.len() > 1)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        not_before: format_time(t1, before)?,
        not_after: format_time(t2, after)?,
    })
}

/// The `tbsCertificate` contents of a DER certificate.
fn tbs(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let (tag, cert, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = element(cert)?;
    (tag == SEQUENCE).then_some(tbs)
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// `May 28 12:30:02 2019 GMT`.
fn format_time(tag: u8, value: &[u8]) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let text = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r).and_then(|d| d.parse::<u32>().ok());
    let month = MONTHS.get(usize::try_from(num(0..2)?).ok()?.checked_sub(1)?)?;
    let (day, h, m, sec) = (num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    Some(format!(
        "{month} {day:>2} {h:02}:{m:02}:{sec:02} {year} GMT"
    ))
}

/// PEM text of a DER certificate.
fn pem(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

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
    client_cert(cert).map(|c| c.subject_dn)
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
    fn every_field_of_a_client_certificate() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name = rcgen::DistinguishedName::new();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "client-1");
        leaf.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0a, 0xbc, 0x01]));
        leaf.not_before = rcgen::date_time_ymd(2019, 5, 28);
        leaf.not_after = rcgen::date_time_ymd(2051, 1, 2);
        let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
        let cert = client_cert(leaf.der()).unwrap();
        assert_eq!(cert.subject_dn, "CN=client-1");
        assert_eq!(cert.issuer_dn, "CN=Test CA");
        assert_eq!(cert.serial_number, "0a:bc:01");
        assert_eq!(cert.not_before, "May 28 00:00:00 2019 GMT");
        assert_eq!(cert.not_after, "Jan  2 00:00:00 2051 GMT");
        assert_eq!(
            cert.pem.replace("\r\n", "\n"),
            leaf.pem().replace("\r\n", "\n")
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
