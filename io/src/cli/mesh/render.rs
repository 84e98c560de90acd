//! Tables and progress lines for humans; `--output json` prints the API's JSON instead.

use crate::control::model::{
    ClustersSnapshot, FailoverStatus, FailoverView, Lag, LeaderView, LeadershipEvent, PeersPage,
    PreflightCheck, ReplicationHealth,
};

/// Left-aligned columns separated by two spaces, sized to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

pub fn clusters(snapshot: &ClustersSnapshot) -> String {
    let rows: Vec<Vec<String>> = snapshot
        .clusters
        .iter()
        .map(|c| {
            let states = c
                .namespaces
                .iter()
                .map(|n| {
                    format!("{}={:?}/v{}", n.namespace, n.state, n.failover_version).to_lowercase()
                })
                .collect::<Vec<_>>()
                .join(" ");
            let lag = c
                .lag
                .iter()
                .map(|l| {
                    let show = |lag: Option<Lag>| {
                        lag.map_or("?".to_owned(), |l| {
                            format!("{}/{:.2}s", l.entries, l.seconds)
                        })
                    };
                    format!("{}:{}<-{}", l.peer, show(l.to_peer), show(l.from_peer))
                })
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                c.id.clone(),
                c.region.clone(),
                c.priority.to_string(),
                states,
                lag,
            ]
        })
        .collect();
    let mut out = table(
        &[
            "CLUSTER",
            "REGION",
            "PRIORITY",
            "NAMESPACES",
            "LAG TO PEERS (entries/seconds)",
        ],
        &rows,
    );
    out.push_str(&format!(
        "registry revision {}\n",
        snapshot.registry_revision
    ));
    out
}

pub fn peers(page: &PeersPage) -> String {
    let rows: Vec<Vec<String>> = page
        .peers
        .iter()
        .map(|p| {
            vec![
                p.node.clone(),
                p.cluster.clone(),
                p.region.clone(),
                p.role.clone(),
                p.status.as_str().to_owned(),
                p.rtt_ms.map_or("-".into(), |r| format!("{r:.1}ms")),
                p.last_seen_unix_ms.to_string(),
            ]
        })
        .collect();
    let pages = page.total.div_ceil(u64::from(page.page_size.max(1))).max(1);
    let mut out = table(
        &[
            "NODE",
            "CLUSTER",
            "REGION",
            "ROLE",
            "STATUS",
            "RTT",
            "LAST SEEN (unix ms)",
        ],
        &rows,
    );
    out.push_str(&format!(
        "page {} of {pages}, {} peers in all\n",
        page.page, page.total
    ));
    out
}

