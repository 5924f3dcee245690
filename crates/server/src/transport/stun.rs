//! STUN keep-alives on the SIP port (RFC 5626 §4.4.2, RFC 5389): an outbound client behind NAT
//! sends a Binding request every Flow-Timer seconds to keep its pinhole open, and learns from
//! the answer whether its public address changed. Only the bare Binding request is answered
//! (no attributes, so nothing to authenticate), and the answer is barely larger than the
//! request, so this cannot be used to amplify traffic.

use std::net::SocketAddr;

/// The RFC 5389 magic cookie.
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Binding request and success response message types.
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
/// XOR-MAPPED-ADDRESS attribute type.
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// Header length.
const HEADER: usize = 20;

/// Whether `bytes` looks like STUN rather than SIP: SIP never starts with a zero byte.
pub fn is_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER && bytes[0] & 0xC0 == 0 && bytes[4..8] == MAGIC_COOKIE.to_be_bytes()
}

/// The Binding success response to a bare Binding request from `source`, carrying `source` as
/// XOR-MAPPED-ADDRESS; `None` for anything else.
pub fn binding_response(bytes: &[u8], source: SocketAddr) -> Option<Vec<u8>> {
    if bytes.len() != HEADER || !is_stun(bytes) {
        return None;
    }
    if u16::from_be_bytes([bytes[0], bytes[1]]) != BINDING_REQUEST || bytes[2..4] != [0, 0] {
        return None;
    }
    let transaction = &bytes[8..HEADER];
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = source.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let (family, address): (u8, Vec<u8>) = match source {
        SocketAddr::V4(a) => (
            1,
            a.ip()
                .octets()
                .iter()
                .zip(cookie)
                .map(|(b, c)| b ^ c)
                .collect(),
        ),
        SocketAddr::V6(a) => {
            let key: Vec<u8> = cookie.iter().chain(transaction).copied().collect();
            (
                2,
                a.ip()
                    .octets()
                    .iter()
                    .zip(key)
                    .map(|(b, k)| b ^ k)
                    .collect(),
            )
        }
    };
    let value_len = 4 + address.len();
    let mut out = Vec::with_capacity(HEADER + 4 + value_len);
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&((4 + value_len) as u16).to_be_bytes());
    out.extend_from_slice(&cookie);
    out.extend_from_slice(transaction);
    out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&(value_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&address);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Vec<u8> {
        let mut r = vec![0x00, 0x01, 0x00, 0x00];
        r.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        r.extend_from_slice(b"transaction1");
        r
    }

    #[test]
    fn answers_a_binding_request_with_the_mapped_address() {
        let src: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let resp = binding_response(&request(), src).unwrap();
        assert_eq!(&resp[0..2], &[0x01, 0x01]);
        assert_eq!(&resp[2..4], &[0, 12]);
        assert_eq!(&resp[8..20], b"transaction1");
        // XOR-MAPPED-ADDRESS: family 1, port and address XORed with the cookie.
        assert_eq!(&resp[20..24], &[0x00, 0x20, 0x00, 0x08]);
        let port = u16::from_be_bytes([resp[26], resp[27]]) ^ 0x2112;
        assert_eq!(port, 32853);
        let ip: Vec<u8> = resp[28..32]
            .iter()
            .zip(MAGIC_COOKIE.to_be_bytes())
            .map(|(b, c)| b ^ c)
            .collect();
        assert_eq!(ip, [192, 0, 2, 1]);
        let v6 = binding_response(&request(), "[2001:db8::1]:5060".parse().unwrap()).unwrap();
        assert_eq!((v6.len(), v6[25]), (44, 2));
    }

    #[test]
    fn ignores_sip_and_other_stun() {
        assert!(!is_stun(b"OPTIONS sip:a SIP/2.0\r\n\r\n"));
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let mut with_attr = request();
        with_attr[3] = 4;
        with_attr.extend_from_slice(&[0, 0x80, 0, 0]);
        assert!(binding_response(&with_attr, src).is_none());
        let mut indication = request();
        indication[1] = 0x11;
        assert!(binding_response(&indication, src).is_none());
        assert!(binding_response(&request()[..19], src).is_none());
    }
}
