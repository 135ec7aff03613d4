//! Redaction while serializing: [`Redacted`] wraps any `Serialize` value so that it comes out
//! of a serializer exactly as [`Redactor::redact_json`] would leave its JSON value, without
//! building that value first.
//!
//! The live state is published every 100 ms under load; building it as a `serde_json::Value`
//! tree, redacting the tree and serializing it again cost about half the daemon's CPU and most
//! of its peak memory at 10,000 entities. The adapter streams instead: every string (`str`,
//! `char`, a unit variant's name) goes through [`Redactor::redact`], every map key and struct
//! field name is redacted the same way, and the value of a sensitive key (see
//! [`Redactor::redact_json`]) that would not be JSON `null` is replaced by [`MASK`].
//!
//! # Equivalence with `redact_json`
//!
//! For JSON serializers (`serde_json::to_vec`, `to_writer_pretty`, `to_value`, ...),
//! `Redacted::new(&v)` gives the same JSON as redacting `serde_json::to_value(&v)`, with two
//! differences:
//!
//! - Key order: a `Value` map is sorted (serde_json's `preserve_order` is off), the stream
//!   keeps the order the value serializes in (a struct's declaration order). Readers parse
//!   JSON; `serde_json::to_value` of the stream is equal.
//! - Colliding keys: when a map key redacts to the same text as another key of the same map
//!   (two different secrets both become `[REDACTED]`, or a secret key next to a literal
//!   `[REDACTED]` key), `redact_json` merges them and keeps one of the values, while the
//!   stream, which cannot take back an entry already written, writes both entries (a
//!   duplicate key). Each value is redacted on its own either way, so no secret comes out;
//!   a reader parsing into a map keeps the last one.
//!
//! Structs are written as maps (`serialize_map`), which JSON serializers treat the same way,
//! so that a field name the redactor changes (a registered credential that happens to occur
//! in a field name) can still be written. Tuple and struct variants, which no published type
//! uses on a hot path, are collected into a `Value`, redacted with `redact_json` and written
//! from it, so their field names follow exactly the same rule.

use std::borrow::Cow;

use serde::ser::{
    self, Error as _, Impossible, Serialize, SerializeMap, SerializeSeq, SerializeStruct,
    SerializeStructVariant, SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
};
use serde_json::Value;

use super::{MASK, Redactor, global, is_sensitive_key};

/// A value that serializes through a [`Redactor`]: `serde_json::to_vec(&Redacted::new(&v))`.
pub struct Redacted<'a, T: ?Sized> {
    value: &'a T,
    redactor: &'a Redactor,
    /// A top-level field (or map key, as redacted) left out of the output.
    omit: Option<&'static str>,
}

impl<'a, T: ?Sized> Redacted<'a, T> {
    /// Through the process-wide redactor ([`global`]).
    pub fn new(value: &'a T) -> Redacted<'a, T> {
        Redacted::with(global(), value)
    }

    /// Through `redactor`.
    pub fn with(redactor: &'a Redactor, value: &'a T) -> Redacted<'a, T> {
        Redacted { value, redactor, omit: None }
    }

    /// Leaves out the top-level struct field or map key `field` (compared after redaction,
    /// as removing it from the redacted `Value` would); nested ones are kept.
    pub fn omitting(self, field: &'static str) -> Redacted<'a, T> {
        Redacted { omit: Some(field), ..self }
    }
}

impl<T: ?Sized + Serialize> Serialize for Redacted<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Redacting { inner: serializer, redactor: self.redactor, omit: self.omit })
    }
}

/// What a `Display` value writes, kept on the stack when it is short. Every timestamp the live
/// state holds (chrono writes them a character at a time) and every entity key used as a map
/// key comes through `collect_str`, whose default builds a `String` for each.
struct ShortText {
    bytes: [u8; ShortText::INLINE],
    len: usize,
    /// Everything written, once it no longer fits inline.
    long: Option<String>,
}

impl ShortText {
    const INLINE: usize = 64;

    fn of<T: ?Sized + std::fmt::Display, E: ser::Error>(value: &T) -> Result<ShortText, E> {
        let mut text = ShortText { bytes: [0; ShortText::INLINE], len: 0, long: None };
        std::fmt::write(&mut text, format_args!("{value}"))
            .map_err(|_| E::custom("a value failed to format itself as text"))?;
        Ok(text)
    }

    fn as_str(&self) -> &str {
        match &self.long {
            Some(long) => long,
            // Only whole `str`s and `char`s are copied in, so the bytes are UTF-8.
            None => std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default(),
        }
    }
}

