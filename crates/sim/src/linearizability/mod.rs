//! A linearizability checker for key-value histories.
//!
//! Operations are grouped by key and each key is checked on its own: a
//! history of single-key operations is linearizable exactly when each key's
//! sub-history is (Herlihy and Wing's locality, "P-compositionality" in
//! Porcupine). Each key is searched with Wing–Gong–Lowe plus memoization
//! ([`search`]). `info` operations may or may not have taken effect; `fail`
//! operations certainly did not and are left out.
//!
//! The search is bounded by step and cache-size limits (never by a clock,
//! so verdicts are reproducible); hitting a limit yields
//! [`Verdict::Unknown`] instead of hanging.

pub mod model;
pub mod search;

use crate::history::{Event, EventType, Function, History, HistoryError, Value};
use bytes::Bytes;
use model::{Input, Output};
use search::{check_key, KeyOp, KeyVerdict, SearchLimits};
use std::collections::BTreeMap;
use std::fmt;

/// Bounds on the whole check.
#[derive(Clone, Copy, Debug)]
pub struct CheckLimits {
    /// Operations on one key beyond which the key is reported unknown
    /// without searching.
    pub ops_per_key_max: usize,
    /// Per-key search bounds.
    pub search: SearchLimits,
}

impl Default for CheckLimits {
    fn default() -> Self {
        CheckLimits {
            ops_per_key_max: 20_000,
            search: SearchLimits::default(),
        }
    }
}

/// The outcome of checking a history.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Every key's operations have a linearization.
    Linearizable,
    /// Some key's operations have none.
    NotLinearizable {
        /// The first key (in key order) found not linearizable.
        key: Bytes,
        /// A readable account of where the search got stuck.
        detail: String,
    },
    /// Some key could not be decided within the limits (and no key was
    /// found not linearizable).
    Unknown {
        /// The first undecided key.
        key: Bytes,
        /// Which limit was hit.
        reason: String,
    },
}

/// What [`check`] found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Operations that entered the search (`ok` and `info`, minus `info`
    /// reads, which cannot constrain anything).
    pub ops_checked: usize,
    /// Distinct keys.
    pub keys: usize,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable => write!(f, "linearizable"),
            Verdict::NotLinearizable { key, detail } => write!(
                f,
                "not linearizable on key {:?}: {detail}",
                String::from_utf8_lossy(key)
            ),
            Verdict::Unknown { key, reason } => write!(
                f,
                "unknown on key {:?}: {reason}",
                String::from_utf8_lossy(key)
            ),
        }
    }
}

/// One operation with its events, for reporting.
struct Op {
    key: Bytes,
    process: u64,
    f: Function,
    invoke: Event,
    completion: Option<Event>,
    search: KeyOp,
}

fn input_of(event: &Event) -> Result<Input, String> {
    Ok(match (event.f, &event.value) {
        (Function::Get, _) => Input::Get,
        (Function::Put, Value::Bytes(value)) => Input::Put(value.clone()),
        (Function::Delete, _) => Input::Delete,
        (Function::Cas, Value::Cas { expected, new }) => Input::Cas {
            expected: expected.clone(),
            new: new.clone(),
        },
        (f, value) => return Err(format!("{} invoked with value {value:?}", f.as_str())),
    })
}

fn output_of(event: &Event) -> Result<Output, String> {
    Ok(match (event.f, &event.value) {
        (Function::Get, Value::Null) => Output::Value(None),
        (Function::Get, Value::Bytes(value)) => Output::Value(Some(value.clone())),
        (Function::Put, _) => Output::Written,
        (Function::Delete, Value::Bool(existed)) => Output::Deleted(*existed),
        (Function::Cas, Value::Bool(swapped)) => Output::Swapped(*swapped),
        (f, value) => return Err(format!("{} completed ok with value {value:?}", f.as_str())),
    })
}

