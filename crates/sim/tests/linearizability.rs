//! The linearizability checker on hand-written histories: it must accept
//! the linearizable ones and reject stale reads, lost writes and
//! compare-and-swap anomalies.

use bytes::Bytes;
use quorate_sim::history::{Event, EventType, Function, History, Value};
use quorate_sim::linearizability::search::SearchLimits;
use quorate_sim::linearizability::{check, CheckLimits, Verdict};

/// Builds histories one event at a time; each event is one nanosecond after
/// the previous one.
struct Script {
    history: History,
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

impl Script {
    fn new() -> Self {
        Script {
            history: History::new(),
        }
    }

    fn push(&mut self, process: u64, kind: EventType, f: Function, key: &str, value: Value) {
        let time_ns = self.history.len() as u64;
        self.history.push(Event {
            process,
            kind,
            f,
            key: b(key),
            value,
            time_ns,
        });
    }

    fn invoke_put(&mut self, p: u64, key: &str, value: &str) -> &mut Self {
        self.push(
            p,
            EventType::Invoke,
            Function::Put,
            key,
            Value::Bytes(b(value)),
        );
        self
    }
    fn invoke_get(&mut self, p: u64, key: &str) -> &mut Self {
        self.push(p, EventType::Invoke, Function::Get, key, Value::Null);
        self
    }
    fn invoke_delete(&mut self, p: u64, key: &str) -> &mut Self {
        self.push(p, EventType::Invoke, Function::Delete, key, Value::Null);
        self
    }
    fn invoke_cas(&mut self, p: u64, key: &str, expected: Option<&str>, new: &str) -> &mut Self {
        let value = Value::Cas {
            expected: expected.map(b),
            new: b(new),
        };
        self.push(p, EventType::Invoke, Function::Cas, key, value);
        self
    }
    fn ok_put(&mut self, p: u64, key: &str, value: &str) -> &mut Self {
        self.push(p, EventType::Ok, Function::Put, key, Value::Bytes(b(value)));
        self
    }
    fn ok_get(&mut self, p: u64, key: &str, read: Option<&str>) -> &mut Self {
        let value = read.map_or(Value::Null, |v| Value::Bytes(b(v)));
        self.push(p, EventType::Ok, Function::Get, key, value);
        self
    }
    fn ok_delete(&mut self, p: u64, key: &str, existed: bool) -> &mut Self {
        self.push(
            p,
            EventType::Ok,
            Function::Delete,
            key,
            Value::Bool(existed),
        );
        self
    }
    fn ok_cas(&mut self, p: u64, key: &str, swapped: bool) -> &mut Self {
        self.push(p, EventType::Ok, Function::Cas, key, Value::Bool(swapped));
        self
    }
    fn end(&mut self, p: u64, kind: EventType, f: Function, key: &str) -> &mut Self {
        self.push(p, kind, f, key, Value::Null);
        self
    }
    fn put(&mut self, p: u64, key: &str, value: &str) -> &mut Self {
        self.invoke_put(p, key, value).ok_put(p, key, value)
    }
    fn get(&mut self, p: u64, key: &str, read: Option<&str>) -> &mut Self {
        self.invoke_get(p, key).ok_get(p, key, read)
    }
    fn cas(&mut self, p: u64, key: &str, expected: Option<&str>, new: &str, ok: bool) -> &mut Self {
        self.invoke_cas(p, key, expected, new).ok_cas(p, key, ok)
    }

