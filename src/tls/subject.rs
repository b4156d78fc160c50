//! A verified client certificate as API Gateway shows it to later phases:
//! `$context.identity.clientCert` with `clientCertPem`, `subjectDN`, `issuerDN`,
//! `serialNumber` and `validity.notBefore`/`notAfter`.
//!
//! rustls verifies the chain but exposes only DER; `x509-parser` reads it, and this module
//! only decides how each field is written. The formats are what API Gateway puts in its
//! events (AWS's sample mTLS event has `subjectDN` `C=US,ST=Washington,…,CN=My Client`,
//! `serialNumber` `1` and `notAfter` `Aug  5 00:28:21 2120 GMT`; its docs show long serials as
//! `a1:a1:…`), which are OpenSSL's print formats:
//!
//! - names keep the certificate's RDN order, joined by `,` without spaces
//!   (`C=US,O=Example,CN=client`), values escaped as RFC 4514 requires;
//! - serial numbers that fit in 63 bits are decimal (`1`), longer ones colon-separated hex
//!   bytes (`a1:a1:…`);
//! - dates as `May 28 12:30:02 2019 GMT`, the day padded with a space (`Aug  5`).

use std::fmt::Write;

use data_encoding::{BASE64, HEXLOWER};
use x509_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::certificate::{X509Certificate, X509CertificateParser};
use x509_parser::nom::Parser;
use x509_parser::oid_registry::{
    Oid, OID_DOMAIN_COMPONENT, OID_PKCS9_EMAIL_ADDRESS, OID_USERID, OID_X509_COMMON_NAME,
    OID_X509_COUNTRY_NAME, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATIONAL_UNIT,
    OID_X509_ORGANIZATION_NAME, OID_X509_SERIALNUMBER, OID_X509_STATE_OR_PROVINCE_NAME,
    OID_X509_STREET_ADDRESS,
};
use x509_parser::time::ASN1Time;
use x509_parser::utils::format_serial;
use x509_parser::x509::X509Name;

/// `$context.identity.clientCert`: what API Gateway tells later phases (here, access logs)
/// about a client that mutual TLS has verified, computed once per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The leaf certificate, PEM (`clientCertPem`), for backends that check it themselves.
    pub pem: String,
    /// Subject distinguished name (`subjectDN`), e.g. `C=US,O=Example,CN=client`.
    pub subject_dn: String,
    /// Issuer distinguished name (`issuerDN`), same format as the subject.
    pub issuer_dn: String,
    /// Serial number (`serialNumber`): decimal when it fits in 63 bits, else colon-separated
    /// hex bytes.
    pub serial_number: String,
    /// Start of validity (`validity.notBefore`), e.g. `May 28 12:30:02 2019 GMT`.
    pub not_before: String,
    /// End of validity (`validity.notAfter`), same format.
    pub not_after: String,
}

/// The fields of a DER certificate, or `None` when it cannot be read (it comes off the network,
/// so anything short of one whole certificate is refused rather than guessed at).
pub fn client_cert(der: &[u8]) -> Option<ClientCert> {
    // Extensions are not shown, so they are not parsed: one less way for an unusual but
    // verified certificate to lose its identity.
    let mut parser = X509CertificateParser::new().with_deep_parse_extensions(false);
    let (rest, cert) = parser.parse(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    Some(ClientCert {
        pem: pem(der),
        subject_dn: distinguished_name(cert.subject()),
        issuer_dn: distinguished_name(cert.issuer()),
        serial_number: serial_number(&cert),
        not_before: openssl_time(cert.validity().not_before)?,
        not_after: openssl_time(cert.validity().not_after)?,
    })
}

/// PEM text of a DER certificate: 64-column base64 between the usual markers, `\n` line ends.
fn pem(der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for (i, c) in b64.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push_str("\n-----END CERTIFICATE-----\n");
    out
}

/// The serial number as OpenSSL prints it (and API Gateway shows it): decimal when the
/// positive value fits in a signed 64-bit integer, else its bytes in colon-separated hex
/// without the sign byte. A negative serial (RFC 5280 forbids them, some CAs issue them anyway)
/// is shown as its encoded bytes.
fn serial_number(cert: &X509Certificate) -> String {
    let raw = cert.raw_serial();
    if raw.first().is_some_and(|&b| b & 0x80 != 0) {
        return format_serial(raw);
    }
    match i64::try_from(&cert.serial) {
        Ok(n) => n.to_string(),
        Err(_) => format_serial(&cert.serial.to_bytes_be()),
    }
}

/// `May 28 12:30:02 2019 GMT`, as OpenSSL's `ASN1_TIME_print` writes it. UTCTime and
/// GeneralizedTime both arrive here as UTC.
fn openssl_time(time: ASN1Time) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = time.to_datetime();
    let month = MONTHS.get(usize::from(u8::from(t.month())).checked_sub(1)?)?;
    Some(format!(
        "{month} {:>2} {:02}:{:02}:{:02} {} GMT",
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    ))
}

