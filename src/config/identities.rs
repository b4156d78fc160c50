//! `identities.toml`: the local identity store behind `AWS_IAM` methods — IAM users, their
//! access keys, and their identity-based policies (IAM user guide: an identity policy allowing
//! `execute-api:Invoke` on an API's ARNs is what lets a user call it).
//!
//! ```toml
//! [users.alice]
//! account_id = "123456789012"          # default: [lambda] account_id
//! policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//!   "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:petstore/prod/*"}]}'''
//! access_keys = [{ id = "AKIAALICE00000000001", secret = "..." }]
//! ```

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::read_file;
use super::model::Entries;
use crate::auth::iam::{AccessKey, IamUser, Identities};
use crate::auth::policy::{AsWritten, Policy};

/// The store's file name, in the configuration folder.
pub const FILE: &str = "identities.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitiesFile {
    #[serde(default)]
    users: Entries<Spanned<String>, UserModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserModel {
    account_id: Option<Spanned<String>>,
    policy: Option<Spanned<String>>,
    #[serde(default)]
    access_keys: Vec<KeyModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyModel {
    id: Spanned<String>,
    secret: Spanned<String>,
    session_token: Option<Spanned<String>>,
}

/// Reads and checks `identities.toml` (absent: an empty store). `account` is the default
/// account of users.
pub(crate) fn load(dir: &Path, account: &str, sink: &mut Sink) -> Identities {
    let path = dir.join(FILE);
    if !path.exists() {
        return Identities::default();
    }
    let Some(src) = read_file::<IdentitiesFile>(&path, sink) else {
        return Identities::default();
    };
    let mut keys: Vec<(Box<str>, AccessKey)> = Vec::new();
    for (name, user) in &src.model.users {
        let field = join_key("users", name.get_ref());
        let before = sink.len();
        if !name
            .get_ref()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
            || name.get_ref().is_empty()
        {
            let message = format!(
                "`{}` is not an IAM user name (A-Z a-z 0-9 + = , . @ _ -)",
                name.get_ref()
            );
            sink.at(&path, src.line(name), &field, message);
        }
        let account_id = user
            .account_id
            .as_ref()
            .map_or(account, |a| a.get_ref().as_str());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            let line = user.account_id.as_ref().and_then(|a| src.line(a));
            let message = format!("`{account_id}` is not an AWS account id (12 digits)");
            sink.at(&path, line, format!("{field}.account_id"), message);
        }
        let policy =
            user.policy
                .as_ref()
                .and_then(|p| match Policy::parse(p.get_ref(), &AsWritten) {
                    Ok(policy) => Some(policy),
                    Err(e) => {
                        let message =
                            format!("the identity policy is not a valid policy document: {e}");
                        sink.at(&path, src.line(p), format!("{field}.policy"), message);
                        None
                    }
                });
        if user.access_keys.is_empty() {
            let message = "a user needs access_keys = [{ id = \"AKIA...\", secret = \"...\" }] to sign requests";
            sink.at(
                &path,
                src.line(name),
                format!("{field}.access_keys"),
                message,
            );
        }
        for key in &user.access_keys {
            let id = key.id.get_ref();
            if id.len() < 16 || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                let message = format!("`{id}` is not an access key id (16 to 128 of A-Z a-z 0-9)");
                sink.at(
                    &path,
                    src.line(&key.id),
                    format!("{field}.access_keys"),
                    message,
                );
            }
            if keys.iter().any(|(k, _)| **k == **id) {
                let message = format!("access key `{id}` is given twice");
                sink.at(
                    &path,
                    src.line(&key.id),
                    format!("{field}.access_keys"),
                    message,
                );
            }
            if key.secret.get_ref().len() < 16 {
                let message = "a secret access key has at least 16 characters";
                sink.at(
                    &path,
                    src.line(&key.secret),
                    format!("{field}.access_keys"),
                    message,
                );
            }
        }
        if sink.len() != before {
            continue;
        }
        let arn = format!("arn:aws:iam::{account_id}:user/{}", name.get_ref());
        let user_ref = Arc::new(IamUser {
            name: name.get_ref().as_str().into(),
            user_id: crate::auth::iam::user_id(&arn),
            arn: arn.into(),
            account: account_id.into(),
            policy,
        });
        for key in &user.access_keys {
            keys.push((
                key.id.get_ref().as_str().into(),
                AccessKey {
                    secret: key.secret.get_ref().as_str().into(),
                    session_token: key
                        .session_token
                        .as_ref()
                        .map(|t| t.get_ref().as_str().into()),
                    user: Arc::clone(&user_ref),
                },
            ));
        }
    }
    Identities::new(keys)
}