impl std::fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        match &mut self.long {
            Some(long) => long.push_str(s),
            None if self.len + s.len() <= ShortText::INLINE => {
                self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
                self.len += s.len();
            }
            None => {
                let mut long = String::with_capacity(2 * (self.len + s.len()));
                long.push_str(self.as_str());
                long.push_str(s);
                self.long = Some(long);
            }
        }
        Ok(())
    }

    fn write_char(&mut self, c: char) -> std::fmt::Result {
        if c.is_ascii() && self.long.is_none() && self.len < ShortText::INLINE {
            self.bytes[self.len] = c as u8;
            self.len += 1;
            Ok(())
        } else {
            self.write_str(c.encode_utf8(&mut [0; 4]))
        }
    }
}

/// Below the top level: nothing is omitted.
fn nested<'a, T: ?Sized>(redactor: &'a Redactor, value: &'a T) -> Redacted<'a, T> {
    Redacted::with(redactor, value)
}

/// The serializer wrapper: everything a value writes goes through the redactor on its way
/// to `inner`.
struct Redacting<'r, S> {
    inner: S,
    redactor: &'r Redactor,
    omit: Option<&'static str>,
}

type ValueTupleVariant = <serde_json::value::Serializer as Serializer>::SerializeTupleVariant;
type ValueStructVariant = <serde_json::value::Serializer as Serializer>::SerializeStructVariant;

impl<'r, S: Serializer> Serializer for Redacting<'r, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Seq<'r, S::SerializeSeq>;
    type SerializeTuple = Seq<'r, S::SerializeTuple>;
    type SerializeTupleStruct = Seq<'r, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Buffered<'r, S, ValueTupleVariant>;
    type SerializeMap = Map<'r, S::SerializeMap>;
    type SerializeStruct = Map<'r, S::SerializeMap>;
    type SerializeStructVariant = Buffered<'r, S, ValueStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_f64(v)
    }

    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        let mut buf = [0; 4];
        match self.redactor.redact(v.encode_utf8(&mut buf)) {
            Cow::Owned(redacted) => self.inner.serialize_str(&redacted),
            Cow::Borrowed(_) => self.inner.serialize_char(v),
        }
    }

    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(&self.redactor.redact(v))
    }

    fn collect_str<T: ?Sized + std::fmt::Display>(self, value: &T) -> Result<S::Ok, S::Error> {
        let text = ShortText::of(value)?;
        self.serialize_str(text.as_str())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        // JSON writes bytes as an array of numbers: nothing to redact.
        self.inner.serialize_bytes(v)
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&Redacted { value, redactor: self.redactor, omit: self.omit })
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        // In JSON a unit variant is a string, and redact_json redacts strings.
        match self.redactor.redact(variant) {
            Cow::Owned(redacted) => self.inner.serialize_str(&redacted),
            Cow::Borrowed(_) => self.inner.serialize_unit_variant(name, index, variant),
        }
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_struct(name, &Redacted { value, redactor: self.redactor, omit: self.omit })
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        // In JSON: `{variant: value}`, a one-key object.
        let key = self.redactor.redact(variant);
        let masked = is_sensitive_key(&key) && !is_null(value);
        match key {
            Cow::Borrowed(_) if masked => self.inner.serialize_newtype_variant(name, index, variant, MASK),
            Cow::Borrowed(_) => {
                self.inner.serialize_newtype_variant(name, index, variant, &nested(self.redactor, value))
            }
            Cow::Owned(key) => {
                let mut map = self.inner.serialize_map(Some(1))?;
                if masked {
                    map.serialize_entry(&key, MASK)?;
                } else {
                    map.serialize_entry(&key, &nested(self.redactor, value))?;
                }
                map.end()
            }
        }
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Ok(Seq { inner: self.inner.serialize_seq(len)?, redactor: self.redactor })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Ok(Seq { inner: self.inner.serialize_tuple(len)?, redactor: self.redactor })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Ok(Seq { inner: self.inner.serialize_tuple_struct(name, len)?, redactor: self.redactor })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let buffer = serde_json::value::Serializer
            .serialize_tuple_variant(name, index, variant, len)
            .map_err(S::Error::custom)?;
        Ok(Buffered { target: self.inner, redactor: self.redactor, buffer })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let len = if self.omit.is_some() { None } else { len };
        Ok(Map::new(self.inner.serialize_map(len)?, self.redactor, self.omit))
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        // A map, so that a field name the redactor changes can still be written (see above).
        let len = if self.omit.is_some() { None } else { Some(len) };
        Ok(Map::new(self.inner.serialize_map(len)?, self.redactor, self.omit))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let buffer = serde_json::value::Serializer
            .serialize_struct_variant(name, index, variant, len)
            .map_err(S::Error::custom)?;
        Ok(Buffered { target: self.inner, redactor: self.redactor, buffer })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A sequence, tuple or tuple struct: each element redacted.