pub fn leaders(leaders: &[LeaderView]) -> String {
    let rows: Vec<Vec<String>> = leaders
        .iter()
        .map(|l| {
            vec![
                l.cluster.clone(),
                l.leader.clone().unwrap_or_else(|| "(none)".into()),
                l.term.to_string(),
                l.fencing_token.to_string(),
                l.since_unix_ms.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "CLUSTER",
            "LEADER",
            "TERM",
            "FENCING TOKEN",
            "SINCE (unix ms)",
        ],
        &rows,
    )
}

pub fn leadership_event(event: &LeadershipEvent) -> String {
    format!(
        "{} {}: leader {} term {} fencing token {}",
        event.at_unix_ms,
        event.cluster,
        event.leader.as_deref().unwrap_or("(none)"),
        event.term,
        event.fencing_token
    )
}

pub fn replication(health: &ReplicationHealth) -> String {
    let mut out = format!(
        "{} — node {} ({}) in {} / {}; WAL last {} commit {} size {} bytes\n",
        health.status.as_str(),
        health.node,
        health.role,
        health.cluster,
        health.region,
        health.wal.last_index,
        health.wal.commit_index,
        health.wal.size_bytes
    );
    let rows: Vec<Vec<String>> = health
        .remotes
        .iter()
        .map(|r| {
            vec![
                r.cluster.clone(),
                r.lag.entries.to_string(),
                format!("{:.2}", r.lag.seconds),
                r.health.as_str().to_owned(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["REMOTE CLUSTER", "LAG ENTRIES", "LAG SECONDS", "HEALTH"],
        &rows,
    ));
    if !health.followers.is_empty() {
        let rows: Vec<Vec<String>> = health
            .followers
            .iter()
            .map(|f| {
                vec![
                    f.node.clone(),
                    f.match_index.to_string(),
                    f.lag_entries.to_string(),
                    f.health.as_str().to_owned(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["FOLLOWER", "MATCH INDEX", "LAG ENTRIES", "HEALTH"],
            &rows,
        ));
    }
    out
}

pub fn failover_row(f: &FailoverView) -> Vec<String> {
    vec![
        f.id.clone(),
        f.kind.as_str().to_owned(),
        f.namespace.clone(),
        f.source_cluster.clone(),
        f.target_cluster.clone(),
        f.step.as_str().to_owned(),
        f.status.as_str().to_owned(),
        format!("{}%", f.progress_percent),
    ]
}

pub const FAILOVER_HEADERS: [&str; 8] = [
    "ID",
    "KIND",
    "NAMESPACE",
    "FROM",
    "TO",
    "STEP",
    "STATUS",
    "PROGRESS",
];

pub fn failovers(list: &[FailoverView]) -> String {
    let rows: Vec<Vec<String>> = list.iter().map(failover_row).collect();
    table(&FAILOVER_HEADERS, &rows)
}

pub fn checks(checks: &[PreflightCheck]) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                if c.passed { "pass" } else { "FAIL" }.to_owned(),
                c.detail.clone(),
            ]
        })
        .collect();
    table(&["CHECK", "RESULT", "DETAIL"], &rows)
}

pub fn failover(f: &FailoverView) -> String {
    let mut out = table(&FAILOVER_HEADERS, &[failover_row(f)]);
    out.push_str(&format!(
        "requested by {}; ticket {}; approver {}; approved by {}; force {}\n",
        f.requested_by,
        f.ticket.as_deref().unwrap_or("-"),
        f.approver.as_deref().unwrap_or("-"),
        f.approved_by.as_deref().unwrap_or("-"),
        f.force
    ));
    if !f.preflight.is_empty() {
        out.push_str(&checks(&f.preflight));
    }
    let trail: Vec<Vec<String>> = f
        .trail
        .iter()
        .map(|t| {
            vec![
                t.at_unix_ms.to_string(),
                t.step.as_str().to_owned(),
                t.detail.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&["AT (unix ms)", "STEP", "DETAIL"], &trail));
    if let Some(reason) = &f.reason {
        out.push_str(&format!("reason: {reason}\n"));
    }
    if f.summary.is_some() {
        out.push_str(&summary(f));
    }
    out
}

/// One line per step reached, for the live display of promote and migrate.
pub fn progress(f: &FailoverView) -> String {
    format!(
        "  [{:>3}%] {:<10} {}",
        f.progress_percent,
        f.step.as_str(),
        f.status.as_str()
    )
}

/// The closing summary: duration, lag at promotion, writes at risk.
pub fn summary(f: &FailoverView) -> String {
    let Some(s) = &f.summary else {
        return format!("failover {} ended {}\n", f.id, f.status.as_str());
    };
    let at_risk = match &s.writes_at_risk {
        None => "none".to_owned(),
        Some(w) if w.open_ended => format!(
            "at least {} writes ({} origin_seq {}..={} and any it acknowledged unseen after; \
             the range closes when {} reports back; quarantined when it returns: GET /control/state-diff)",
            w.count(),
            w.origin_cluster,
            w.from_seq,
            w.to_seq,
            w.origin_cluster
        ),
        Some(w) => format!(
            "{} writes ({} origin_seq {}..={}; quarantined when it returns: GET /control/state-diff)",
            w.count(),
            w.origin_cluster,
            w.from_seq,
            w.to_seq
        ),
    };
    let verdict = if f.status == FailoverStatus::Succeeded {
        format!("{} is now active for {}", f.target_cluster, f.namespace)
    } else {
        format!("ended {}", f.status.as_str())
    };
    format!(
        "summary: {verdict}\n  duration:          {:.3} s\n  lag at promotion:  {} entries, {:.2} s\n  writes at risk:    {at_risk}\n  failover_version:  {}\n",
        s.duration_ms as f64 / 1000.0,
        s.lag_at_promotion.entries,
        s.lag_at_promotion.seconds,
        s.failover_version
    )
}
