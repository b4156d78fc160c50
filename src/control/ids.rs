//! Ids as AWS makes them: 10 lower-case alphanumerics for APIs and resources, 6 for
//! deployments (`id` fields in LocalStack's AWS-recorded snapshots: `"id": "<id:1>"` with
//! values like `ekv2x7g1oh` and `7c6yxz`).

/// `len` random lower-case alphanumerics.
pub fn new_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// A new id of `len` characters that `taken` does not know.
pub fn unused(len: usize, taken: impl Fn(&str) -> bool) -> String {
    loop {
        let id = new_id(len);
        if !taken(&id) {
            return id;
        }
    }
}

/// An API or resource id.
pub fn long_id() -> String {
    new_id(10)
}

/// A deployment id.
pub fn deployment_id() -> String {
    new_id(6)
}

/// Now, epoch seconds (the wire's timestamps).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_aws_lengths_and_alphabet() {
        for (id, len) in [(super::long_id(), 10), (super::deployment_id(), 6)] {
            assert_eq!(id.len(), len);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        }
        assert_ne!(super::long_id(), super::long_id());
    }
}