fn pair_operations(history: &History) -> Result<Vec<Op>, HistoryError> {
    let error = |line: usize, detail: String| HistoryError {
        line: line + 1,
        detail,
    };
    let mut open: BTreeMap<u64, (usize, Event)> = BTreeMap::new();
    let mut ops = Vec::new();
    for (pos, event) in history.events().iter().enumerate() {
        match event.kind {
            EventType::Invoke => {
                if open.contains_key(&event.process) {
                    return Err(error(
                        pos,
                        format!("process {} invoked twice without completing", event.process),
                    ));
                }
                input_of(event).map_err(|detail| error(pos, detail))?;
                open.insert(event.process, (pos, event.clone()));
            }
            EventType::Ok | EventType::Fail | EventType::Info => {
                let Some((call_pos, invoke)) = open.remove(&event.process) else {
                    return Err(error(
                        pos,
                        format!("process {} completes nothing", event.process),
                    ));
                };
                if invoke.f != event.f || invoke.key != event.key {
                    return Err(error(pos, "completion does not match its invoke".into()));
                }
                let (output, return_pos) = match event.kind {
                    EventType::Fail => continue,
                    EventType::Info => (Output::Unknown, None),
                    _ => (
                        output_of(event).map_err(|detail| error(pos, detail))?,
                        Some(pos),
                    ),
                };
                ops.push(make_op(
                    invoke,
                    call_pos,
                    Some(event.clone()),
                    output,
                    return_pos,
                ));
            }
        }
    }
    // Operations never completed are indeterminate.
    for (_, (call_pos, invoke)) in open {
        ops.push(make_op(invoke, call_pos, None, Output::Unknown, None));
    }
    Ok(ops)
}

fn make_op(
    invoke: Event,
    call_pos: usize,
    completion: Option<Event>,
    output: Output,
    return_pos: Option<usize>,
) -> Op {
    Op {
        key: invoke.key.clone(),
        process: invoke.process,
        f: invoke.f,
        search: KeyOp {
            input: input_of(&invoke).expect("checked when paired"),
            output,
            call_pos,
            return_pos,
        },
        invoke,
        completion,
    }
}

fn describe(op: &Op) -> String {
    let value = |event: &Event| History::event_to_json(event)["value"].to_string();
    match &op.completion {
        Some(done) => format!(
            "process {} {} {} invoked at {} ns returned {} at {} ns",
            op.process,
            op.f.as_str(),
            value(&op.invoke),
            op.invoke.time_ns,
            value(done),
            done.time_ns
        ),
        None => format!(
            "process {} {} {} invoked at {} ns, outcome unknown",
            op.process,
            op.f.as_str(),
            value(&op.invoke),
            op.invoke.time_ns
        ),
    }
}

/// Checks that `history` is linearizable for a key-value store whose keys
/// all start absent.
pub fn check(history: &History, limits: CheckLimits) -> Result<Report, HistoryError> {
    let ops = pair_operations(history)?;
    let mut by_key: BTreeMap<Bytes, Vec<&Op>> = BTreeMap::new();
    for op in &ops {
        // An indeterminate read changes nothing and constrains nothing.
        if op.f == Function::Get && op.search.output == Output::Unknown {
            continue;
        }
        by_key.entry(op.key.clone()).or_default().push(op);
    }
    let ops_checked = by_key.values().map(Vec::len).sum();
    let keys = by_key.len();
    let mut unknown = None;
    for (key, key_ops) in &by_key {
        if key_ops.len() > limits.ops_per_key_max {
            unknown.get_or_insert_with(|| Verdict::Unknown {
                key: key.clone(),
                reason: format!(
                    "{} operations exceed the limit of {}",
                    key_ops.len(),
                    limits.ops_per_key_max
                ),
            });
            continue;
        }
        let search_ops: Vec<KeyOp> = key_ops.iter().map(|op| op.search.clone()).collect();
        match check_key(&search_ops, None, limits.search) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::NotLinearizable {
                stuck_op,
                longest_prefix,
            } => {
                let detail = format!(
                    "{} operations; the longest linearizable prefix has {} of them and \
                     cannot be extended past: {}",
                    key_ops.len(),
                    longest_prefix,
                    describe(key_ops[stuck_op])
                );
                return Ok(Report {
                    verdict: Verdict::NotLinearizable {
                        key: key.clone(),
                        detail,
                    },
                    ops_checked,
                    keys,
                });
            }
            KeyVerdict::Unknown { reason } => {
                unknown.get_or_insert_with(|| Verdict::Unknown {
                    key: key.clone(),
                    reason: reason.to_string(),
                });
            }
        }
    }
    Ok(Report {
        verdict: unknown.unwrap_or(Verdict::Linearizable),
        ops_checked,
        keys,
    })
}