struct Seq<'r, C> {
    inner: C,
    redactor: &'r Redactor,
}

impl<C: SerializeSeq> SerializeSeq for Seq<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), C::Error> {
        self.inner.serialize_element(&nested(self.redactor, value))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTuple> SerializeTuple for Seq<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), C::Error> {
        self.inner.serialize_element(&nested(self.redactor, value))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleStruct> SerializeTupleStruct for Seq<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), C::Error> {
        self.inner.serialize_field(&nested(self.redactor, value))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

/// What the key just written asks of its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyRule {
    /// Redact it like any value.
    Redact,
    /// A sensitive key: the whole value becomes the mask, unless it is null.
    Mask,
    /// The omitted top-level field: neither key nor value is written.
    Omit,
}

/// A map or a struct (written as a map): keys redacted, values redacted or masked.
struct Map<'r, M> {
    inner: M,
    redactor: &'r Redactor,
    omit: Option<&'static str>,
    /// The rule of the key written last, for its value.
    rule: KeyRule,
}

impl<'r, M: SerializeMap> Map<'r, M> {
    fn new(inner: M, redactor: &'r Redactor, omit: Option<&'static str>) -> Map<'r, M> {
        Map { inner, redactor, omit, rule: KeyRule::Redact }
    }

    fn value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), M::Error> {
        match self.rule {
            KeyRule::Omit => Ok(()),
            KeyRule::Mask if !is_null(value) => self.inner.serialize_value(MASK),
            _ => self.inner.serialize_value(&nested(self.redactor, value)),
        }
    }
}

/// Writes `key` redacted (unless it is the omitted field) and says what its value gets.
fn write_key<M: SerializeMap>(
    map: &mut M,
    redactor: &Redactor,
    omit: Option<&'static str>,
    key: &str,
) -> Result<KeyRule, M::Error> {
    let key = redactor.redact(key);
    if omit == Some(&*key) {
        return Ok(KeyRule::Omit);
    }
    map.serialize_key(&*key)?;
    Ok(if is_sensitive_key(&key) { KeyRule::Mask } else { KeyRule::Redact })
}

impl<M: SerializeMap> SerializeMap for Map<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), M::Error> {
        self.rule =
            key.serialize(KeySink { map: &mut self.inner, redactor: self.redactor, omit: self.omit })?;
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), M::Error> {
        self.value(value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

impl<M: SerializeMap> SerializeStruct for Map<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        // A struct's field names are the program's own, never a secret: only the omitted
        // field and the sensitive names matter (the snapshot writes some 40 per entity).
        self.rule = if self.omit == Some(key) {
            KeyRule::Omit
        } else {
            self.inner.serialize_key(key)?;
            if is_sensitive_key(key) { KeyRule::Mask } else { KeyRule::Redact }
        };
        self.value(value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

/// A tuple or struct variant, collected as a `Value` and redacted with `redact_json`.
struct Buffered<'r, S, B> {
    target: S,
    redactor: &'r Redactor,
    buffer: B,
}

impl<S: Serializer, B> Buffered<'_, S, B> {
    fn finish(
        target: S,
        redactor: &Redactor,
        value: Result<Value, serde_json::Error>,
    ) -> Result<S::Ok, S::Error> {
        let mut value = value.map_err(S::Error::custom)?;
        redactor.redact_json(&mut value);
        value.serialize(target)
    }
}

impl<S: Serializer> SerializeTupleVariant for Buffered<'_, S, ValueTupleVariant> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), S::Error> {
        self.buffer.serialize_field(value).map_err(S::Error::custom)
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        let Buffered { target, redactor, buffer } = self;
        Self::finish(target, redactor, buffer.end())
    }
}

impl<S: Serializer> SerializeStructVariant for Buffered<'_, S, ValueStructVariant> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.buffer.serialize_field(key, value).map_err(S::Error::custom)
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        let Buffered { target, redactor, buffer } = self;
        Self::finish(target, redactor, buffer.end())
    }
}

/// Serializes a map key: a string is redacted and written, anything else JSON allows as a
/// key (numbers, booleans, chars, unit variants) is turned into the string serde_json would
/// make of it first.
struct KeySink<'m, 'r, M> {
    map: &'m mut M,
    redactor: &'r Redactor,
    omit: Option<&'static str>,
}

impl<M: SerializeMap> KeySink<'_, '_, M> {
    fn write(self, key: &str) -> Result<KeyRule, M::Error> {
        write_key(self.map, self.redactor, self.omit, key)
    }