    fn verdict(&self) -> Verdict {
        check(&self.history, CheckLimits::default())
            .expect("well-formed history")
            .verdict
    }
}

fn assert_linearizable(script: &Script) {
    assert_eq!(script.verdict(), Verdict::Linearizable);
}

fn assert_not_linearizable(script: &Script, key: &str) {
    match script.verdict() {
        Verdict::NotLinearizable { key: found, .. } => assert_eq!(found, b(key)),
        other => panic!("expected a violation on {key:?}, got {other:?}"),
    }
}

#[test]
fn sequential_history_is_linearizable() {
    let mut s = Script::new();
    s.get(0, "x", None)
        .put(0, "x", "1")
        .get(1, "x", Some("1"))
        .cas(1, "x", Some("1"), "2", true)
        .cas(0, "x", Some("1"), "3", false)
        .get(0, "x", Some("2"))
        .invoke_delete(1, "x")
        .ok_delete(1, "x", true)
        .get(1, "x", None)
        .invoke_delete(0, "x")
        .ok_delete(0, "x", false)
        .cas(0, "x", None, "4", true)
        .get(1, "x", Some("4"));
    assert_linearizable(&s);
}

#[test]
fn concurrent_overlapping_operations_may_take_effect_in_either_order() {
    // Two overlapping writes, and reads overlapping both seeing either order.
    let mut s = Script::new();
    s.invoke_put(0, "x", "a")
        .invoke_put(1, "x", "b")
        .invoke_get(2, "x")
        .ok_put(1, "x", "b")
        .ok_get(2, "x", Some("a"))
        .ok_put(0, "x", "a")
        .get(3, "x", Some("a"));
    assert_linearizable(&s);

    let mut s = Script::new();
    s.invoke_put(0, "x", "a")
        .invoke_put(1, "x", "b")
        .ok_put(0, "x", "a")
        .ok_put(1, "x", "b")
        .get(2, "x", Some("a"));
    assert_linearizable(&s);
}

#[test]
fn concurrent_read_may_see_old_or_new_value() {
    for read in [None, Some("a")] {
        let mut s = Script::new();
        s.invoke_put(0, "x", "a")
            .invoke_get(1, "x")
            .ok_get(1, "x", read)
            .ok_put(0, "x", "a");
        assert_linearizable(&s);
    }
}

#[test]
fn indeterminate_write_that_took_effect_is_linearizable() {
    let mut s = Script::new();
    s.invoke_put(0, "x", "a")
        .end(0, EventType::Info, Function::Put, "x")
        .get(1, "x", Some("a"))
        .get(1, "x", Some("a"));
    assert_linearizable(&s);
}

#[test]
fn indeterminate_write_may_take_effect_long_after_it_was_abandoned() {
    // The write shows up after an intervening write: it took effect late.
    let mut s = Script::new();
    s.invoke_put(0, "x", "a")
        .end(0, EventType::Info, Function::Put, "x")
        .put(1, "x", "b")
        .get(1, "x", Some("b"))
        .get(1, "x", Some("a"));
    assert_linearizable(&s);
}

#[test]
fn indeterminate_write_that_never_took_effect_is_linearizable() {
    let mut s = Script::new();
    s.put(1, "x", "old")
        .invoke_put(0, "x", "a")
        .end(0, EventType::Info, Function::Put, "x")
        .get(1, "x", Some("old"))
        .invoke_cas(2, "x", Some("old"), "c")
        .end(2, EventType::Info, Function::Cas, "x")
        .get(1, "x", Some("old"));
    assert_linearizable(&s);
}

#[test]
fn unfinished_operations_count_as_indeterminate() {
    let mut s = Script::new();
    s.invoke_put(0, "x", "a").get(1, "x", Some("a"));
    assert_linearizable(&s);
}

#[test]
fn failed_write_must_not_be_observed() {
    let mut s = Script::new();
    s.invoke_put(0, "x", "a")
        .end(0, EventType::Fail, Function::Put, "x")
        .get(1, "x", Some("a"));
    assert_not_linearizable(&s, "x");
}

#[test]
fn stale_read_is_reported() {
    let mut s = Script::new();
    s.put(0, "x", "1").put(0, "x", "2").get(1, "x", Some("1"));
    assert_not_linearizable(&s, "x");
}

#[test]
fn stale_read_after_a_concurrent_read_saw_the_new_value_is_reported() {
    // Once any read returned the new value, a later read may not go back.
    let mut s = Script::new();
    s.put(0, "x", "1")
        .invoke_put(0, "x", "2")
        .get(1, "x", Some("2"))
        .get(2, "x", Some("1"))
        .ok_put(0, "x", "2");
    assert_not_linearizable(&s, "x");
}

#[test]
fn lost_write_is_reported() {
    let mut s = Script::new();
    s.put(0, "x", "1").get(1, "x", None);
    assert_not_linearizable(&s, "x");

    let mut s = Script::new();
    s.put(0, "x", "1")
        .put(0, "x", "2")
        .get(1, "x", Some("2"))
        .get(1, "x", Some("1"));
    assert_not_linearizable(&s, "x");
}

#[test]
fn double_successful_compare_and_swap_is_reported() {
    // Two sequential swaps from the same expected value cannot both succeed.
    let mut s = Script::new();
    s.put(0, "x", "a")
        .cas(1, "x", Some("a"), "b", true)
        .cas(2, "x", Some("a"), "c", true);
    assert_not_linearizable(&s, "x");

    // Even when the two overlap.
    let mut s = Script::new();
    s.put(0, "x", "a")
        .invoke_cas(1, "x", Some("a"), "b")
        .invoke_cas(2, "x", Some("a"), "c")
        .ok_cas(1, "x", true)
        .ok_cas(2, "x", true);
    assert_not_linearizable(&s, "x");
}

#[test]
fn compare_and_swap_that_should_have_swapped_is_reported() {
    let mut s = Script::new();
    s.put(0, "x", "a").cas(1, "x", Some("a"), "b", false);
    assert_not_linearizable(&s, "x");

    let mut s = Script::new();
    s.cas(1, "x", None, "b", false);
    assert_not_linearizable(&s, "x");
}

#[test]
fn delete_reporting_the_wrong_existence_is_reported() {
    let mut s = Script::new();
    s.invoke_delete(0, "x").ok_delete(0, "x", true);
    assert_not_linearizable(&s, "x");
}

#[test]
fn keys_are_checked_independently() {
    let mut s = Script::new();
    s.put(0, "x", "1")
        .put(1, "y", "1")
        .get(0, "y", Some("1"))
        .get(1, "x", Some("1"))
        .put(2, "z", "9")
        .get(2, "z", Some("1"));
    assert_not_linearizable(&s, "z");
    let report = check(&s.history, CheckLimits::default()).unwrap();
    assert_eq!(report.keys, 3);
}

#[test]
fn malformed_history_is_an_error() {
    let mut s = Script::new();
    s.invoke_put(0, "x", "a").invoke_get(0, "x");
    assert!(check(&s.history, CheckLimits::default()).is_err());

    let mut s = Script::new();
    s.ok_get(0, "x", None);
    assert!(check(&s.history, CheckLimits::default()).is_err());
}

#[test]
fn search_limit_yields_unknown_rather_than_hanging() {
    // Many overlapping writes and a read no order can satisfy: the search
    // must explore a lot before concluding, and a tiny budget stops it.
    let mut s = Script::new();
    for p in 0..12 {
        s.invoke_put(p, "x", &format!("v{p}"));
    }
    for p in 0..12 {
        s.ok_put(p, "x", &format!("v{p}"));
    }
    s.get(99, "x", Some("never-written"));
    let limits = CheckLimits {
        search: SearchLimits {
            steps_max: 100,
            ..SearchLimits::default()
        },
        ..CheckLimits::default()
    };
    let verdict = check(&s.history, limits).unwrap().verdict;
    assert!(matches!(verdict, Verdict::Unknown { .. }), "{verdict:?}");
    // With the default budget the same history is decided.
    assert_not_linearizable(&s, "x");
}

#[test]
fn json_lines_round_trip_preserves_the_verdict() {
    let mut s = Script::new();
    s.put(0, "x", "1")
        .invoke_cas(1, "x", Some("1"), "2")
        .ok_cas(1, "x", true)
        .invoke_cas(2, "x", None, "3")
        .end(2, EventType::Info, Function::Cas, "x")
        .invoke_delete(0, "x")
        .ok_delete(0, "x", true)
        .get(0, "x", None);
    let mut out = Vec::new();
    s.history.write_jsonl(&mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"process": 0, "type": "invoke", "f": "put", "key": "x", "value": "1", "time": 0})
    );
    let cas_line: serde_json::Value = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
    assert_eq!(cas_line["value"], serde_json::json!(["1", "2"]));
    let read = History::read_jsonl(&mut out.as_slice()).unwrap();
    assert_eq!(read, s.history);
    assert_eq!(
        check(&read, CheckLimits::default()).unwrap().verdict,
        Verdict::Linearizable
    );
}
