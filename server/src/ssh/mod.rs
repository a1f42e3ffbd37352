//! Browser SSH: Postern's SSH user CA, the principals a person may use, the terminal gateway
//! (`/gw/ssh/{app}`, an SSH client over a Connector Stream) and its asciicast recordings.

pub mod ca;
pub mod gateway;
pub mod principals;
pub mod recording;

use russh::keys::ssh_key::PublicKey;

/// `SHA256:…` of a stored OpenSSH public key line, or `None` if it does not parse.
pub fn host_key_fingerprint(line: &str) -> Option<String> {
    PublicKey::from_openssh(line)
        .ok()
        .map(|key| ca::fingerprint(&key))
}
