//! Cases checked against Go 1.27 (the reference's toolchain) decoding into
//! the reference's `Message` struct.

use super::decode_message;

mod go_cases;

fn ok(body: &[u8], text: &str) {
    assert_eq!(
        decode_message(body),
        Ok(text.to_string()),
        "{:?}",
        String::from_utf8_lossy(body)
    );
}

fn err(body: &[u8], message: &str) {
    assert_eq!(
        decode_message(body),
        Err(message.to_string()),
        "{:?}",
        String::from_utf8_lossy(body)
    );
}

#[test]
fn accepted_bodies() {
    ok(br#"{"text":"hi"}"#, "hi");
    ok(b"{}", "");
    ok(b"null", "");
    ok(br#"{"text":null}"#, "");
    ok(br#"{"text":"a","text":null}"#, "a");
    ok(br#"{"Text":"a","text":"b"}"#, "b");
    ok(br#"{"text":"b","TEXT":"a"}"#, "a");
    ok(br#"{"text":"a","TeXt":"b","text":"c"}"#, "c");
    ok(br#"{"text":"a"} trailing"#, "a");
    ok(br#"{"text":"a"}{"#, "a");
    ok(b" \n{\"text\" : \"a\" }", "a");
    ok(br#"{"text" :"a" , "author":"me"}"#, "a");
    ok(br#"{"text":"\ud800"}"#, "\u{fffd}");
    ok(b"{\"text\":\"\xff\xe2\x82\"}", "\u{fffd}\u{fffd}\u{fffd}");
    ok(
        b"{\"text\":\"a\xed\xa0\x80b\"}",
        "a\u{fffd}\u{fffd}\u{fffd}b",
    );
    ok(br#"{"text":"\uD83D\uDE00"}"#, "😀");
    ok(br#"{"text":"\uDE00\uD83D"}"#, "\u{fffd}\u{fffd}");
    ok(br#"{"text":"\/"}"#, "/");
    ok(br#"{"text":"\u0000"}"#, "\0");
    ok(br#"{"id":null,"sent_at":null}"#, "");
    ok(br#"{"sent_at":"2020-01-01T00:00:00Z","text":"ok"}"#, "ok");
    ok(
        br#"{"sent_at":"2020-01-01T00:00:00+01:00","text":"ok"}"#,
        "ok",
    );
    ok(br#"{"sent_at":"2020-01-01T00:00:00+24:00"}"#, "");
    ok(
        br#"{"id":"{00000000-0000-0000-0000-000000000000}","chat_id":"urn:uuid:00000000-0000-0000-0000-000000000000","text":"ok"}"#,
        "ok",
    );
    ok("{\"İd\":5}".as_bytes(), "");
    ok(br#"{"chatid":5,"CHAT-ID":5,"sentat":5}"#, "");
    ok(br#"{"unknown":{"deep":[1,2,{"x":null}]},"text":"t"}"#, "t");
    let deep = format!("{}1{}", "{\"a\":".repeat(9_999), "}".repeat(9_999));
    ok(deep.as_bytes(), "");
}

#[test]
fn end_of_input() {
    err(b"", "EOF");
    err(b"  ", "EOF");
    err(b"{", "unexpected EOF");
    err(br#"{"text":"a""#, "unexpected EOF");
    err(b"-", "unexpected EOF");
    err(b"nul", "unexpected EOF");
    err(b"tru", "unexpected EOF");
    err(b"\"", "unexpected EOF");
    err(b"\"abc", "unexpected EOF");
    err(br#"{"a":1"#, "unexpected EOF");
    err(br#"{"a""#, "unexpected EOF");
    err(br#"{"a":"#, "unexpected EOF");
    err(b"[1,", "unexpected EOF");
    err(br#"{"text":"\"}"#, "unexpected EOF");
    err(br#"{"text":5,"a":1"#, "unexpected EOF");
}

#[test]
fn syntax_errors_win_over_type_errors() {
    err(
        br#"{"text":5,"a":tru}"#,
        "invalid character '}' in literal true (expecting 'e')",
    );
    err(
        br#"{"id":"x","a":tru}"#,
        "invalid character '}' in literal true (expecting 'e')",
    );
    err(
        b"{\"text\":5,\"a\":\"\x01\"}",
        "invalid character '\\x01' in string",
    );
}

#[test]
fn a_bad_first_character_is_named_as_go_names_it() {
    err(
        b"\xc3",
        "invalid character '\\xc3' looking for beginning of value",
    );
    err(
        b"\n\tx",
        "invalid character 'x' looking for beginning of value",
    );
    err(
        b"'",
        "invalid character '\\'' looking for beginning of value",
    );
    err(
        b"\x7f",
        "invalid character '\\x7f' looking for beginning of value",
    );
    err(
        "é".as_bytes(),
        "invalid character 'é' looking for beginning of value",
    );
    err(
        "€x".as_bytes(),
        "invalid character '€' looking for beginning of value",
    );
    err(
        b"\x01",
        "invalid character '\\x01' looking for beginning of value",
    );
    err(
        b"\xef\xbb\xbf{}",
        "invalid character '\\ufeff' looking for beginning of value",
    );
}

#[test]
fn bad_literals_escapes_and_string_bytes_are_named_where_they_break() {
    err(br#"{"a" 1}"#, "invalid character '1' after object key");
    err(
        b"nulx",
        "invalid character 'x' in literal null (expecting 'l')",
    );
    err(
        br#"{"a":tru}"#,
        "invalid character '}' in literal true (expecting 'e')",
    );
    err(
        br#"{"text":tx}"#,
        "invalid character 'x' in literal true (expecting 'r')",
    );
    err(br#"{"a\x":1}"#, "invalid escape sequence `\\x` in string");
    err(
        br#"{"text":"\u12G4"}"#,
        "invalid escape sequence `\\u12G4` in string",
    );
    err(
        br#"{"text":"\u"}"#,
        "invalid escape sequence `\\u\"}` in string",
    );
    err(
        br#"{"text":"\u12"}"#,
        "invalid escape sequence `\\u12\"}` in string",
    );
    err(
        b"{\"text\":\"a\x01\"}",
        "invalid character '\\x01' in string",
    );
    err(b"{\"text\":\"\t\"}", "invalid character '\\t' in string");
}

#[test]
fn bad_numbers_are_named_where_they_break() {
    err(
        br#"{"text":1e}"#,
        "invalid character '}' in numeric literal",
    );
    err(
        br#"{"text":1.}"#,
        "invalid character '}' in numeric literal",
    );
    err(
        br#"{"text":1.5e+}"#,
        "invalid character '}' in numeric literal",
    );
    err(
        br#"{"text":-a}"#,
        "invalid character 'a' in numeric literal",
    );
    err(br#"{"text":-}"#, "invalid character '}' in numeric literal");
    err(
        br#"{"text":-0.}"#,
        "invalid character '}' in numeric literal",
    );
    err(
        br#"{"text":01}"#,
        "invalid character '1' after object key:value pair",
    );
    err(
        br#"{"text":0x1}"#,
        "invalid character 'x' after object key:value pair",
    );
}

#[test]
fn bad_arrays_and_objects_and_too_deep_nesting_are_named() {
    err(
        b"[1,]",
        "invalid character ']' looking for beginning of value",
    );
    err(
        b"[1,tru]",
        "invalid character ']' in literal true (expecting 'e')",
    );
    err(
        b"{,}",
        "invalid character ',' looking for beginning of object key string",
    );
    err(
        br#"{"a":1,}"#,
        "invalid character '}' looking for beginning of object key string",
    );
    err(
        br#"{"a":[1 2]}"#,
        "invalid character '2' after array element",
    );
    let deep = format!("{}{}", "[".repeat(10_001), "]".repeat(10_001));
    err(deep.as_bytes(), "exceeded max depth");
}

#[test]
fn a_body_that_is_not_an_object_names_the_message_type() {
    err(
        b"[]",
        "json: cannot unmarshal array into Go value of type main.Message",
    );
    err(
        b"\"abc\"",
        "json: cannot unmarshal string into Go value of type main.Message",
    );
    err(
        b"123",
        "json: cannot unmarshal number into Go value of type main.Message",
    );
    err(
        b"1x",
        "json: cannot unmarshal number into Go value of type main.Message",
    );
    err(
        b"true",
        "json: cannot unmarshal bool into Go value of type main.Message",
    );
}

#[test]
fn type_errors_name_the_field_as_written() {
    err(
        br#"{"text":5}"#,
        "json: cannot unmarshal number into Go struct field Message.text of type string",
    );
    err(
        br#"{"TEXT":5}"#,
        "json: cannot unmarshal number into Go struct field Message.TEXT of type string",
    );
    err(
        br#"{"te\u0078t":5}"#,
        "json: cannot unmarshal number into Go struct field Message.text of type string",
    );
    err(
        br#"{"text":{}}"#,
        "json: cannot unmarshal object into Go struct field Message.text of type string",
    );
    err(
        br#"{"text":"x","text":[]}"#,
        "json: cannot unmarshal array into Go struct field Message.text of type string",
    );
    err(
        br#"{"TEXT":"a","text":5}"#,
        "json: cannot unmarshal number into Go struct field Message.text of type string",
    );
    err(
        br#"{"text":5,"author":true}"#,
        "json: cannot unmarshal number into Go struct field Message.text of type string",
    );
    err(
        br#"{"text":5,"id":"x"}"#,
        "json: cannot unmarshal number into Go struct field Message.text of type string",
    );
    err(
        br#"{"id":5}"#,
        "json: cannot unmarshal number into Go struct field Message.id of type uuid.UUID: JSON value must be string type",
    );
    err(
        br#"{"Chat_Id":5}"#,
        "json: cannot unmarshal number into Go struct field Message.Chat_Id of type uuid.UUID: JSON value must be string type",
    );
    err(
        br#"{"id":{}}"#,
        "json: cannot unmarshal object into Go struct field Message.id of type uuid.UUID: JSON value must be string type",
    );
    err(
        br#"{"id":[1]}"#,
        "json: cannot unmarshal array into Go struct field Message.id of type uuid.UUID: JSON value must be string type",
    );
}

#[test]
fn sent_at_type_errors_name_the_field_as_written() {
    err(
        br#"{"sent_at":5}"#,
        "json: cannot unmarshal number into Go struct field Message.sent_at of type time.Time",
    );
    err(
        br#"{"sent_at":{}}"#,
        "json: cannot unmarshal object into Go struct field Message.sent_at of type time.Time",
    );
    err(
        br#"{"sent_at":[1]}"#,
        "json: cannot unmarshal array into Go struct field Message.sent_at of type time.Time",
    );
    err(
        br#"{"sent_at":true}"#,
        "json: cannot unmarshal bool into Go struct field Message.sent_at of type time.Time",
    );
    err(
        "{\"\u{17f}ent_at\":5}".as_bytes(),
        "json: cannot unmarshal number into Go struct field Message.\u{17f}ent_at of type time.Time",
    );
}

#[test]
fn field_values_are_parsed_as_their_go_types() {
    err(br#"{"id":"x"}"#, "invalid UUID length: 1");
    err(br#"{"id":"x","text":5}"#, "invalid UUID length: 1");
    err(br#"{"id":"","text":"a"}"#, "invalid UUID length: 0");
    err(b"{\"id\":\"\xff\"}", "invalid UUID length: 3");
    err(br#"{"id":"\u00e9"}"#, "invalid UUID length: 2");
    err(
        b"{\"id\":\"urn:uuid\xff00000000-0000-0000-0000-000000000000\"}",
        "invalid UUID length: 47",
    );
    let layout = "\"2006-01-02T15:04:05Z07:00\"";
    err(
        br#"{"sent_at":"x"}"#,
        &format!("parsing time \"x\" as {layout}: cannot parse \"x\" as \"2006\""),
    );
    err(
        br#"{"sent_at":"x","text":5}"#,
        &format!("parsing time \"x\" as {layout}: cannot parse \"x\" as \"2006\""),
    );
    err(
        br#"{"sent_at":""}"#,
        &format!("parsing time \"\" as {layout}: cannot parse \"\" as \"2006\""),
    );
    err(
        br#"{"sent_at":"2020-01-01 00:00:00Z"}"#,
        &format!("parsing time \"2020-01-01 00:00:00Z\" as {layout}: cannot parse \" 00:00:00Z\" as \"T\""),
    );
    err(
        br#"{"sent_at":"2020-01-01T00:00:00"}"#,
        &format!(
            "parsing time \"2020-01-01T00:00:00\" as {layout}: cannot parse \"\" as \"Z07:00\""
        ),
    );
    err(
        br#"{"sent_at":"2020-01-01T00:00:00.Z"}"#,
        &format!(
            "parsing time \"2020-01-01T00:00:00.Z\" as {layout}: cannot parse \".Z\" as \"Z07:00\""
        ),
    );
    err(
        br#"{"sent_at":"2020-01-01t00:00:00z"}"#,
        &format!("parsing time \"2020-01-01t00:00:00z\" as {layout}: cannot parse \"t00:00:00z\" as \"T\""),
    );
    err(
        br#"{"sent_at":"20201-01-01T00:00:00Z"}"#,
        &format!("parsing time \"20201-01-01T00:00:00Z\" as {layout}: cannot parse \"1-01-01T00:00:00Z\" as \"-\""),
    );
    err(
        br#"{"sent_at":"2020-13-01T00:00:00Z"}"#,
        "parsing time \"2020-13-01T00:00:00Z\": month out of range",
    );
    err(
        br#"{"sent_at":"2020-02-30T00:00:00Z"}"#,
        "parsing time \"2020-02-30T00:00:00Z\": day out of range",
    );
    err(
        br#"{"sent_at":"2020-01-01T25:00:00Z"}"#,
        "parsing time \"2020-01-01T25:00:00Z\": hour out of range",
    );
}

/// No input makes the decoder panic or recurse: random bytes, and random
/// splices of valid bodies (a seeded generator, so every run is the same).
#[test]
fn no_input_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let pieces: [&[u8]; 14] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b":",
        b",",
        b"\\u",
        b"\\ud83d",
        b"text",
        b"sent_at",
        b"2020-01-01T00:00:00",
        b"\xc3",
        b"-1.5e+3",
    ];
    for _ in 0..20_000 {
        let mut body = Vec::new();
        for _ in 0..rng.gen_range(0..24) {
            if rng.gen_bool(0.5) {
                body.extend_from_slice(pieces[rng.gen_range(0..pieces.len())]);
            } else {
                body.push(rng.gen());
            }
        }
        let _ = decode_message(&body);
    }
    let _ = super::super::time::check_rfc3339("2020-01-01T00:00:00+\u{e9}\u{e9}:00");
    let _ = super::super::time::check_rfc3339("\u{e9}\u{e9}\u{e9}\u{e9}");
}
