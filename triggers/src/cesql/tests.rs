//! Unit tests of the CESQL module beyond the TCK: parse error positions and messages, and
//! evaluation corner cases (precedence, overflow, error propagation, casts, functions).

use std::borrow::Cow;
use std::collections::HashMap;

use super::parser::MAX_NESTING;
use super::{Attributes, EvalError, Expression, ParseError, Value, ValueRef};

struct Event(HashMap<&'static str, Value>);

impl Attributes for Event {
    fn attribute(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }
}

fn event() -> Event {
    Event(HashMap::from([
        ("specversion", Value::String("1.0".into())),
        ("id", Value::String("abc-123".into())),
        (
            "source",
            Value::String("https://example.com/foo/bar".into()),
        ),
        ("type", Value::String("com.example.created".into())),
        ("myint", Value::Integer(42)),
        ("mybool", Value::Boolean(true)),
        ("text", Value::String("日本語".into())),
    ]))
}

fn parse_error(source: &str) -> ParseError {
    match Expression::parse(source) {
        Ok(parsed) => panic!("{source:?} parsed as {parsed:?}"),
        Err(error) => error,
    }
}

fn eval(source: &str) -> (Value, Vec<&'static str>) {
    let expression = Expression::parse(source).unwrap_or_else(|e| panic!("{source:?}: {e}"));
    let evaluation = expression.evaluate(&event());
    let kinds = evaluation.errors.iter().map(EvalError::kind).collect();
    (evaluation.value, kinds)
}

fn value(source: &str) -> Value {
    let (value, errors) = eval(source);
    assert!(errors.is_empty(), "{source:?} raised {errors:?}");
    value
}

fn int(i: i32) -> Value {
    Value::Integer(i)
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

const TRUE: Value = Value::Boolean(true);
const FALSE: Value = Value::Boolean(false);

#[test]
fn parse_errors_point_at_the_offending_character() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "expected an expression, found end of expression"),
        (
            "type = ",
            7,
            "expected an expression, found end of expression",
        ),
        ("ABC(", 4, "expected an expression, found end of expression"),
        (
            "x LIKE 123",
            7,
            "expected a string literal as the LIKE pattern, found integer 123",
        ),
        (
            "(1 + 2",
            6,
            "expected ')' closing the '(' at position 0, found end of expression",
        ),
        (
            "f(1 2)",
            4,
            "expected ',' or ')' closing the argument list opened at position 1",
        ),
        (
            "a IN (1, 2",
            10,
            "expected ',' or ')' closing the IN set opened at position 5",
        ),
        (
            "a IN 1",
            5,
            "expected '(' starting the IN set, found integer 1",
        ),
        ("a IN ()", 5, "an IN set needs at least one element"),
        (
            "a b",
            2,
            "unexpected identifier `b` after a complete expression",
        ),
        (
            "a NOT b",
            6,
            "expected LIKE or IN after NOT, found identifier `b`",
        ),
        (
            "EXISTS 'x'",
            7,
            "expected an attribute name after EXISTS, found string \"x\"",
        ),
        ("a # b", 2, "unexpected character '#'"),
        ("a ! b", 2, "unexpected character '!' (did you mean '!='?)"),
        ("'open", 0, "unterminated string literal: no closing '"),
        (
            "\"open\\\"",
            0,
            "unterminated string literal: no closing \"",
        ),
        (
            "2147483648",
            0,
            "integer literal 2147483648 does not fit in a 32-bit signed integer",
        ),
        (
            "-2147483649",
            1,
            "integer literal 2147483649 does not fit in a 32-bit signed integer",
        ),
        (
            "1 + 99999999999",
            4,
            "does not fit in a 32-bit signed integer",
        ),
        ("+x", 0, "'+' must be followed by digits"),
        ("my_attr = 1", 0, "invalid attribute name `my_attr`"),
        ("EXISTS my_attr", 7, "invalid attribute name `my_attr`"),
        ("f1(2)", 0, "invalid function name `f1`"),
        ("_f(2)", 0, "invalid function name `_f`"),
        // Positions count characters, not bytes.
        ("'日本語' = x y", 10, "unexpected identifier `y`"),
        ("'é' ~", 4, "unexpected character '~'"),
    ];
    for (source, position, message) in cases {
        let error = parse_error(source);
        assert_eq!(error.position, *position, "{source:?}: {error}");
        assert!(error.message.contains(message), "{source:?}: {error}");
    }
}

#[test]
fn parse_error_display_leads_with_the_position() {
    assert_eq!(
        parse_error("type = ").to_string(),
        "at position 7: expected an expression, found end of expression"
    );
}

