//! Which address a request comes from, for the sign-in throttle: the TCP peer, or, when the peer
//! is a reverse proxy the hospital trusts (`--trusted-proxy`), the client that proxy names.
//!
//! Behind a proxy every request has the proxy's address; counting failures against it would let
//! one attacker lock a whole hospital out. But the header is only believed from a trusted proxy:
//! anyone else could write any address into it and so escape the throttle.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address. From a trusted peer, the `X-Forwarded-For` list (else `Forwarded`'s
/// `for=`) is read from the right, past the trusted proxies that appended to it: the first
/// untrusted address is the client. Addresses left of it were written by the client and are
/// never believed.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut forwarded = forwarded_for(headers, "x-forwarded-for", parse_x_forwarded_for);
    if forwarded.is_empty() {
        forwarded = forwarded_for(headers, "forwarded", parse_forwarded);
    }
    match forwarded.iter().rev().find(|address| !is_trusted(address)) {
        Some(client) => *client,
        // Every hop is trusted: the leftmost is as close to the client as can be known.
        None => forwarded.first().copied().unwrap_or(peer),
    }
}

/// Every address the named header lists, in order, across repeated headers. An unreadable entry
/// ends the list there, since nothing left of it can be placed.
fn forwarded_for(headers: &HeaderMap, name: &str, parse: fn(&str) -> Vec<Option<IpAddr>>) -> Vec<IpAddr> {
    let entries: Vec<Option<IpAddr>> =
        headers.get_all(name).iter().filter_map(|value| value.to_str().ok()).flat_map(parse).collect();
    // Read from the right, the list is believable only up to the first unreadable entry.
    let readable_tail = entries.iter().rev().take_while(|entry| entry.is_some()).count();
    entries[entries.len() - readable_tail..].iter().map(|entry| entry.expect("readable")).collect()
}

fn parse_x_forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value.split(',').map(|item| parse_node(item.trim())).collect()
}

/// RFC 7239: `for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`.
fn parse_forwarded(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(key, _)| key.eq_ignore_ascii_case("for"))
                .and_then(|(_, node)| parse_node(node.trim().trim_matches('"')))
        })
        .collect()
}

/// An address, with or without a port (`192.0.2.1:80`, `[2001:db8::1]:80`).
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse() {
        return Some(address);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']').and_then(|(address, _)| address.parse().ok());
    }
    node.rsplit_once(':').and_then(|(address, _)| address.parse().ok())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let claims = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_address(ip("198.51.100.7"), &claims, &[]), ip("198.51.100.7"));
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_address(ip("198.51.100.7"), &claims, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_a_forged_left_part_is_ignored() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // The client wrote 1.2.3.4 itself; the proxy appended the address it saw.
        let forged = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(client_address(ip("10.0.0.2"), &forged, &trusted), ip("203.0.113.9"));
        // Two proxies of the hospital, each appending.
        let chained = headers(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.0.0.5")]);
        assert_eq!(client_address(ip("10.0.0.2"), &chained, &trusted), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(client_address(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let forwarded = headers(&[("forwarded", r#"for=192.0.2.60;proto=http, for="[2001:db8::1]:4711""#)]);
        assert_eq!(client_address(ip("127.0.0.1"), &forwarded, &trusted), ip("2001:db8::1"));
        let with_port = headers(&[("forwarded", "for=192.0.2.60:5000")]);
        assert_eq!(client_address(ip("127.0.0.1"), &with_port, &trusted), ip("192.0.2.60"));
    }

    #[test]
    fn an_unreadable_entry_stops_the_reading_there() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let garbled = headers(&[("x-forwarded-for", "203.0.113.9, unknown, 127.0.0.1")]);
        assert_eq!(client_address(ip("127.0.0.1"), &garbled, &trusted), ip("127.0.0.1"));
    }
}
