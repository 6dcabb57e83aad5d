//! The console exporter's JSON: serde_json's, except for non-finite doubles. serde_json
//! writes NaN and ±Infinity as `null`, losing them; the OTLP JSON encoding follows the
//! protobuf JSON mapping, which writes them as the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"` (<https://protobuf.dev/programming-guides/json/>), so a line reads back with
//! an OTLP JSON decoder as the value measured. opentelemetry-proto's serde derives do so
//! only for an exemplar's value; this wrapper does it for every double (attribute values,
//! data points, histogram sums, ...). Off the hot path: once per exported batch.

use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// `value` as one line of JSON, non-finite doubles as the protobuf JSON mapping's strings.
pub(crate) fn to_line<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(&Json(value))
}

/// A value serialized through [`NonFinite`].
struct Json<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Json<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(NonFinite(serializer))
    }
}

/// A serializer (or one of its compound parts) that passes everything to the one it wraps,
/// but a non-finite double as a string, and every nested value through itself again.
struct NonFinite<S>(S);

impl<S: Serializer> Serializer for NonFinite<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = NonFinite<S::SerializeSeq>;
    type SerializeTuple = NonFinite<S::SerializeTuple>;
    type SerializeTupleStruct = NonFinite<S::SerializeTupleStruct>;
    type SerializeTupleVariant = NonFinite<S::SerializeTupleVariant>;
    type SerializeMap = NonFinite<S::SerializeMap>;
    type SerializeStruct = NonFinite<S::SerializeStruct>;
    type SerializeStructVariant = NonFinite<S::SerializeStructVariant>;

    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            self.0.serialize_str("NaN")
        } else if v == f64::INFINITY {
            self.0.serialize_str("Infinity")
        } else if v == f64::NEG_INFINITY {
            self.0.serialize_str("-Infinity")
        } else {
            self.0.serialize_f64(v)
        }
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.0.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.0.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.0.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.0.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.0.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.0.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.0.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.0.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.0.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.0.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.0.serialize_u128(v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.0.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.0.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.0.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Json(value))
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Json(value))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Json(value))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(NonFinite)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(NonFinite)
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(NonFinite)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(NonFinite)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(NonFinite)
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len).map(NonFinite)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(NonFinite)
    }
    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// The compound parts whose values come one at a time, each through [`Json`].
macro_rules! values_through_json {
    ($($part:ident :: $method:ident),*) => {$(
        impl<S: $part> $part for NonFinite<S> {
            type Ok = S::Ok;
            type Error = S::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
                self.0.$method(&Json(value))
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.0.end()
            }
        }
    )*};
}

values_through_json!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// The compound parts whose values come with a field name, each through [`Json`].
macro_rules! fields_through_json {
    ($($part:ident),*) => {$(
        impl<S: $part> $part for NonFinite<S> {
            type Ok = S::Ok;
            type Error = S::Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), S::Error> {
                self.0.serialize_field(key, &Json(value))
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
                self.0.skip_field(key)
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.0.end()
            }
        }
    )*};
}

fields_through_json!(SerializeStruct, SerializeStructVariant);

impl<S: SerializeMap> SerializeMap for NonFinite<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.0.serialize_key(&Json(key))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.0.serialize_value(&Json(value))
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, number_data_point};

    use super::to_line;

    fn attribute(value: f64) -> KeyValue {
        KeyValue {
            key: "ratio".to_owned(),
            value: Some(AnyValue {
                value: Some(Value::DoubleValue(value)),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn non_finite_doubles_are_written_as_the_protobuf_json_mapping_strings() {
        let point = NumberDataPoint {
            attributes: vec![
                attribute(f64::NAN),
                attribute(f64::INFINITY),
                attribute(f64::NEG_INFINITY),
                attribute(0.5),
            ],
            value: Some(number_data_point::Value::AsDouble(f64::NEG_INFINITY)),
            ..Default::default()
        };
        let line: serde_json::Value = serde_json::from_str(&to_line(&point).unwrap()).unwrap();
        let values: Vec<_> = line["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| kv["value"]["doubleValue"].clone())
            .collect();
        assert_eq!(
            values,
            [
                serde_json::json!("NaN"),
                serde_json::json!("Infinity"),
                serde_json::json!("-Infinity"),
                serde_json::json!(0.5),
            ]
        );
        assert_eq!(line["asDouble"], serde_json::json!("-Infinity"));
    }
}
