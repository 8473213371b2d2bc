//! Smithy RPC v2 CBOR bodies as JSON and back, for [`super::cbor_bridge`]
//! and for the proxy's record of a CBOR request.
//!
//! The current aws-sdk-cloudwatch speaks only RPC v2 CBOR; moto_server
//! speaks CloudWatch's awsJson1.0 (what boto3 picks) but no CBOR
//! (getmoto/moto#9195). The two protocols carry the same shapes, so a body
//! converts value for value. Two things are not in the JSON: a CBOR
//! timestamp is tag 1 around epoch seconds (JSON has the bare number), and
//! CBOR tells ints from floats (a JSON `5.0` must come back as a float).

use std::io::Read;

use ciborium::Value as Cbor;
use serde_json::Value as Json;

/// A CBOR request body (gzip-compressed or not) as JSON: tag-1 timestamps
/// become their epoch seconds, blobs base64 text (as awsJson sends them).
pub fn to_json(body: &[u8], gzipped: bool) -> Result<Json, String> {
    let mut plain = Vec::new();
    let bytes = if gzipped {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut plain)
            .map_err(|e| format!("gunzip: {e}"))?;
        &plain[..]
    } else {
        body
    };
    if bytes.is_empty() {
        return Ok(Json::Object(Default::default()));
    }
    let value: Cbor = ciborium::from_reader(bytes).map_err(|e| format!("CBOR: {e}"))?;
    Ok(cbor_to_json(value))
}

fn cbor_to_json(value: Cbor) -> Json {
    use base64::Engine;
    match value {
        Cbor::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i).map_or_else(|_| Json::from(i as f64), Json::from)
        }
        Cbor::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Cbor::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Text(s) => Json::String(s),
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Null => Json::Null,
        Cbor::Tag(_, inner) => cbor_to_json(*inner),
        Cbor::Array(items) => Json::Array(items.into_iter().map(cbor_to_json).collect()),
        Cbor::Map(entries) => Json::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(s) => s,
                        other => format!("{other:?}"),
                    };
                    (key, cbor_to_json(v))
                })
                .collect(),
        ),
        // `Value` is non-exhaustive; the SDK sends nothing else.
        _ => Json::Null,
    }
}

/// A JSON answer as CBOR. Numbers under a key that names a timestamp
/// (`Timestamp`, `Timestamps`, `StateUpdatedTimestamp`, ...: CloudWatch's
/// timestamp members all end so) become tag-1 epoch seconds.
pub fn from_json(value: &Json) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, false, &mut out);
    out
}

fn encode(value: &Json, timestamp: bool, out: &mut Vec<u8>) {
    match value {
        Json::Null => out.push(0xf6),
        Json::Bool(false) => out.push(0xf4),
        Json::Bool(true) => out.push(0xf5),
        Json::Number(n) => {
            if timestamp {
                head(6, 1, out); // tag 1: epoch seconds
            }
            match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => head(0, u, out),
                (None, Some(i)) => head(1, (-1 - i) as u64, out),
                _ => {
                    out.push(0xfb);
                    out.extend_from_slice(&n.as_f64().unwrap_or(f64::NAN).to_be_bytes());
                }
            }
        }
        Json::String(s) => {
            head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Json::Array(items) => {
            head(4, items.len() as u64, out);
            for item in items {
                encode(item, timestamp, out);
            }
        }
        Json::Object(map) => {
            head(5, map.len() as u64, out);
            for (k, v) in map {
                encode(&Json::String(k.clone()), false, out);
                encode(
                    v,
                    k.ends_with("Timestamp") || k.ends_with("Timestamps"),
                    out,
                );
            }
        }
    }
}

/// A CBOR item head: major type and argument, in the shortest form.
fn head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

/// A JSON body as awsQuery form fields (`MetricDataQueries.member.1.Id`),
/// so tests read a CBOR request's fields as they read a Query one's.
pub fn query_fields(value: &Json) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    flatten("", value, &mut fields);
    fields
}

fn flatten(prefix: &str, value: &Json, fields: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, fields);
            }
        }
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&join(&format!("member.{}", i + 1)), item, fields);
            }
        }
        Json::String(s) => fields.push((prefix.to_string(), s.clone())),
        other => fields.push((prefix.to_string(), other.to_string())),
    }
}
