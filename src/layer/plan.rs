//! Everything the layer decides about a callsite from its metadata, computed once and cached.
//!
//! Routing and the field-name rules only depend on the target and the field *names*, which are
//! fixed per callsite. Computing them per event would re-match strings on the hot path, so each
//! thread keeps a small map from callsite to [`Plan`].

use super::Shared;
use crate::redact::Action;
use crate::Stream;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use tracing_core::callsite::Identifier;
use tracing_core::Metadata;

/// The audit keys lifted from event fields to fixed top-level keys, in record order.
pub(crate) const LIFTED: [&str; 7] = [
    "actor", "action", "resource", "outcome", "reason", "src_ip", "session",
];
/// Indexes into [`LIFTED`] of the keys an audit record must carry.
pub(crate) const REQUIRED: [usize; 3] = [0, 1, 3];
/// Lifted keys whose values identify who and from where (see `StreamPolicy::identity`).
pub(crate) fn is_identity(lifted: usize) -> bool {
    lifted == 0 || lifted == 5
}

/// What the layer does with one field of a callsite.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FieldKind {
    /// The formatted message.
    Message,
    /// One of [`LIFTED`] (index); lifted only in audit records.
    Lifted(usize),
    /// Routing marker or `log.*` metadata of a bridged `log` record: not written.
    Skip,
    /// Any other field.
    Plain,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldPlan {
    pub(crate) kind: FieldKind,
    /// Field-name action per stream, indexed by [`stream_index`].
    pub(crate) actions: [Action; 2],
}

/// The cached decisions for one callsite.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Where an event of this callsite is routed (meaningless for spans).
    pub(crate) route: Stream,
    /// Per field, by the field's index in the callsite's field set.
    pub(crate) fields: Box<[FieldPlan]>,
}

pub(crate) const fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Audit => 0,
        Stream::Debug => 1,
    }
}

impl Plan {
    pub(crate) fn build(shared: &Shared, meta: &Metadata<'_>) -> Plan {
        Self::build_split(shared, meta, meta)
    }

    /// A plan routed by `route_meta` for the fields of `fields_meta`: a bridged `log` record is
    /// routed by its real target (normalized metadata) but visited with the fields of the
    /// tracing-log callsite.
    pub(crate) fn build_split(
        shared: &Shared,
        route_meta: &Metadata<'_>,
        fields_meta: &Metadata<'_>,
    ) -> Plan {
        let route = shared.router.classify(route_meta);
        let fields = fields_meta
            .fields()
            .iter()
            .map(|field| {
                let name = field.name();
                let kind = if name == "message" {
                    FieldKind::Message
                } else if shared.router.is_marker(name) || name.starts_with("log.") {
                    FieldKind::Skip
                } else if let Some(i) = LIFTED.iter().position(|l| *l == name) {
                    FieldKind::Lifted(i)
                } else {
                    FieldKind::Plain
                };
                let actions = match kind {
                    // The message is free text: only the detectors look at it.
                    FieldKind::Message => [Action::Keep; 2],
                    _ => [
                        shared.policies[0].fields.action_for(name),
                        shared.policies[1].fields.action_for(name),
                    ],
                };
                FieldPlan { kind, actions }
            })
            .collect();
        Plan { route, fields }
    }

    pub(crate) fn field(&self, index: usize) -> FieldPlan {
        self.fields.get(index).copied().unwrap_or(FieldPlan {
            kind: FieldKind::Plain,
            actions: [Action::Mask; 2],
        })
    }
}

/// `log` records bridged by tracing-log share one callsite per level whatever their target, so
/// their plan cannot be cached by callsite.
pub(crate) fn is_bridged_log(meta: &Metadata<'_>) -> bool {
    meta.fields().field("log.target").is_some()
}

/// Plans by (layer id, callsite).
type PlanCache = HashMap<(u64, Identifier), Rc<Plan>, BuildHasherDefault<CallsiteHasher>>;

thread_local! {
    static PLANS: RefCell<PlanCache> =
        RefCell::new(HashMap::default());
}

/// The plan of `meta`'s callsite for the layer `shared`, computed on first use per thread.
pub(crate) fn plan_for(shared: &Shared, meta: &Metadata<'_>) -> Rc<Plan> {
    // Bridged `log` callsites are never inserted, so a hit is always a real callsite and the
    // field-name scan below only runs on a miss.
    let key = (shared.id, meta.callsite());
    // `try_with`: an event emitted from another thread-local's destructor may run after this
    // one is gone; it then gets a plan built for it alone instead of a panic.
    let cached = PLANS
        .try_with(|plans| plans.try_borrow().ok()?.get(&key).cloned())
        .ok()
        .flatten();
    if let Some(plan) = cached {
        return plan;
    }
    let plan = Rc::new(Plan::build(shared, meta));
    if is_bridged_log(meta) {
        return plan;
    }
    let _ = PLANS.try_with(|plans| {
        // A plan built while this thread is inside `plan_for` (a nested event emitted by the
        // router's predicate) is simply not cached.
        if let Ok(mut plans) = plans.try_borrow_mut() {
            plans.insert(key, plan.clone());
        }
    });
    plan
}

/// Callsite identifiers are pointers: a multiply-rotate hash is enough and far cheaper than SipHash.
#[derive(Default)]
pub(crate) struct CallsiteHasher(u64);

impl Hasher for CallsiteHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
