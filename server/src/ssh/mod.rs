//! Browser SSH: Postern's SSH user CA, the principals a person may use, the terminal gateway
//! (`/gw/ssh/{app}`, an SSH client over a Connector Stream) and its asciicast recordings.

pub mod ca;
pub mod gateway;
pub mod principals;
pub mod recording;

use russh::keys::ssh_key::PublicKey;

/// `SHA256:…` of a pinned host key: an SSH App stores its OpenSSH public key line, an RDP App
/// the fingerprint of its TLS key itself. `None` if it does not parse.
pub fn host_key_fingerprint(line: &str) -> Option<String> {
    if line.starts_with("SHA256:") {
        return Some(line.to_owned());
    }
    PublicKey::from_openssh(line)
        .ok()
        .map(|key| ca::fingerprint(&key))
}
