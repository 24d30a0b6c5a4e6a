//! The ledger of local writes that the convergence tests follow to their fate, and the
//! two checks that prove nothing was applied twice and nothing was lost.

use std::collections::{HashMap, HashSet};

/// Every local write of a simulation, each with a unique stamp.
#[derive(Default)]
pub struct Ledger {
    /// stamp -> (client, id) of every local write.
    pub written: HashMap<String, (usize, String)>,
    /// Stamps a later local write or delete replaced.
    pub superseded: HashSet<String>,
    /// Stamps a resolution chose to drop.
    pub discarded: HashSet<String>,
    /// How many extra times a stamp may legitimately be applied (each "keep local").
    pub resent: HashMap<String, usize>,
    next: u64,
}

impl Ledger {
    /// A fresh stamp for a local write by `client` on item `id`.
    pub fn stamp(&mut self, client: usize, id: &str) -> String {
        self.next += 1;
        let s = format!("c{client}-w{}", self.next);
        self.written.insert(s.clone(), (client, id.to_owned()));
        s
    }

    /// How many stamps were handed out (for traces).
    pub fn issued(&self) -> u64 {
        self.next
    }

    /// Given how many times the server applied each stamp: no stamp applied more than
    /// once plus once per "keep local" of it, and every written stamp applied,
    /// superseded by a later local write, or dropped by a chosen resolution.
    pub fn check(&self, applied: &HashMap<String, usize>) -> Result<(), String> {
        for (stamp, n) in applied {
            let allowed = 1 + self.resent.get(stamp).copied().unwrap_or(0);
            if *n > allowed {
                return Err(format!(
                    "write {stamp} applied {n} times (allowed {allowed})"
                ));
            }
        }
        for (stamp, (client, id)) in &self.written {
            let fate = applied.contains_key(stamp)
                || self.superseded.contains(stamp)
                || self.discarded.contains(stamp);
            if !fate {
                return Err(format!("client {client}'s write {stamp} on {id} was lost"));
            }
        }
        Ok(())
    }
}
