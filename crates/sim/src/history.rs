//! Client histories in the Jepsen style: every operation is an `invoke`
//! event followed by one completion (`ok`, `fail` or `info`).
//!
//! The JSON Lines form written by [`History::write_jsonl`] is documented in
//! `docs/history-format.md`; any outside checker can read it.

use bytes::Bytes;
use serde_json::{json, Value as Json};
use std::fmt;
use std::io::{self, BufRead, Write};

/// What one history event says about its operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EventType {
    /// The client sent the operation.
    Invoke,
    /// The operation took effect, with the recorded result.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// The outcome is unknown: the operation may or may not have taken
    /// effect, now or at any later time.
    Info,
}

impl EventType {
    /// The name used in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return None,
        })
    }
}

/// The key-value operation an event belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Function {
    /// Read a key.
    Get,
    /// Write a key.
    Put,
    /// Remove a key.
    Delete,
    /// Compare-and-swap a key.
    Cas,
}

impl Function {
    /// The name used in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Get => "get",
            Function::Put => "put",
            Function::Delete => "delete",
            Function::Cas => "cas",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "get" => Function::Get,
            "put" => Function::Put,
            "delete" => Function::Delete,
            "cas" => Function::Cas,
            _ => return None,
        })
    }
}

/// The `value` field of an event. Which variant appears depends on the
/// function and the event type (see `docs/history-format.md`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    /// JSON `null`: a get's invoke, a delete's invoke, a read of an absent key.
    Null,
    /// A string value: what a put writes, what a get read.
    Bytes(Bytes),
    /// A boolean: whether a cas swapped, whether a deleted key existed.
    Bool(bool),
    /// A cas invoke: `[expected, new]`, `expected` null for "absent".
    Cas {
        /// The value the key must hold for the swap to happen.
        expected: Option<Bytes>,
        /// The value written when it does.
        new: Bytes,
    },
}

/// One line of a history.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// The client process. A process runs one operation at a time; after an
    /// `info` it never issues another (its successor gets a fresh number).
    pub process: u64,
    /// Invoke or completion.
    pub kind: EventType,
    /// The operation.
    pub f: Function,
    /// The key operated on.
    pub key: Bytes,
    /// Arguments (invoke) or result (ok).
    pub value: Value,
    /// Simulated time in nanoseconds.
    pub time_ns: u64,
}

/// A history that could not be read back.
#[derive(Debug)]
pub struct HistoryError {
    /// 1-based line number (0 when the error is not tied to a line).
    pub line: usize,
    /// What is wrong.
    pub detail: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "history line {}: {}", self.line, self.detail)
    }
}

impl std::error::Error for HistoryError {}

/// An ordered list of events, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    events: Vec<Event>,
}

fn bytes_to_json(bytes: &Bytes) -> Json {
    Json::String(String::from_utf8_lossy(bytes).into_owned())
}

fn optional_to_json(bytes: &Option<Bytes>) -> Json {
    bytes.as_ref().map_or(Json::Null, bytes_to_json)
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Appends one event. Events must be pushed in the order they happened.
    pub fn push(&mut self, event: Event) {
        debug_assert!(
            self.events
                .last()
                .is_none_or(|last| last.time_ns <= event.time_ns),
            "history events must be pushed in time order"
        );
        self.events.push(event);
    }

    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Encodes one event as a JSON object.
    pub fn event_to_json(event: &Event) -> Json {
        let value = match &event.value {
            Value::Null => Json::Null,
            Value::Bytes(bytes) => bytes_to_json(bytes),
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Cas { expected, new } => {
                Json::Array(vec![optional_to_json(expected), bytes_to_json(new)])
            }
        };
        json!({
            "process": event.process,
            "type": event.kind.as_str(),
            "f": event.f.as_str(),
            "key": bytes_to_json(&event.key),
            "value": value,
            "time": event.time_ns,
        })
    }

    /// Writes the history as JSON Lines, one event per line.
    pub fn write_jsonl(&self, out: &mut dyn Write) -> io::Result<()> {
        for event in &self.events {
            serde_json::to_writer(&mut *out, &Self::event_to_json(event))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Reads a history written by [`write_jsonl`](History::write_jsonl) (or
    /// by any tool following `docs/history-format.md`). Blank lines are
    /// skipped.
    pub fn read_jsonl(input: &mut dyn BufRead) -> Result<History, HistoryError> {
        let mut history = History::new();
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            number += 1;
            let read = input.read_line(&mut line).map_err(|error| HistoryError {
                line: number,
                detail: error.to_string(),
            })?;
            if read == 0 {
                return Ok(history);
            }
            if line.trim().is_empty() {
                continue;
            }
            let event = Self::event_from_json(&line).map_err(|detail| HistoryError {
                line: number,
                detail,
            })?;
            history.events.push(event);
        }
    }

    fn event_from_json(line: &str) -> Result<Event, String> {
        let object: Json = serde_json::from_str(line).map_err(|error| error.to_string())?;
        let field = |name: &str| object.get(name).ok_or(format!("missing field {name:?}"));
        let process = field("process")?
            .as_u64()
            .ok_or("process is not an integer")?;
        let kind = field("type")?
            .as_str()
            .and_then(EventType::parse)
            .ok_or("type is not invoke, ok, fail or info")?;
        let f = field("f")?
            .as_str()
            .and_then(Function::parse)
            .ok_or("f is not get, put, delete or cas")?;
        let key = Bytes::from(
            field("key")?
                .as_str()
                .ok_or("key is not a string")?
                .to_owned(),
        );
        let time_ns = field("time")?.as_u64().ok_or("time is not an integer")?;
        let string = |json: &Json| -> Result<Bytes, String> {
            json.as_str()
                .map(|s| Bytes::from(s.to_owned()))
                .ok_or(format!("expected a string, found {json}"))
        };
        let value = match object.get("value").unwrap_or(&Json::Null) {
            Json::Null => Value::Null,
            Json::Bool(flag) => Value::Bool(*flag),
            Json::String(_) => Value::Bytes(string(&object["value"])?),
            Json::Array(pair) if pair.len() == 2 => Value::Cas {
                expected: if pair[0].is_null() {
                    None
                } else {
                    Some(string(&pair[0])?)
                },
                new: string(&pair[1])?,
            },
            other => return Err(format!("unexpected value {other}")),
        };
        Ok(Event {
            process,
            kind,
            f,
            key,
            value,
            time_ns,
        })
    }
}