    /// A non-string key as serde_json's `Value` map would hold it.
    fn write_converted<T: ?Sized + Serialize>(self, key: &T) -> Result<KeyRule, M::Error> {
        let converted = json_key(key).map_err(M::Error::custom)?;
        self.write(&converted)
    }
}

fn json_key<T: ?Sized + Serialize>(key: &T) -> Result<String, serde_json::Error> {
    let mut map = serde_json::value::Serializer.serialize_map(Some(1))?;
    map.serialize_key(key)?;
    map.serialize_value(&())?;
    match SerializeMap::end(map)? {
        Value::Object(object) => object.into_iter().next().map(|(key, _)| key),
        _ => None,
    }
    .ok_or_else(|| serde_json::Error::custom("key must be a string"))
}

fn key_must_be_a_string<E: ser::Error>() -> E {
    E::custom("key must be a string")
}

impl<M: SerializeMap> Serializer for KeySink<'_, '_, M> {
    type Ok = KeyRule;
    type Error = M::Error;
    type SerializeSeq = Impossible<KeyRule, M::Error>;
    type SerializeTuple = Impossible<KeyRule, M::Error>;
    type SerializeTupleStruct = Impossible<KeyRule, M::Error>;
    type SerializeTupleVariant = Impossible<KeyRule, M::Error>;
    type SerializeMap = Impossible<KeyRule, M::Error>;
    type SerializeStruct = Impossible<KeyRule, M::Error>;
    type SerializeStructVariant = Impossible<KeyRule, M::Error>;