/// A name in the certificate's RDN order, `,` between RDNs and `+` between the attributes of
/// a multi-valued one; each value escaped as RFC 4514 requires.
fn distinguished_name(name: &X509Name) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            out.push_str(&attribute_name(atv.attr_type()));
            out.push('=');
            attribute_value(atv.attr_value(), &mut out);
        }
    }
    out
}

/// Short name of a well-known attribute, spelled as OpenSSL prints it (`serialNumber`,
/// `street` and `emailAddress` where RFC 4514 would use upper case or none), else its dotted
/// OID.
fn attribute_name(oid: &Oid) -> String {
    const NAMES: [(Oid<'static>, &str); 11] = [
        (OID_X509_COMMON_NAME, "CN"),
        (OID_X509_COUNTRY_NAME, "C"),
        (OID_X509_LOCALITY_NAME, "L"),
        (OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (OID_X509_ORGANIZATION_NAME, "O"),
        (OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (OID_X509_STREET_ADDRESS, "street"),
        (OID_DOMAIN_COMPONENT, "DC"),
        (OID_USERID, "UID"),
        (OID_X509_SERIALNUMBER, "serialNumber"),
        (OID_PKCS9_EMAIL_ADDRESS, "emailAddress"),
    ];
    NAMES
        .iter()
        .find(|(known, _)| known == oid)
        .map_or_else(|| oid.to_id_string(), |(_, short)| (*short).to_string())
}

/// A string value with RFC 4514 escapes; a value of any other type (or an undecodable
/// string) as `#` and the hex of its DER encoding, as RFC 4514 writes it.
fn attribute_value(value: &Any, out: &mut String) {
    let text = match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString
        | Tag::T61String => std::str::from_utf8(value.data).ok().map(str::to_string),
        Tag::BmpString => value.as_bmpstring().ok().map(|s| s.string()),
        Tag::UniversalString => value.as_universalstring().ok().map(|s| s.string()),
        _ => None,
    };
    match text {
        Some(text) => escape(&text, out),
        None => {
            out.push('#');
            out.push_str(&HEXLOWER.encode(&value.to_der_vec().unwrap_or_default()));
        }
    }
}

/// RFC 4514 section 2.4: `"+,;<>\` anywhere, `#` or a space first and a space last take a
/// backslash; control characters (NUL must be) become `\XX` so a name cannot break a log line.
fn escape(text: &str, out: &mut String) {
    for (i, c) in text.char_indices() {
        let first = i == 0 && matches!(c, ' ' | '#');
        let last = c == ' ' && i + 1 == text.len();
        if first || last || matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\') {
            out.push('\\');
            out.push(c);
        } else if c.is_ascii_control() {
            let _ = write!(out, "\\{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name.push(rcgen::DnType::CountryName, "US");
        ca.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        (ca.self_signed(&key).unwrap(), key)
    }

    /// A self-signed certificate whose subject is `attributes`, in that order.
    fn with_subject(attributes: Vec<(rcgen::DnType, rcgen::DnValue)>) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in attributes {
            params.distinguished_name.push(kind, value);
        }
        params.self_signed(&key).unwrap()
    }

    fn with_serial(serial: &[u8]) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
        params.self_signed(&key).unwrap()
    }

    fn subject(cert: &rcgen::Certificate) -> String {
        client_cert(cert.der()).unwrap().subject_dn
    }

    fn utf8(kind: rcgen::DnType, value: &str) -> (rcgen::DnType, rcgen::DnValue) {
        (kind, rcgen::DnValue::Utf8String(value.into()))
    }

    #[test]
    fn every_field_of_a_client_certificate() {
        let (ca, ca_key) = ca();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name = rcgen::DistinguishedName::new();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "client-1");
        leaf.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01]));
        leaf.not_before = rcgen::date_time_ymd(2019, 5, 28);
        leaf.not_after = rcgen::date_time_ymd(2051, 8, 5);
        let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
        let cert = client_cert(leaf.der()).unwrap();
        assert_eq!(cert.subject_dn, "CN=client-1");
        assert_eq!(cert.issuer_dn, "C=US,O=Example,CN=Test CA");
        assert_eq!(cert.serial_number, "1");
        // UTCTime, then GeneralizedTime (years from 2050), single-digit day padded.
        assert_eq!(cert.not_before, "May 28 00:00:00 2019 GMT");
        assert_eq!(cert.not_after, "Aug  5 00:00:00 2051 GMT");
        assert_eq!(
            cert.pem.replace("\r\n", "\n"),
            leaf.pem().replace("\r\n", "\n")
        );
        assert!(cert.pem.lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn multi_attribute_names_keep_the_certificate_order() {
        use rcgen::DnType::*;
        let cert = with_subject(vec![
            utf8(CountryName, "US"),
            utf8(StateOrProvinceName, "Washington"),
            utf8(LocalityName, "Seattle"),
            utf8(OrganizationName, "Example"),
            utf8(OrganizationalUnitName, "Security"),
            utf8(CommonName, "client.example.com"),
        ]);
        assert_eq!(
            subject(&cert),
            "C=US,ST=Washington,L=Seattle,O=Example,OU=Security,CN=client.example.com"
        );
    }

    #[test]
    fn special_characters_in_values_are_escaped() {
        use rcgen::DnType::*;
        let cert = with_subject(vec![
            utf8(OrganizationName, "Acme, Inc"),
            utf8(OrganizationalUnitName, "R+D;\"Labs\" <x>\\"),
            utf8(CommonName, "#first and last "),
            utf8(LocalityName, " a\u{0}b\nc"),
        ]);
        assert_eq!(
            subject(&cert),
            r##"O=Acme\, Inc,OU=R\+D\;\"Labs\" \<x\>\\,CN=\#first and last\ ,L=\ a\00b\0Ac"##
        );
    }

    #[test]
    fn other_string_types_and_attribute_names() {
        let bmp = rcgen::BmpString::try_from("Grüße").unwrap();
        let universal = rcgen::UniversalString::try_from("Zürich").unwrap();
        let printable = rcgen::PrintableString::try_from("DE").unwrap();
        let cert = with_subject(vec![
            (
                rcgen::DnType::CountryName,
                rcgen::DnValue::PrintableString(printable),
            ),
            (
                rcgen::DnType::LocalityName,
                rcgen::DnValue::UniversalString(universal),
            ),
            (rcgen::DnType::CommonName, rcgen::DnValue::BmpString(bmp)),
            utf8(
                rcgen::DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3]),
                "DE",
            ),
            utf8(rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), "42"),
            utf8(
                rcgen::DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                "a@b.example",
            ),
        ]);
        assert_eq!(
            subject(&cert),
            "C=DE,L=Zürich,CN=Grüße,1.3.6.1.4.1.311.60.2.1.3=DE,serialNumber=42,\
             emailAddress=a@b.example"
        );
    }

    #[test]
    fn a_multi_valued_rdn_joins_its_attributes_with_plus() {
        use x509_parser::prelude::FromDer;
        // rcgen writes one attribute per RDN, so this Name is spelled out:
        // SEQUENCE { SET { C=US }, SET { CN=one, O="a+b" } }
        #[rustfmt::skip]
        let der = [
            0x30, 0x27,
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'U', b'S',
            0x31, 0x18,
            0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'o', b'n', b'e',
            0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x03, b'a', b'+', b'b',
        ];
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(distinguished_name(&name), r"C=US,CN=one+O=a\+b");
    }

    #[test]
    fn non_string_values_are_hex_of_their_encoding() {
        let mut out = String::new();
        let value = Any::from_tag_and_data(Tag::OctetString, &[0x48, 0x69]);
        attribute_value(&value, &mut out);
        assert_eq!(out, "#04024869");
    }

    #[test]
    fn serial_numbers_print_as_openssl_does() {
        let serial = |bytes: &[u8]| client_cert(with_serial(bytes).der()).unwrap().serial_number;
        assert_eq!(serial(&[0x01]), "1");
        assert_eq!(serial(&[0x0a, 0xbc, 0x01]), "703489");
        assert_eq!(
            serial(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            i64::MAX.to_string()
        );
        // Past 63 bits: hex bytes, without the sign byte the encoding adds.
        assert_eq!(
            serial(&[0x80, 0, 0, 0, 0, 0, 0, 0]),
            "80:00:00:00:00:00:00:00"
        );
        let long: Vec<u8> = (0xa1..=0xb4).collect();
        assert_eq!(
            serial(&long),
            "a1:a2:a3:a4:a5:a6:a7:a8:a9:aa:ab:ac:ad:ae:af:b0:b1:b2:b3:b4"
        );
        assert_eq!(serial(&[0x00, 0x00, 0x0a, 0x00]), "2560");
    }

    #[test]
    fn a_negative_serial_is_shown_as_encoded() {
        let mut der = with_serial(&[0x7e, 0x11]).der().to_vec();
        let at = der
            .windows(4)
            .position(|w| w == [0x02, 0x02, 0x7e, 0x11])
            .unwrap();
        der[at + 2] = 0xfe;
        assert_eq!(client_cert(&der).unwrap().serial_number, "fe:11");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(client_cert(b""), None);
        assert_eq!(client_cert(b"hello, world"), None);
        assert_eq!(client_cert(&[0x30, 0x82, 0xff]), None);
        assert_eq!(client_cert(&[0x30, 0x03, 0x02, 0x01, 0x01]), None);
        assert_eq!(client_cert(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        let der = with_serial(&[0x42]).der().to_vec();
        // Every truncation, and trailing bytes after a whole certificate, are refused.
        for end in 0..der.len() {
            assert_eq!(client_cert(&der[..end]), None, "prefix of {end} bytes");
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(client_cert(&trailing), None);
        // Corrupting any byte may or may not leave a readable certificate, but never panics.
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            let _ = client_cert(&bad);
        }
    }
}