#[test]
fn nesting_is_bounded_but_long_logical_chains_are_flat() {
    let deep = format!(
        "{}1{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    assert!(parse_error(&deep).message.contains("levels deep"));
    let nots = format!("{}TRUE", "NOT ".repeat(MAX_NESTING + 1));
    assert!(parse_error(&nots).message.contains("levels deep"));
    let sum = format!("1{}", " + 1".repeat(MAX_NESTING + 1));
    assert!(parse_error(&sum).message.contains("operations deep"));
    let fine = format!(
        "{}1{}",
        "(".repeat(MAX_NESTING - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    assert_eq!(value(&fine), int(1));

    let chain = vec!["type = 'x'"; 5000].join(" OR ") + " OR type = 'com.example.created'";
    assert_eq!(value(&chain), TRUE);
}

#[test]
fn integer_literal_edges() {
    assert_eq!(value("2147483647"), int(i32::MAX));
    assert_eq!(value("-2147483648"), int(i32::MIN));
    assert_eq!(value("- 2147483648"), int(i32::MIN));
    assert_eq!(value("+7"), int(7));
    assert_eq!(value("4 -1"), int(3), "binary minus needs no spaces");
    assert_eq!(value("4-1"), int(3));
    assert_eq!(value("--7"), int(7));
    assert_eq!(value("007"), int(7));
}

#[test]
fn string_literal_escapes() {
    assert_eq!(value(r"'it\'s'"), string("it's"));
    assert_eq!(value("'it''s'"), string("it's"));
    assert_eq!(value(r#""say \"hi\"""#), string("say \"hi\""));
    assert_eq!(value(r#""say ""hi""""#), string("say \"hi\""));
    assert_eq!(value(r#"'mixed "quotes"'"#), string("mixed \"quotes\""));
    // Other backslash pairs stay verbatim, so LIKE sees its escapes.
    assert_eq!(value(r"'a\nb'"), string(r"a\nb"));
    assert_eq!(value(r"'50\%'"), string(r"50\%"));
    assert_eq!(value(r"'\\'"), string(r"\\"));
    assert_eq!(value("''"), string(""));
}

#[test]
fn keywords_functions_and_attributes_are_case_insensitive() {
    assert_eq!(value("TYPE = 'com.example.created' and Exists MyInt"), TRUE);
    assert_eq!(value("lower('ABC') = Lower('abc')"), TRUE);
    assert_eq!(value("Concat_Ws('-', 'a', 'b')"), string("a-b"));
    assert_eq!(value("'a' not in ('b') xOr fAlSe"), TRUE);
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(value("1 + 2 * 3"), int(7));
    assert_eq!(value("(1 + 2) * 3"), int(9));
    assert_eq!(value("10 - 2 - 3"), int(5));
    assert_eq!(value("100 / 10 / 5"), int(2));
    assert_eq!(value("2 * 3 % 4"), int(2));
    assert_eq!(value("1 + 1 = 2"), TRUE);
    // AND, OR and XOR share one level, grouped left to right.
    assert_eq!(value("TRUE OR FALSE AND FALSE"), FALSE);
    assert_eq!(value("TRUE OR (FALSE AND FALSE)"), TRUE);
    assert_eq!(value("FALSE AND FALSE OR TRUE"), TRUE);
    assert_eq!(value("TRUE XOR TRUE XOR TRUE"), TRUE);
    // Unary operators bind tighter than binary ones.
    assert_eq!(value("NOT TRUE = FALSE"), TRUE);
    assert_eq!(value("-myint + 50"), int(8));
    assert_eq!(value("-ABS(-3)"), int(-3));
    // LIKE applies before IN, and both before the binary operators.
    assert_eq!(value("'abc' LIKE 'a%' IN (TRUE)"), TRUE);
    assert_eq!(value("'2' IN ('2') = TRUE"), TRUE);
}

#[test]
fn integer_arithmetic_truncates_and_reports_overflow() {
    assert_eq!(value("7 / -2"), int(-3));
    assert_eq!(value("-7 % 3"), int(-1));
    assert_eq!(value("7 % -3"), int(1));
    assert_eq!(value("-2147483648 % -1"), int(0));
    assert_eq!(eval("2147483647 + 1"), (int(i32::MAX), vec!["math"]));
    assert_eq!(eval("-2147483648 - 1"), (int(i32::MIN), vec!["math"]));
    assert_eq!(eval("65536 * 65536"), (int(i32::MAX), vec!["math"]));
    assert_eq!(eval("-2147483648 / -1"), (int(i32::MAX), vec!["math"]));
    assert_eq!(eval("-(-2147483648)"), (int(i32::MAX), vec!["math"]));
    assert_eq!(eval("ABS(-2147483648)"), (int(i32::MAX), vec!["math"]));
}

#[test]
fn failed_operands_give_the_operator_its_zero_value() {
    assert_eq!(eval("missing"), (FALSE, vec!["missingAttribute"]));
    assert_eq!(eval("missing + 1"), (int(0), vec!["missingAttribute"]));
    assert_eq!(eval("LENGTH(missing)"), (int(0), vec!["missingAttribute"]));
    assert_eq!(
        eval("CONCAT('a', missing)"),
        (string(""), vec!["missingAttribute"])
    );
    assert_eq!(
        eval("CONCAT_WS(missing, 'a')"),
        (string(""), vec!["missingAttribute"])
    );
    assert_eq!(
        eval("UPPER(missing)"),
        (string(""), vec!["missingAttribute"])
    );
    assert_eq!(eval("missing IN ('a')"), (FALSE, vec!["missingAttribute"]));
    assert_eq!(
        eval("'a' NOT IN (missing, 'b')"),
        (FALSE, vec!["missingAttribute"])
    );
    assert_eq!(
        eval("missing NOT LIKE 'x'"),
        (FALSE, vec!["missingAttribute"])
    );
    assert_eq!(eval("1 = 1 / 0"), (FALSE, vec!["math"]));
    assert_eq!(eval("(1 / 0) + 5"), (int(0), vec!["math"]));
    // Every operand is still evaluated, so every error is reported.
    assert_eq!(
        eval("missing + other"),
        (int(0), vec!["missingAttribute", "missingAttribute"])
    );
    let (_, errors) = eval("CONCAT(LEFT('a', -1), nope, 1 % 0)");
    assert_eq!(errors, ["functionEvaluation", "missingAttribute", "math"]);
}

#[test]
fn logical_operators_short_circuit_and_propagate_failures() {
    assert_eq!(eval("FALSE AND missing"), (FALSE, vec![]));
    assert_eq!(eval("TRUE OR missing"), (TRUE, vec![]));
    assert_eq!(eval("TRUE AND missing"), (FALSE, vec!["missingAttribute"]));
    assert_eq!(eval("FALSE OR missing"), (FALSE, vec!["missingAttribute"]));
    assert_eq!(eval("missing OR TRUE"), (FALSE, vec!["missingAttribute"]));
    assert_eq!(eval("FALSE XOR missing"), (FALSE, vec!["missingAttribute"]));
    assert_eq!(eval("missing XOR TRUE"), (FALSE, vec!["missingAttribute"]));
    // A failure early in a chain fails every later step, as nested operators would.
    assert_eq!(eval("TRUE AND (1 / 0 = 0) OR TRUE"), (FALSE, vec!["math"]));
    assert_eq!(
        eval("missing AND TRUE XOR TRUE"),
        (FALSE, vec!["missingAttribute"])
    );
    // An operator's own cast error keeps the cast's fallback value and carries on.
    assert_eq!(eval("10 OR TRUE"), (TRUE, vec!["cast"]));
    assert_eq!(eval("'yes' AND missing"), (FALSE, vec!["cast"]));
}

#[test]
fn implicit_casts() {
    assert_eq!(value("'10' = 10"), TRUE);
    assert_eq!(value("10 = '10'"), TRUE);
    assert_eq!(value("'+10' = 10"), TRUE);
    assert_eq!(value("myint = '42'"), TRUE);
    assert_eq!(value("'TRUE' = TRUE"), TRUE);
    assert_eq!(value("TRUE = 'TRUE'"), FALSE);
    assert_eq!(value("mybool = 'true'"), TRUE);
    assert_eq!(value("'9' < '10'"), TRUE, "ordering compares integers");
    assert_eq!(value("TRUE + TRUE"), int(2));
    assert_eq!(value("myint LIKE '4_'"), TRUE);
    assert_eq!(value("'42' IN (myint)"), TRUE);
    assert_eq!(value("42 IN ('41', '42')"), TRUE);
    assert_eq!(eval("' 10' = 10"), (FALSE, vec!["cast"]));
    assert_eq!(eval("'abc' + 1"), (int(1), vec!["cast"]));
    assert_eq!(eval("'maybe' = TRUE"), (FALSE, vec!["cast"]));
    // Integer to Boolean only casts explicitly.
    assert_eq!(eval("1 = TRUE"), (FALSE, vec!["cast"]));
    assert_eq!(eval("TRUE AND 1"), (FALSE, vec!["cast"]));
    assert_eq!(value("BOOL(1) = TRUE"), TRUE);
    // Set elements are cast to the left operand's type; each failure is reported.
    assert_eq!(eval("5 IN ('x', 5, 'y')"), (TRUE, vec!["cast", "cast"]));
}

#[test]
fn cast_error_messages_name_the_value() {
    let expression = Expression::parse("INT('12a') + NOT 3").expect("parses");
    let messages: Vec<String> = expression
        .evaluate(&event())
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            "cast error: String \"12a\" is not a 32-bit base-10 integer",
            "cast error: Integer 3 is not implicitly cast to Boolean; write BOOL(3) to cast it",
        ]
    );
}

#[test]
fn string_functions() {
    assert_eq!(value("LENGTH(text)"), int(3), "characters, not bytes");
    assert_eq!(value("LENGTH(12345)"), int(5));
    assert_eq!(value("CONCAT(1, TRUE, 'x')"), string("1truex"));
    assert_eq!(value("CONCAT_WS(0, 1, 2)"), string("102"));
    assert_eq!(value("UPPER('straße')"), string("STRASSE"));
    assert_eq!(value("LOWER('ÀB')"), string("àb"));
    assert_eq!(value("TRIM('\t\n\u{2003} x y \u{a0}')"), string("x y"));
    assert_eq!(
        value("TRIM('\u{7}x\u{7}')"),
        string("\u{7}x\u{7}"),
        "control characters stay"
    );
    assert_eq!(value("LEFT(text, 1)"), string("日"));
    assert_eq!(value("RIGHT(text, 2)"), string("本語"));
    assert_eq!(value("LEFT(text, 0)"), string(""));
    assert_eq!(value("RIGHT('abc', 3)"), string("abc"));
    assert_eq!(value("LEFT('abc', '2')"), string("ab"));
    assert_eq!(
        eval("RIGHT(text, -1)"),
        (string("日本語"), vec!["functionEvaluation"])
    );
}

#[test]
fn substring_positions() {
    assert_eq!(value("SUBSTRING(text, 2)"), string("本語"));
    assert_eq!(value("SUBSTRING(text, -1)"), string("語"));
    assert_eq!(value("SUBSTRING(text, -3)"), string("日本語"));
    assert_eq!(value("SUBSTRING(text, 3)"), string("語"));
    assert_eq!(value("SUBSTRING(text, 2, 1)"), string("本"));
    assert_eq!(value("SUBSTRING('abc', 2, 0)"), string(""));
    assert_eq!(value("SUBSTRING('abc', 1, 2147483647)"), string("abc"));
    assert_eq!(value("SUBSTRING('', 0)"), string(""));
    assert_eq!(
        eval("SUBSTRING('', 1)"),
        (string(""), vec!["functionEvaluation"])
    );
    assert_eq!(
        eval("SUBSTRING('abc', 4)"),
        (string(""), vec!["functionEvaluation"])
    );
    assert_eq!(
        eval("SUBSTRING('abc', -4)"),
        (string(""), vec!["functionEvaluation"])
    );
    assert_eq!(
        eval("SUBSTRING('abc', 2, -1)"),
        (string(""), vec!["functionEvaluation"])
    );
    assert_eq!(
        eval("SUBSTRING('abc', 0, -1)"),
        (string(""), vec!["functionEvaluation"])
    );
    assert_eq!(
        eval("SUBSTRING('abc', -2147483648)"),
        (string(""), vec!["functionEvaluation"])
    );
}

#[test]
fn casting_functions() {
    assert_eq!(value("INT('-17')"), int(-17));
    assert_eq!(value("INT(mybool)"), int(1));
    assert_eq!(value("BOOL('fAlSe')"), FALSE);
    assert_eq!(value("BOOL(-1)"), TRUE);
    assert_eq!(value("STRING(-2147483648)"), string("-2147483648"));
    assert_eq!(value("STRING(myint) = '42'"), TRUE);
    assert_eq!(eval("INT('2147483648')"), (int(0), vec!["cast"]));
    assert_eq!(eval("BOOL('yes')"), (FALSE, vec!["cast"]));
}

#[test]
fn unknown_functions_and_arities_are_missing_functions() {
    let evaluation = Expression::parse("FOO(1, 2)")
        .expect("parses")
        .evaluate(&event());
    assert_eq!(evaluation.value, FALSE);
    assert_eq!(
        evaluation.errors,
        [EvalError::MissingFunction("FOO taking 2 arguments".into())]
    );
    assert_eq!(
        evaluation.errors[0].to_string(),
        "no function FOO taking 2 arguments is defined"
    );
    assert_eq!(eval("LENGTH('a', 'b')"), (FALSE, vec!["missingFunction"]));
    assert_eq!(eval("SUBSTRING('a')"), (FALSE, vec!["missingFunction"]));
    assert_eq!(eval("abs()"), (FALSE, vec!["missingFunction"]));
    assert_eq!(eval("NOT nope(1)"), (FALSE, vec!["missingFunction"]));
}

#[test]
fn exists_and_attribute_types() {
    assert_eq!(
        value("EXISTS id AND EXISTS MYINT AND NOT EXISTS subject"),
        TRUE
    );
    assert_eq!(value("myint * 2"), int(84));
    assert_eq!(value("mybool"), TRUE);
    assert_eq!(value("source LIKE 'https://%/foo/%'"), TRUE);
    assert_eq!(
        eval("subject"),
        (FALSE, vec!["missingAttribute"]),
        "a lone missing attribute is assumed Boolean"
    );
    let errors = Expression::parse("subject = 'x'")
        .expect("parses")
        .evaluate(&event())
        .errors;
    assert_eq!(errors, [EvalError::MissingAttribute("subject".into())]);
    assert_eq!(
        errors[0].to_string(),
        "the event has no attribute `subject`"
    );
}

#[test]
fn matches_requires_a_clean_true() {
    let ev = event();
    let matches = |source: &str| Expression::parse(source).expect("parses").matches(&ev);
    assert!(matches(
        "type = 'com.example.created' AND source LIKE '%foo%'"
    ));
    assert!(!matches("type = 'other'"));
    assert!(!matches("1"), "an Integer result never matches");
    assert!(!matches("'true'"), "a String result never matches");
    assert!(!matches("NOT 10"), "true, but with a cast error");
    assert!(!matches("missing OR TRUE"));
    assert!(!matches("FOO()"));
}

#[test]
fn attribute_ref_overrides_avoid_copies() {
    /// Serves attributes only through the borrowing lookup.
    struct Borrowing(String);
    impl Attributes for Borrowing {
        fn attribute(&self, _: &str) -> Option<Value> {
            None
        }
        fn attribute_ref(&self, name: &str) -> Option<ValueRef<'_>> {
            (name == "type").then(|| ValueRef::String(Cow::Borrowed(&self.0)))
        }
    }
    let expression = Expression::parse("type LIKE 'com.%' AND EXISTS type").expect("parses");
    assert!(expression.matches(&Borrowing("com.example".into())));
    let evaluation = Expression::parse("type")
        .expect("parses")
        .evaluate(&Borrowing("t".into()));
    assert_eq!(evaluation.value, string("t"));
}

#[test]
fn expression_keeps_its_source_and_is_shareable() {
    fn assert_shareable<T: Clone + std::fmt::Debug + Send + Sync>() {}
    assert_shareable::<Expression>();
    let source = "type  =  'x'";
    let expression: Expression = source.parse().expect("parses");
    assert_eq!(expression.source(), source);
    assert_eq!(expression.to_string(), source);
    let copy = expression.clone();
    assert_eq!(copy.source(), source);
}

#[test]
fn eval_error_kinds_use_tck_names() {
    let kinds: Vec<&str> = [
        EvalError::Math(String::new()),
        EvalError::Cast(String::new()),
        EvalError::MissingFunction(String::new()),
        EvalError::FunctionEvaluation(String::new()),
        EvalError::MissingAttribute(String::new()),
        EvalError::Generic(String::new()),
    ]
    .iter()
    .map(EvalError::kind)
    .collect();
    assert_eq!(
        kinds,
        [
            "math",
            "cast",
            "missingFunction",
            "functionEvaluation",
            "missingAttribute",
            "generic"
        ]
    );
}

#[test]
fn required_type_is_found_only_where_it_is_implied() {
    let ty = |src: &str| {
        Expression::parse(src)
            .unwrap()
            .required_type()
            .map(str::to_owned)
    };
    assert_eq!(ty("type = 'a'"), Some("a".into()));
    assert_eq!(ty("'a' = type"), Some("a".into()));
    assert_eq!(
        ty("source LIKE '/x%' AND type = 'b' AND subject = 'c'"),
        Some("b".into())
    );
    assert_eq!(ty("TYPE = 'c'"), Some("c".into()));
    assert_eq!(ty("type = 'a' OR type = 'b'"), None);
    assert_eq!(ty("type = 'a' AND x = 1 OR y = 2"), None);
    assert_eq!(ty("NOT (type = 'a')"), None);
    assert_eq!(ty("type != 'a'"), None);
    assert_eq!(ty("subject = 'a'"), None);
}
