//! RabbitMQ (AMQP 0-9-1) message properties and headers to and from the binding's
//! [`AmqpMessage`]. Header values map as: long and short strings → strings (non-UTF-8 bytes →
//! binary), every integer type → long, boolean → boolean, timestamp (seconds) → timestamp, byte
//! array → binary, float/double/decimal → their decimal text; nested tables, arrays and void are
//! left out.

use bytes::Bytes;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::binding::amqp::{AmqpMessage, AmqpValue};

/// The binding's view of a delivered message.
pub fn message_of(properties: &BasicProperties, body: &[u8]) -> AmqpMessage {
    let properties_list = properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .inner()
                .iter()
                .filter_map(|(name, value)| Some((name.to_string(), value_of(value)?)))
                .collect()
        })
        .unwrap_or_default();
    AmqpMessage {
        content_type: properties.content_type().as_ref().map(|c| c.to_string()),
        properties: properties_list,
        body: Bytes::copy_from_slice(body),
    }
}

fn value_of(value: &AMQPValue) -> Option<AmqpValue> {
    Some(match value {
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => AmqpValue::String(text.to_owned()),
            Err(_) => AmqpValue::Binary(Bytes::copy_from_slice(s.as_bytes())),
        },
        AMQPValue::ShortString(s) => AmqpValue::String(s.to_string()),
        AMQPValue::Boolean(b) => AmqpValue::Boolean(*b),
        AMQPValue::ShortShortInt(n) => AmqpValue::Long(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => AmqpValue::Long(i64::from(*n)),
        AMQPValue::ShortInt(n) => AmqpValue::Long(i64::from(*n)),
        AMQPValue::ShortUInt(n) => AmqpValue::Long(i64::from(*n)),
        AMQPValue::LongInt(n) => AmqpValue::Long(i64::from(*n)),
        AMQPValue::LongUInt(n) => AmqpValue::Long(i64::from(*n)),
        AMQPValue::LongLongInt(n) => AmqpValue::Long(*n),
        AMQPValue::Float(f) => AmqpValue::String(f.to_string()),
        AMQPValue::Double(f) => AmqpValue::String(f.to_string()),
        AMQPValue::DecimalValue(d) => AmqpValue::String(decimal_text(d.value, d.scale)),
        AMQPValue::Timestamp(seconds) => {
            AmqpValue::Timestamp(i64::try_from(*seconds).ok()?.checked_mul(1000)?)
        }
        AMQPValue::ByteArray(bytes) => AmqpValue::Binary(Bytes::copy_from_slice(bytes.as_slice())),
        AMQPValue::FieldArray(_) | AMQPValue::FieldTable(_) | AMQPValue::Void => return None,
    })
}

/// `value × 10^-scale` in decimal notation.
fn decimal_text(value: u32, scale: u8) -> String {
    let digits = value.to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{whole}.{fraction}")
}

/// Message properties carrying `message`'s content type and properties as headers. Header names
/// longer than an AMQP short string (255 bytes) are left out.
pub fn properties_of(message: &AmqpMessage) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in &message.properties {
        let Ok(name) = ShortString::try_new(name.as_str()) else {
            continue;
        };
        let value = match value {
            AmqpValue::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes())),
            AmqpValue::Long(n) => AMQPValue::LongLongInt(*n),
            AmqpValue::Boolean(b) => AMQPValue::Boolean(*b),
            AmqpValue::Timestamp(ms) => {
                AMQPValue::Timestamp(u64::try_from(ms.div_euclid(1000)).unwrap_or(0))
            }
            AmqpValue::Binary(bytes) => AMQPValue::ByteArray(bytes.to_vec().into()),
        };
        headers.insert(name, value);
    }
    let mut properties = BasicProperties::default().with_headers(headers);
    if let Some(content_type) = message
        .content_type
        .as_deref()
        .and_then(|c| ShortString::try_new(c).ok())
    {
        properties = properties.with_content_type(content_type);
    }
    properties
}

#[cfg(test)]
mod tests {
    use herald_cloudevent::{AttrValue, Data, Event, SpecVersion};

    use super::*;
    use crate::binding::amqp;

    #[test]
    fn binary_event_survives_rabbitmq_properties() {
        let mut event = Event::new(SpecVersion::V10, "1", "/s", "t");
        event.set("n", AttrValue::Integer(7));
        event.set("datacontenttype", "text/plain".into());
        event.set_data(Some(Data::Binary(Bytes::from_static(b"body"))));
        let message = amqp::encode_binary(&event);
        let properties = properties_of(&message);
        let back = message_of(&properties, &message.body);
        let decoded = amqp::decode(&back).unwrap().unwrap();
        assert_eq!(decoded.get("n"), Some(&AttrValue::Integer(7)));
        assert_eq!(decoded.datacontenttype(), Some("text/plain"));
        assert_eq!(decoded.data(), event.data());
    }

    #[test]
    fn header_types() {
        assert_eq!(
            value_of(&AMQPValue::ShortInt(-3)),
            Some(AmqpValue::Long(-3))
        );
        assert_eq!(
            value_of(&AMQPValue::Timestamp(1_700_000_000)),
            Some(AmqpValue::Timestamp(1_700_000_000_000))
        );
        assert_eq!(
            value_of(&AMQPValue::LongString(LongString::from(vec![0xff]))),
            Some(AmqpValue::Binary(Bytes::from_static(&[0xff])))
        );
        assert_eq!(value_of(&AMQPValue::Void), None);
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(decimal_text(5, 0), "5");
    }
}