    fn serialize_str(self, v: &str) -> Result<KeyRule, M::Error> {
        self.write(v)
    }
    fn collect_str<T: ?Sized + std::fmt::Display>(self, value: &T) -> Result<KeyRule, M::Error> {
        self.write(ShortText::of(value)?.as_str())
    }
    fn serialize_char(self, v: char) -> Result<KeyRule, M::Error> {
        self.write(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<KeyRule, M::Error> {
        self.write(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<KeyRule, M::Error> {
        value.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_i8(self, v: i8) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_i16(self, v: i16) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_i32(self, v: i32) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_i64(self, v: i64) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_i128(self, v: i128) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_u8(self, v: u8) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_u16(self, v: u16) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_u32(self, v: u32) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_u64(self, v: u64) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_u128(self, v: u128) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_f32(self, v: f32) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_f64(self, v: f64) -> Result<KeyRule, M::Error> {
        self.write_converted(&v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<KeyRule, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<KeyRule, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<KeyRule, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<KeyRule, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<KeyRule, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<KeyRule, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, M::Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, M::Error> {
        Err(key_must_be_a_string())
    }
}

/// Whether `value` would be JSON `null` (`serde_json::to_value` gives `Value::Null`): none,
/// unit, a unit struct, a non-finite float, or one of those behind `Some` or a newtype.
fn is_null<T: ?Sized + Serialize>(value: &T) -> bool {
    value.serialize(NullProbe).unwrap_or(false)
}

struct NullProbe;

/// Any compound value: not null, whatever it holds.
struct NotNull;

impl Serializer for NullProbe {
    type Ok = bool;
    type Error = serde_json::Error;
    type SerializeSeq = NotNull;
    type SerializeTuple = NotNull;
    type SerializeTupleStruct = NotNull;
    type SerializeTupleVariant = NotNull;
    type SerializeMap = NotNull;
    type SerializeStruct = NotNull;
    type SerializeStructVariant = NotNull;

    fn serialize_none(self) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn serialize_unit(self) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<bool, Self::Error> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<bool, Self::Error> {
        value.serialize(self)
    }
    fn serialize_f32(self, v: f32) -> Result<bool, Self::Error> {
        Ok(!v.is_finite())
    }
    fn serialize_f64(self, v: f64) -> Result<bool, Self::Error> {
        Ok(!v.is_finite())
    }
    fn serialize_bool(self, _: bool) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_i8(self, _: i8) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_i16(self, _: i16) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_i32(self, _: i32) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_i64(self, _: i64) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_i128(self, _: i128) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_u8(self, _: u8) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_u16(self, _: u16) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_u32(self, _: u32) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_u64(self, _: u64) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_u128(self, _: u128) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_char(self, _: char) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_str(self, _: &str) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<NotNull, Self::Error> {
        Ok(NotNull)
    }
    fn serialize_tuple(self, _: usize) -> Result<NotNull, Self::Error> {
        Ok(NotNull)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<NotNull, Self::Error> {
        Ok(NotNull)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<NotNull, Self::Error> {
        Ok(NotNull)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<NotNull, Self::Error> {
        Ok(NotNull)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<NotNull, Self::Error> {
        Ok(NotNull)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<NotNull, Self::Error> {
        Ok(NotNull)
    }
    fn collect_str<T: ?Sized + std::fmt::Display>(self, _: &T) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

macro_rules! not_null_compound {
    ($($trait:ident { $($method:ident($($key:ty)?);)* })*) => {$(
        impl $trait for NotNull {
            type Ok = bool;
            type Error = serde_json::Error;
            $(fn $method<T: ?Sized + Serialize>(&mut self, $(_: $key,)? _: &T) -> Result<(), Self::Error> {
                Ok(())
            })*
            fn end(self) -> Result<bool, Self::Error> {
                Ok(false)
            }
        }
    )*};
}

not_null_compound! {
    SerializeSeq { serialize_element(); }
    SerializeTuple { serialize_element(); }
    SerializeTupleStruct { serialize_field(); }
    SerializeTupleVariant { serialize_field(); }
    SerializeStruct { serialize_field(&'static str); }
    SerializeStructVariant { serialize_field(&'static str); }
}

impl SerializeMap for NotNull {
    type Ok = bool;
    type Error = serde_json::Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, _: &T) -> Result<(), Self::Error> {
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, _: &T) -> Result<(), Self::Error> {
        Ok(())
    }
    fn end(self) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;

    // The fixtures of redact.rs, assembled so no realistic token sits in the source.
    use crate::redact::tests::{AWS, GHP, JWT, SK, SLACK, TELEGRAM};
    const PEM: &str = concat!(
        "-----BEGIN RSA PRIVATE KEY-----\n",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        "\n-----END RSA PRIVATE KEY-----"
    );
    /// Registered with the test redactors, like a resolved credential.
    const KNOWN: &str = "known-secret-value";

    fn redactor() -> Redactor {
        let redactor = Redactor::new();
        redactor.add_secret(KNOWN);
        redactor
    }

    /// The reference: the value as a tree, redacted with `redact_json`.
    fn via_tree<T: Serialize + ?Sized>(redactor: &Redactor, value: &T) -> Value {
        let mut tree = serde_json::to_value(value).expect("serializes");
        redactor.redact_json(&mut tree);
        tree
    }

    /// Checks the adapter against the reference through the `Value` serializer and through
    /// the JSON writers (compact and pretty), whose bytes must parse to the same value.
    fn assert_same<T: Serialize + ?Sized>(redactor: &Redactor, value: &T) -> Value {
        let want = via_tree(redactor, value);
        let streamed = Redacted::with(redactor, value);
        assert_eq!(serde_json::to_value(&streamed).expect("to_value"), want);
        let compact: Value =
            serde_json::from_slice(&serde_json::to_vec(&streamed).expect("to_vec")).expect("json");
        assert_eq!(compact, want);
        let pretty: Value =
            serde_json::from_slice(&serde_json::to_vec_pretty(&streamed).expect("to_vec_pretty"))
                .expect("json");
        assert_eq!(pretty, want);
        want
    }

    /// Text holding every kind of secret the redactor knows, and near misses.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(TELEGRAM.to_owned()),
            Just(format!("bot https://api.telegram.org/bot{TELEGRAM}/getMe")),
            Just(SK.to_owned()),
            Just(GHP.to_owned()),
            Just(SLACK.to_owned()),
            Just(AWS.to_owned()),
            Just(JWT.to_owned()),
            Just(PEM.to_owned()),
            Just("Bearer f00dBABE.cafe-1234".to_owned()),
            Just("Basic dXNlcjpwYXNzd29yZA==".to_owned()),
            Just("https://admin:hunter2pass@db.example.com/x".to_owned()),
            Just("https://example.com/h?verbose=1&token=s3cr3tQueryValue".to_owned()),
            Just("Authorization: Bearer abc\nnext line".to_owned()),
            Just("set-cookie: sid=1".to_owned()),
            Just(KNOWN.to_owned()),
            Just(MASK.to_owned()),
            Just("Bearer {}".to_owned()),
            Just("ssh://git@github.com/o/r".to_owned()),
            Just(" ".to_owned()),
            Just("\n".to_owned()),
            "[a-z0-9_-]{0,12}",
            any::<String>(),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(fragment(), 0..4).prop_map(|parts| parts.concat())
    }

    /// Keys: the sensitive names (any case), ordinary ones, and keys holding secrets. A key
    /// that may redact is prefixed with its place, so no two keys of one map redact to the
    /// same text (the documented difference).
    fn key() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            prop::sample::select(vec![
                "authorization",
                "Authorization",
                "PROXY-AUTHORIZATION",
                "cookie",
                "Set-Cookie",
                "x-api-key",
                "X-Api-Key",
                "api_token",
                "accessToken",
                "TOKEN",
                "db_password",
                "client_secret",
                "tokens",
                "token_count",
                "secrets",
                "name",
                "message",
                "",
            ])
            .prop_map(|k| Some(k.to_owned())),
            text().prop_map(|_| None).boxed(),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key(), text(), inner), 0..6).prop_map(|entries| {
                    let mut map = serde_json::Map::new();
                    for (i, (fixed, secret, value)) in entries.into_iter().enumerate() {
                        let key = fixed.unwrap_or_else(|| format!("k{i} {secret}"));
                        map.insert(key, value);
                    }
                    Value::Object(map)
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn streaming_matches_redact_json_on_arbitrary_json(value in json_value()) {
            let redactor = redactor();
            let want = via_tree(&redactor, &value);
            prop_assert_eq!(serde_json::to_value(Redacted::with(&redactor, &value)).unwrap(), want.clone());
            let bytes = serde_json::to_vec(&Redacted::with(&redactor, &value)).unwrap();
            prop_assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), want);
        }

        #[test]
        fn streaming_matches_redact_json_on_typed_values(
            texts in prop::collection::vec(text(), 12),
            number in any::<f64>(),
            present in any::<bool>(),
        ) {
            let redactor = redactor();
            let sample = Sample::from_texts(&texts, number, present);
            let want = via_tree(&redactor, &sample);
            prop_assert_eq!(serde_json::to_value(Redacted::with(&redactor, &sample)).unwrap(), want.clone());
            let bytes = serde_json::to_vec_pretty(&Redacted::with(&redactor, &sample)).unwrap();
            prop_assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), want);
        }
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapped(String);

    #[derive(Serialize)]
    struct Pair(String, u8);

    #[derive(Serialize)]
    enum Kind {
        Plain,
        /// A unit variant whose name is a registered secret: a string that redacts.
        #[serde(rename = "known-secret-value")]
        Known,
        Newtype(String),
        /// A sensitive newtype variant: `{"Token": ...}` is masked unless null.
        Token(Option<String>),
        Tuple(String, u32),
        Struct {
            note: String,
            api_token: Option<String>,
        },
        /// Variant names that redact, one of them into a sensitive key.
        #[serde(rename = "x-known-secret-value")]
        RenamedNewtype(String),
        #[serde(rename = "known-secret-value_token")]
        RenamedSensitive(u32),
        #[serde(rename = "y-known-secret-value")]
        RenamedStruct {
            #[serde(rename = "known-secret-value")]
            field: String,
        },
    }

    #[derive(Serialize)]
    #[serde(tag = "type")]
    enum Tagged {
        #[serde(rename = "known-secret-value")]
        Known {
            note: String,
        },
        Other {
            password: String,
        },
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Untagged {
        Text(String),
        Number(f64),
        Nothing(Option<u8>),
    }

    #[derive(Serialize)]
    struct Credentials {
        user: String,
        pass: String,
    }

    #[derive(Serialize)]
    struct Sample {
        name: String,
        letter: char,
        api_token: Option<String>,
        db_password: Option<Credentials>,
        client_secret: Option<String>,
        /// Null when not finite: then it stays null.
        ratio_secret: f64,
        unit_token: Unit,
        wrapped_token: Wrapped,
        wrapped: Wrapped,
        pair: Pair,
        tuple: (String, Option<String>),
        tags: Vec<String>,
        labels: BTreeMap<String, String>,
        headers: HashMap<String, String>,
        by_number: BTreeMap<u32, String>,
        by_flag: BTreeMap<bool, Value>,
        by_char: BTreeMap<char, String>,
        kinds: Vec<Kind>,
        tagged: Vec<Tagged>,
        untagged: Vec<Untagged>,
        #[serde(rename = "x-known-secret-value-y")]
        renamed: String,
        #[serde(rename = "known-secret-value-password")]
        renamed_sensitive: String,
        nested: Vec<BTreeMap<String, Option<Value>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<String>,
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
    }

    impl Sample {
        fn from_texts(t: &[String], number: f64, present: bool) -> Sample {
            let some = |s: &String| present.then(|| s.clone());
            Sample {
                name: t[0].clone(),
                letter: t[1].chars().next().unwrap_or('x'),
                api_token: some(&t[2]),
                db_password: present.then(|| Credentials { user: t[3].clone(), pass: t[4].clone() }),
                client_secret: None,
                ratio_secret: if present { number } else { f64::NAN },
                unit_token: Unit,
                wrapped_token: Wrapped(t[5].clone()),
                wrapped: Wrapped(t[5].clone()),
                pair: Pair(t[6].clone(), 7),
                tuple: (t[7].clone(), some(&t[8])),
                tags: t.to_vec(),
                labels: [
                    (format!("a {}", t[9]), t[10].clone()),
                    ("Cookie".to_owned(), t[11].clone()),
                    (format!("b {KNOWN}"), t[0].clone()),
                    (format!("c {GHP}_token"), t[1].clone()),
                ]
                .into_iter()
                .collect(),
                headers: [
                    ("Authorization".to_owned(), format!("Bearer {}", t[2])),
                    ("Accept".to_owned(), t[3].clone()),
                ]
                .into_iter()
                .collect(),
                by_number: [(1, t[4].clone()), (123456789, t[5].clone())].into_iter().collect(),
                by_flag: [(true, json!({"token": t[6], "ok": t[7]})), (false, Value::Null)]
                    .into_iter()
                    .collect(),
                by_char: [('k', t[8].clone())].into_iter().collect(),
                kinds: vec![
                    Kind::Plain,
                    Kind::Known,
                    Kind::Newtype(t[9].clone()),
                    Kind::Token(some(&t[10])),
                    Kind::Tuple(t[11].clone(), 3),
                    Kind::Struct { note: t[0].clone(), api_token: some(&t[1]) },
                    Kind::RenamedNewtype(t[2].clone()),
                    Kind::RenamedSensitive(4),
                    Kind::RenamedStruct { field: t[3].clone() },
                ],
                tagged: vec![Tagged::Known { note: t[4].clone() }, Tagged::Other { password: t[5].clone() }],
                untagged: vec![
                    Untagged::Text(t[6].clone()),
                    Untagged::Number(number),
                    Untagged::Nothing(None),
                    Untagged::Nothing(Some(1)),
                ],
                renamed: t[7].clone(),
                renamed_sensitive: t[8].clone(),
                nested: vec![
                    [("secret".to_owned(), None), ("x_token".to_owned(), Some(json!([t[9]])))]
                        .into_iter()
                        .collect(),
                    [(t[10].clone(), Some(json!({"set-cookie": null, "v": t[11]})))].into_iter().collect(),
                ],
                skipped: some(&t[0]),
                extra: [("flat_secret".to_owned(), json!(t[1])), ("flat".to_owned(), json!({"a": t[2]}))]
                    .into_iter()
                    .collect(),
            }
        }
    }

    #[test]
    fn typed_values_with_every_secret_come_out_as_redact_json_leaves_them() {
        let redactor = redactor();
        let secrets = [
            TELEGRAM.to_owned(),
            SK.to_owned(),
            GHP.to_owned(),
            SLACK.to_owned(),
            AWS.to_owned(),
            JWT.to_owned(),
            PEM.to_owned(),
            "Bearer f00dBABE.cafe-1234".to_owned(),
            "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
            "https://admin:hunter2pass@db.example.com/x".to_owned(),
            "GET /x?a=1&token=s3cr3tQueryValue&b=2".to_owned(),
            format!("x-api-key: {KNOWN}"),
        ];
        for present in [true, false] {
            let sample = Sample::from_texts(&secrets, 1.5, present);
            let out = assert_same(&redactor, &sample);
            let text = out.to_string();
            for secret in
                ["AAHdqTcv", "abcDEF1234", "1234567890abcdefghij", "AbCdEfGhIjKl", "IOSFODNN7", "dozjgNry"]
            {
                assert!(!text.contains(secret), "{secret} leaked in {text}");
            }
            for secret in ["MIIEowIBAAK", "f00dBABE", "dXNlcjpw", "hunter2pass", "s3cr3tQueryValue", KNOWN] {
                assert!(!text.contains(secret), "{secret} leaked in {text}");
            }
        }
        // Spot checks of the key rule, beside the equality.
        let out = serde_json::to_value(Redacted::with(&redactor, &Sample::from_texts(&secrets, 1.5, false)))
            .unwrap();
        assert_eq!(out["client_secret"], Value::Null);
        assert_eq!(out["ratio_secret"], Value::Null);
        assert_eq!(out["unit_token"], Value::Null);
        assert_eq!(out["wrapped_token"], MASK);
        assert_eq!(out["headers"]["Authorization"], MASK);
        assert_eq!(out["kinds"][1], MASK);
        assert_eq!(out["kinds"][3], json!({"Token": null}));
        assert_eq!(out["kinds"][7], json!({"[REDACTED]_token": MASK}));
        assert_eq!(out["[REDACTED]-password"], MASK);
        assert_eq!(out["flat_secret"], MASK);
        assert!(out.get("skipped").is_none());
    }

    #[test]
    fn the_live_state_comes_out_as_redact_json_leaves_it() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/state/mission-control.example.json"
        ))
        .expect("the example snapshot");
        let mut live: crate::state::LiveState = serde_json::from_str(&text).expect("the example parses");
        let redactor = redactor();
        assert_same(&redactor, &live);

        // Plant secrets where live state carries free text and free-form JSON.
        let routine = std::sync::Arc::make_mut(live.routines.first_mut().expect("a routine"));
        routine.message = format!("probe failed: Authorization: Bearer {JWT}");
        routine.labels.insert(format!("key {KNOWN}"), SK.to_owned());
        routine.labels.insert("session_token".to_owned(), "abc".to_owned());
        if let Some(evidence) = routine.evidence.as_mut() {
            std::sync::Arc::make_mut(evidence).error =
                Some(format!("GET https://u:{KNOWN}@h/?token=x failed"));
        }
        let mismatch = live.mismatches.first_mut().expect("a mismatch");
        mismatch.desired =
            json!({"headers": {"Authorization": {"credential": "api"}, "Cookie": null}, "url": TELEGRAM});
        mismatch.observed = json!([{"api_key_secret": 1}, GHP, null, 2.5]);
        live.workspace_revision = Some(AWS.to_owned());
        let out = assert_same(&redactor, &live);
        let text = out.to_string();
        for secret in [KNOWN, "dozjgNry", "abcDEF1234", "AAHdqTcv", "IOSFODNN7", "1234567890abcdefghij"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn omitting_drops_a_top_level_field_only() {
        let redactor = redactor();
        let value = json!({"tasks": [1], "keep": {"tasks": [2]}, "token": "x"});
        let out = serde_json::to_value(Redacted::with(&redactor, &value).omitting("tasks")).unwrap();
        assert_eq!(out, json!({"keep": {"tasks": [2]}, "token": MASK}));
    }

    #[test]
    fn the_global_redactor_is_the_default() {
        crate::redact::global().add_secret("stream-global-secret");
        let out = serde_json::to_string(&Redacted::new(&vec!["a stream-global-secret"])).unwrap();
        assert_eq!(out, r#"["a [REDACTED]"]"#);
    }

    #[test]
    fn colliding_keys_are_written_twice_never_unredacted() {
        // The documented difference: redact_json merges keys that redact alike, the stream
        // writes both; either way no secret comes out.
        let redactor = redactor();
        let value: BTreeMap<String, String> =
            [(SK.to_owned(), "a".to_owned()), (GHP.to_owned(), KNOWN.to_owned())].into();
        let text = serde_json::to_string(&Redacted::with(&redactor, &value)).unwrap();
        assert_eq!(text, r#"{"[REDACTED]":"[REDACTED]","[REDACTED]":"a"}"#);
    }

    /// A value written through `collect_str` (as chrono writes timestamps and the entity keys
    /// write themselves), short, long and not ASCII, comes out as its `to_string` would,
    /// redacted, as a value and as a map key.
    #[test]
    fn displayed_values_are_written_whole_and_redacted() {
        struct Shown(String);
        impl Serialize for Shown {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
        let redactor = redactor();
        let long = format!("{} then {KNOWN} and {}", "x".repeat(70), "é".repeat(40));
        for text in ["", "2026-12-03T19:05:00.123Z", "ünïcode ✓", &"y".repeat(64), &"z".repeat(65), &long]
        {
            let want = redactor.redact(text).into_owned();
            assert_eq!(
                serde_json::to_value(Redacted::with(&redactor, &Shown(text.to_owned()))).unwrap(),
                json!(want)
            );
            let map: BTreeMap<String, Shown> = [("k".to_owned(), Shown(text.to_owned()))].into();
            assert_eq!(serde_json::to_value(Redacted::with(&redactor, &map)).unwrap(), json!({"k": want}));
        }
        assert!(!serde_json::to_string(&Redacted::with(&redactor, &Shown(long))).unwrap().contains(KNOWN));
        let stamp = chrono::DateTime::from_timestamp(1_800_000_000, 123_456_000).expect("time");
        assert_same(&redactor, &vec![stamp]);
        let key = crate::config::EntityKey::new(crate::config::Kind::Routine, "r");
        let keyed: BTreeMap<crate::config::EntityKey, u8> = [(key, 1)].into();
        assert_eq!(serde_json::to_value(Redacted::with(&redactor, &keyed)).unwrap(), json!({"routine/r": 1}));
    }
}
