//! JSON fields read one by one, without building a tree of the whole line.
//!
//! A run-log line or a transcript line is mostly text this reader never looks at (tool output,
//! message bodies, delivery details). Parsing each line into a `serde_json::Value` allocates
//! every key and every string of it; a home with a million run lines and a gigabyte of
//! transcripts then spends most of its first read in the allocator. The readers here visit a
//! line's keys, keep the few fields they need (borrowed from the line when it has no escapes)
//! and skip the rest as they parse it. The same fields can be taken from a `Value` too (the
//! SQLite stores keep the same entries as JSON text), so both paths share one interpretation.
//!
//! Every field is read as leniently as [`super::store::text`] and [`super::store::number`]
//! read a tree: a field of an unexpected type is absent, never an error; a key given twice
//! keeps its last value. Only a line that is not JSON, or not an object, is an error.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, Deserialize, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One field of an object, as far as this reader cares: text, a number, or something else.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    Num(f64),
    /// `null`, a boolean, an object or a list.
    Other,
}

impl<'a> Field<'a> {
    /// The field of a tree, borrowed from it.
    pub fn of(v: Option<&'a Value>) -> Field<'a> {
        match v {
            None => Field::Absent,
            Some(Value::String(s)) => Field::Str(Cow::Borrowed(s)),
            Some(Value::Number(n)) => n.as_f64().map_or(Field::Other, Field::Num),
            Some(_) => Field::Other,
        }
    }

    /// A non-empty trimmed string (as [`super::store::text`]).
    pub fn text(&self) -> Option<String> {
        self.str().map(str::to_string)
    }

    /// The trimmed string, when it is one and not empty.
    pub fn str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s.trim()).filter(|s| !s.is_empty()),
            _ => None,
        }
    }

    /// A finite number, or a string holding one (as [`super::store::number`]).
    pub fn number(&self) -> Option<f64> {
        match self {
            Field::Num(n) => Some(*n).filter(|f| f.is_finite()),
            Field::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }

    /// A number as whole milliseconds (or a count), as [`super::store::integer`].
    pub fn integer(&self) -> Option<i64> {
        self.number().map(|f| f.floor() as i64)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(s)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Field<'de>, E> {
                Ok(Field::Num(n as f64))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Field<'de>, E> {
                Ok(Field::Num(n as f64))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Field<'de>, E> {
                Ok(Field::Num(n))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// An object key, borrowed from the line when it has no escapes.
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A field that is an object with fields of its own: the object read as `T`, or something
/// else (skipped), or absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Object<T> {
    #[default]
    Absent,
    Is(T),
    Other,
}

impl<T> Object<T> {
    /// The object, when the field is one.
    pub fn get(&self) -> Option<&T> {
        match self {
            Object::Is(t) => Some(t),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Object::Absent)
    }
}

/// How a type reads itself from the entries of an object (its keys already read).
pub trait Fields<'de>: Default {
    /// Takes the value of `key` from `map`; must consume it (skip it when not wanted).
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Reads an object of `T`'s fields from `map`.
pub fn visit_fields<'de, T: Fields<'de>, A: MapAccess<'de>>(mut map: A) -> Result<T, A::Error> {
    let mut out = T::default();
    while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
        out.field(&key, &mut map)?;
    }
    Ok(out)
}

/// Reads a whole line that must be an object of `T`'s fields.
pub fn parse_line<'de, T: Fields<'de>>(line: &'de str) -> Result<T, serde_json::Error> {
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            visit_fields(map)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    let out = de.deserialize_map(V(std::marker::PhantomData))?;
    de.end()?;
    Ok(out)
}

impl<'de, T: Fields<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                visit_fields(map).map(Object::Is)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Object<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Object::Other)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Object<T>, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_none<E: de::Error>(self) -> Result<Object<T>, E> {
                Ok(Object::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Object<T>, E> {
                Ok(Object::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Object<T>, E> {
                Ok(Object::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Object<T>, E> {
                Ok(Object::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Object<T>, E> {
                Ok(Object::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Object<T>, E> {
                Ok(Object::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Object<T>, E> {
                Ok(Object::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Skips the value of the current key.
pub fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Probe<'a> {
        a: Field<'a>,
        b: Field<'a>,
        inner: Object<Inner<'a>>,
    }

    #[derive(Debug, Default, PartialEq)]
    struct Inner<'a> {
        c: Field<'a>,
    }

    impl<'de> Fields<'de> for Probe<'de> {
        fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
            match key {
                "a" => self.a = map.next_value()?,
                "b" => self.b = map.next_value()?,
                "inner" => self.inner = map.next_value()?,
                _ => skip(map)?,
            }
            Ok(())
        }
    }

    impl<'de> Fields<'de> for Inner<'de> {
        fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
            match key {
                "c" => self.c = map.next_value()?,
                _ => skip(map)?,
            }
            Ok(())
        }
    }

    #[test]
    fn fields_read_as_leniently_as_a_tree() {
        let p: Probe = parse_line(r#"{"a":" x ","b":"12.5","x":{"deep":[1,{"y":null}]},"inner":{"c":3}}"#)
            .expect("parses");
        assert_eq!(
            (p.a.text(), p.b.integer(), p.inner.get().and_then(|i| i.c.integer())),
            (Some("x".into()), Some(12), Some(3))
        );
        assert!(matches!(p.a, Field::Str(Cow::Borrowed(_))), "borrowed from the line");

        // Unexpected types are absent values, not errors; the last of two keys wins.
        let p: Probe = parse_line(r#"{"a":true,"b":[1],"inner":"text","a":"again\n"}"#).expect("parses");
        assert_eq!((p.a.text(), p.b.number(), p.inner), (Some("again".into()), None, Object::Other));
        assert_eq!(Probe::default().a, Field::Absent);

        // A tree gives the same fields.
        let v: Value = serde_json::from_str(r#"{"a":"7","b":null}"#).expect("json");
        assert_eq!(Field::of(v.get("a")).integer(), Some(7));
        assert_eq!(Field::of(v.get("b")), Field::Other);
        assert_eq!(Field::of(v.get("z")), Field::Absent);

        for bad in ["[1]", "\"text\"", "{\"a\":1", "{\"a\":1} trailing", ""] {
            assert!(parse_line::<Probe>(bad).is_err(), "{bad}");
        }
    }
}
