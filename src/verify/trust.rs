//! Which control records a verifier may act on: the trust rule, written once.
//!
//! A control record that changes what the verifier expects (`prune`, which excuses a lost
//! head, and the repair records `cut`, `new_chain`, `epoch_unsealed` and `torn_tail`) is a
//! claim the writer makes about the trail. Anyone who can write the trail directory can write
//! such a line too, and on an unkeyed or signed chain they can even chain it (the chain MAC is
//! then a plain SHA-256). So a claim counts only when it is authenticated by what the trail's
//! integrity rests on, its **root**:
//!
//! | root | a control record counts when |
//! |---|---|
//! | chain key (keyed chain, key given) | its HMAC was checked with the key |
//! | signed seals (`pk0` given, chain not keyed) | a valid epoch seal, chained from `pk0`, covers its `seq`, and the writer did not disown it (below) |
//! | none (unkeyed, unsigned) | always, as far as the chain goes: nothing can be authenticated, and the verifier says so (the "unkeyed" warning); the writer's disowning still applies |
//!
//! The writer disowns lines it cannot tell it wrote: after a restart it finds lines past its
//! own durable tail that it cannot authenticate (an unkeyed or signed chain), and writes a
//! `repair` record `unadopted` naming them (`from_seq`, `to_seq`). Control records in that range
//! are disregarded on the seals and no-root rows even after the writer sealed the epoch that
//! holds them: the seal then vouches for the writer's own records around them, not for them.
//! Disowning only ever removes trust, so an `unadopted` record is honoured wherever it is.
//!
//! Every reader (the reference walk in `check`, the streaming walk and the received copy) asks
//! [`Trust::judge`]; none decides on its own.

/// What a trail's integrity rests on, as far as the verifier was given the means to check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Root {
    /// A chain key: a record whose HMAC was checked is authentic.
    ChainKey,
    /// Signed epoch seals chained from `pk0`: the records up to `sealed_through` (inclusive;
    /// `None`: no seal verified) are authenticated.
    Seals { sealed_through: Option<u64> },
    /// Nothing: an unkeyed, unsigned chain (or one checked without its key or `pk0`).
    None,
}

impl Root {
    /// The root of a verification: a chain key when keys were given, else the seals when a
    /// public key was (`sealed`: the last `seq` the seal walk verified), else none.
    pub(crate) fn of(keys_given: bool, sealed: Option<Option<u64>>) -> Root {
        match (keys_given, sealed) {
            (true, _) => Root::ChainKey,
            (false, Some(sealed_through)) => Root::Seals { sealed_through },
            (false, None) => Root::None,
        }
    }
}

/// The trust rule with what it needs to know about one trail.
#[derive(Clone, Debug)]
pub(crate) struct Trust {
    root: Root,
    /// Ranges (inclusive) of `seq` the writer disowned after a restart (`unadopted` repairs).
    unadopted: Vec<(u64, u64)>,
}

/// Why a control record was disregarded (a sentence for a report).
pub(crate) type Disregarded = String;

impl Trust {
    pub(crate) fn new(root: Root) -> Self {
        Trust {
            root,
            unadopted: Vec::new(),
        }
    }

    /// Notes an `unadopted` repair record (honoured whether or not it is authenticated: it only
    /// ever withdraws trust).
    pub(crate) fn disowned(&mut self, from: u64, to: u64) {
        self.unadopted.push((from.min(to), from.max(to)));
    }

    /// Whether a control record `kind` at `seq` counts. `key_checked`: its HMAC was checked
    /// with a chain key (false for an unkeyed record, or one whose key is unknown).
    pub(crate) fn judge(&self, kind: &str, seq: u64, key_checked: bool) -> Result<(), Disregarded> {
        let disowned = self.unadopted.iter().find(|r| r.0 <= seq && seq <= r.1);
        match self.root {
            Root::ChainKey if key_checked => Ok(()),
            Root::ChainKey => Err(format!(
                "the {kind} record at seq {seq} was disregarded: it is not authenticated by the chain key"
            )),
            _ if disowned.is_some() => {
                let (from, to) = disowned.copied().unwrap_or_default();
                Err(format!(
                    "the {kind} record at seq {seq} was disregarded: the writer disowned records {from}..={to} after a restart (not written by it)"
                ))
            }
            Root::Seals { sealed_through } if sealed_through.is_some_and(|s| seq <= s) => Ok(()),
            Root::Seals { .. } => Err(format!(
                "the {kind} record at seq {seq} was disregarded: no valid epoch seal covers it"
            )),
            Root::None => Ok(()),
        }
    }
}

/// The `unadopted` range a repair line names, if it is one: (`from_seq`, `to_seq`).
pub(crate) fn unadopted_range(v: &serde_json::Value) -> Option<(u64, u64)> {
    if v.get("repair")?.as_str()? != "unadopted" {
        return None;
    }
    Some((v.get("from_seq")?.as_u64()?, v.get("to_seq")?.as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_root_trusts_only_what_it_can_prove() {
        let key = Trust::new(Root::ChainKey);
        assert!(key.judge("prune", 5, true).is_ok());
        assert!(key.judge("prune", 5, false).is_err());
        let mut seals = Trust::new(Root::Seals {
            sealed_through: Some(10),
        });
        assert!(seals.judge("prune", 10, false).is_ok());
        assert!(seals.judge("prune", 11, false).is_err());
        seals.disowned(8, 9);
        let why = seals.judge("prune", 9, false).unwrap_err();
        assert!(why.contains("disowned records 8..=9"), "{why}");
        let mut none = Trust::new(Root::None);
        assert!(none.judge("prune", 3, false).is_ok());
        none.disowned(3, 3);
        assert!(none.judge("prune", 3, false).is_err());
    }
}
