//! The document layout shared with connect-mongo 6 and the conversions between JSON sessions and
//! BSON. It must never turn a string into another type: JSON strings stay BSON strings, and a
//! BSON date that connect-mongo wrote comes back as the ISO string JSON would have made of it.

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, DateTime as BsonDateTime, Document};
use serde_json::{Map, Number, Value};
use sessionspec_contract::{ErrorKind, Result, Session, StoreError, format_timestamp};

/// `_id`: the session id, or its transform.
pub(crate) const ID: &str = "_id";
/// `session`: the session as JSON text, a sub-document, or ciphertext.
pub(crate) const SESSION: &str = "session";
/// `expires`: a BSON date; the TTL index's key.
pub(crate) const EXPIRES: &str = "expires";
/// `lastModified`: the last write, with `touch-after`.
pub(crate) const LAST_MODIFIED: &str = "lastModified";
/// `createdAt`: the first write, with `timestamps`.
pub(crate) const CREATED_AT: &str = "createdAt";
/// `updatedAt`: the latest write, with `timestamps`.
pub(crate) const UPDATED_AT: &str = "updatedAt";

/// A time as a BSON date (milliseconds, like JavaScript's `Date`).
pub(crate) fn bson_date(at: DateTime<Utc>) -> BsonDateTime {
    BsonDateTime::from_millis(at.timestamp_millis())
}

/// A BSON date as a time; `None` outside chrono's range.
pub(crate) fn from_bson_date(at: BsonDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(at.timestamp_millis())
}

fn serialize_error(message: impl Into<String>) -> StoreError {
    StoreError::new(ErrorKind::Serialize, message)
}

/// A JSON value as BSON, for the `document` serializer. Integers that fit 32 bits become
/// `int32` (as the Node driver writes them), other integers `int64`, the rest doubles.
pub(crate) fn json_to_bson(value: &Value) -> Result<Bson> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map(Bson::Int32).unwrap_or(Bson::Int64(i)),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(json_to_bson).collect::<Result<_>>()?),
        Value::Object(map) => Bson::Document(json_object_to_document(map)?),
    })
}

/// A JSON object as a BSON document.
pub(crate) fn json_object_to_document(map: &Map<String, Value>) -> Result<Document> {
    let mut doc = Document::new();
    for (key, value) in map {
        if key.contains('\0') {
            return Err(serialize_error(
                "the document serializer cannot store a member name containing U+0000 (BSON names are C strings); use the json serializer",
            ));
        }
        doc.insert(key.clone(), json_to_bson(value)?);
    }
    Ok(doc)
}

/// BSON as the JSON a session holds. Dates become ISO-8601 strings with milliseconds (what
/// `JSON.stringify` makes of connect-mongo's `Date`s); types JSON lacks become their relaxed
/// Extended JSON form.
pub(crate) fn bson_to_json(value: &Bson) -> Result<Value> {
    Ok(match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(f) => Value::Number(
            Number::from_f64(*f).ok_or_else(|| serialize_error(format!("the stored number {f} has no JSON form")))?,
        ),
        Bson::String(s) => Value::String(s.clone()),
        Bson::Array(items) => Value::Array(items.iter().map(bson_to_json).collect::<Result<_>>()?),
        Bson::Document(doc) => Value::Object(document_to_json_object(doc)?),
        Bson::DateTime(at) => match from_bson_date(*at) {
            Some(at) => Value::String(format_timestamp(at)),
            None => value.clone().into_relaxed_extjson(),
        },
        other => other.clone().into_relaxed_extjson(),
    })
}

/// A BSON document as a JSON object.
pub(crate) fn document_to_json_object(doc: &Document) -> Result<Map<String, Value>> {
    doc.iter().map(|(k, v)| Ok((k.clone(), bson_to_json(v)?))).collect()
}

/// Decodes a stored, unencrypted `session` field: JSON text or a sub-document, whichever
/// serializer wrote it. Anything that is not a JSON object is a `serialize` error.
pub(crate) fn decode_plain(payload: Option<&Bson>) -> Result<Session> {
    match payload {
        Some(Bson::String(text)) => Session::from_json(text),
        Some(Bson::Document(doc)) => Session::from_value(Value::Object(document_to_json_object(doc)?))
            .map_err(|e| serialize_error(e.message().to_owned())),
        Some(other) => Err(serialize_error(format!(
            "the stored session is {}, neither JSON text nor a document",
            bson_type(other)
        ))),
        None => Err(serialize_error("the stored document has no `session` field")),
    }
}

/// A BSON value's type, for messages.
pub(crate) fn bson_type(value: &Bson) -> &'static str {
    match value {
        Bson::String(_) => "a string",
        Bson::Document(_) => "a document",
        Bson::Array(_) => "an array",
        Bson::Null => "null",
        Bson::Boolean(_) => "a boolean",
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => "a number",
        Bson::DateTime(_) => "a date",
        Bson::Binary(_) => "binary data",
        _ => "a value of another BSON type",
    }
}

/// A stored value as the harness sees it: exactly, in relaxed Extended JSON, except that dates
/// are ISO strings like every other store's raw timestamps.
pub(crate) fn raw_json(value: &Bson) -> Value {
    match value {
        Bson::DateTime(at) => from_bson_date(*at)
            .map(|t| Value::String(format_timestamp(t)))
            .unwrap_or_else(|| value.clone().into_relaxed_extjson()),
        Bson::Document(doc) => Value::Object(doc.iter().map(|(k, v)| (k.clone(), raw_json(v))).collect()),
        Bson::Array(items) => Value::Array(items.iter().map(raw_json).collect()),
        other => other.clone().into_relaxed_extjson(),
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trips_through_bson_with_strings_kept() {
        let value = json!({
            "cookie": {"expires": "2030-01-01T00:00:10.000Z", "originalMaxAge": 3600000, "secure": false},
            "n": [1, -2147483649i64, 9007199254740991i64, 0.1, 5e-324, 1.7976931348623157e308, null],
            "nested": {"a": {"b": {}}, "empty": []},
            "date-like": "2030-01-01", "number-like": "42", "nul": "a\u{0}b"
        });
        let bson = json_to_bson(&value).unwrap();
        assert_eq!(bson_to_json(&bson).unwrap(), value);
    }

    #[test]
    fn connect_mongo_dates_read_as_iso_strings() {
        let stored =
            doc! {"cookie": {"expires": BsonDateTime::from_millis(1_893_456_010_000), "originalMaxAge": 10_000}};
        let session = decode_plain(Some(&Bson::Document(stored))).unwrap();
        assert_eq!(
            session.into_value(),
            json!({"cookie": {"expires": "2030-01-01T00:00:10.000Z", "originalMaxAge": 10000}})
        );
    }

    #[test]
    fn undecodable_payloads_are_serialize_errors() {
        for payload in [Bson::String("{".into()), Bson::String("[1]".into()), Bson::Int32(1)] {
            assert_eq!(decode_plain(Some(&payload)).unwrap_err().kind(), ErrorKind::Serialize, "{payload:?}");
        }
        assert_eq!(decode_plain(None).unwrap_err().kind(), ErrorKind::Serialize);
        let nul_name = json!({"a\u{0}": 1});
        assert_eq!(json_to_bson(&nul_name).unwrap_err().kind(), ErrorKind::Serialize);
    }
}
