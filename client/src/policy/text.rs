//! [`Policy::to_text`]: the canonical text of a policy, which parses back to an equal one.

use super::{Policy, Veto};

impl Policy {
    /// The policy as text; [`Policy::parse`] of it gives back an equal policy. Lines come
    /// in a canonical order (witnesses, groups, quorum, logs, review settings).
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        for w in &self.witnesses {
            o.push_str(&format!("witness {} {}", w.name, w.vkey));
            if let Some(u) = &w.url {
                o.push_str(&format!(" {u}"));
            }
            o.push('\n');
        }
        for g in &self.groups {
            o.push_str(&format!("group {} {}", g.name, g.threshold_text));
            for m in &g.members {
                o.push(' ');
                o.push_str(self.member_name(*m));
            }
            o.push('\n');
        }
        match self.quorum {
            None => o.push_str("quorum none\n"),
            Some(m) => o.push_str(&format!("quorum {}\n", self.member_name(m))),
        }
        for l in &self.logs {
            match &l.jurisdiction {
                None => {
                    o.push_str(&format!("log {}", l.vkey));
                    if let Some(u) = &l.url {
                        o.push_str(&format!(" {u}"));
                    }
                    o.push('\n');
                }
                Some(j) => o.push_str(&format!(
                    "review-log {j} {} {}\n",
                    l.vkey,
                    l.url.as_deref().unwrap_or_default()
                )),
            }
            if l.origin_set {
                o.push_str(&format!("log-origin {} {}\n", l.vkey, l.origin()));
            }
            for k in &l.extra_vkeys {
                o.push_str(&format!("log-key {} {k}\n", l.vkey));
            }
            for m in &l.mirrors {
                o.push_str(&format!("log-mirror {} {m}\n", l.origin()));
            }
        }
        for r in &self.reviewers {
            o.push_str(&format!("reviewer {} {}\n", r.jurisdiction, r.vkey));
        }
        for (w, j) in &self.witness_jurisdictions {
            o.push_str(&format!("review-witness {j} {w}\n"));
        }
        if let Some(k) = self.review_quorum {
            o.push_str(&format!("review-quorum {k}\n"));
        }
        if self.criteria_set {
            o.push_str(&format!("criteria {}\n", self.criteria));
        }
        for (a, b) in &self.implies {
            o.push_str(&format!("implies {a} {b}\n"));
        }
        if let Some(v) = self.veto {
            o.push_str(match v {
                Veto::Any => "veto any\n",
                Veto::None => "veto none\n",
            });
        }
        if let Some(s) = self.max_checkpoint_age {
            o.push_str(&format!("max-checkpoint-age {s}\n"));
        }
        let yn = |b: bool| if b { "yes" } else { "no" };
        if let Some(b) = self.delta_across_jurisdictions {
            o.push_str(&format!("delta-across-jurisdictions {}\n", yn(b)));
        }
        if let Some(b) = self.accept_unknown_digests {
            o.push_str(&format!("accept-unknown-digests {}\n", yn(b)));
        }
        self.evidence.to_text(&mut o);
        o
    }
}
