//! The tests' CBOR bridge as a program, for trying `ebb run` against a
//! local moto_server: the current CloudWatch SDK speaks only Smithy RPC v2
//! CBOR, which moto does not (see README, "Against moto locally").
//!
//! `cargo run --example moto_cbor_bridge -- LISTEN_PORT MOTO_PORT` serves
//! 127.0.0.1:LISTEN_PORT until killed; point `aws.endpoint_url` at it.

// Shared with the tests, which use more of them than this program does.
#[allow(dead_code)]
#[path = "../tests/support/cbor.rs"]
mod cbor;
#[allow(dead_code)]
#[path = "../tests/support/cbor_bridge.rs"]
mod cbor_bridge;

use cbor_bridge::CborBridge;

fn main() {
    let ports: Vec<u16> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let [listen, moto] = ports[..] else {
        eprintln!("usage: moto_cbor_bridge LISTEN_PORT MOTO_PORT (ports on 127.0.0.1)");
        std::process::exit(2);
    };
    let _bridge = CborBridge::start_on(listen, moto);
    eprintln!("bridging 127.0.0.1:{listen} to moto_server on 127.0.0.1:{moto}");
    loop {
        std::thread::park();
    }
}
