//! A recorded run as an SVG picture: one lane per cluster, one row per namespace coloured
//! by the cluster's state for it, leader changes as ticks, fault windows shaded across all
//! lanes, and two curves below: replication lag and the client write success rate.
//!
//! [`render_svg`] is a pure function of a [`Timeline`]: the same run draws the same bytes.

use std::fmt::Write as _;

use super::scenario::{Fault, Scenario};

/// A cluster's state for one namespace (ARCHITECTURE.md, "cluster state").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NamespaceState {
    /// Accepts the namespace's writes.
    Active,
    /// Replicates the namespace; does not accept its writes.
    Passive,
    /// Stopped taking writes during a planned failover.
    Draining,
    /// Learned of a higher failover_version: refuses writes.
    Fenced,
}

impl NamespaceState {
    fn name(self) -> &'static str {
        match self {
            NamespaceState::Active => "active",
            NamespaceState::Passive => "passive",
            NamespaceState::Draining => "draining",
            NamespaceState::Fenced => "fenced",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            NamespaceState::Active => "#2e7d32",
            NamespaceState::Passive => "#90caf9",
            NamespaceState::Draining => "#ffb300",
            NamespaceState::Fenced => "#c62828",
        }
    }

    const ALL: [NamespaceState; 4] = [
        NamespaceState::Active,
        NamespaceState::Passive,
        NamespaceState::Draining,
        NamespaceState::Fenced,
    ];
}

/// From `at_s` on, `cluster` is in `state` for `namespace` (until its next change).
#[derive(Clone, Debug, PartialEq)]
pub struct StateChange {
    /// Seconds into the run.
    pub at_s: f64,
    /// The cluster.
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
    /// The new state.
    pub state: NamespaceState,
}

/// `cluster` got a new leader at `at_s`.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderChange {
    /// Seconds into the run.
    pub at_s: f64,
    /// The cluster.
    pub cluster: String,
    /// The new leader's name (empty: no leader).
    pub leader: String,
}

/// A stretch of time during which a fault was in force.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    /// Seconds into the run when it began.
    pub from_s: f64,
    /// When it ended (the run's end if it never healed).
    pub to_s: f64,
    /// What it was (`partition us-east | eu-west`).
    pub label: String,
}

/// Measurements taken at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Seconds into the run.
    pub at_s: f64,
    /// The worst replication lag over all (source, target) pairs, in seconds.
    pub lag_s: f64,
    /// Fraction of client writes that succeeded in the interval ending here, in [0, 1].
    pub write_success: f64,
}

/// What a run recorded, as the picture needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// A heading (scenario, seed, trace hash).
    pub title: String,
    /// Length of the run, in seconds.
    pub duration_s: f64,
    /// One lane each, top to bottom.
    pub clusters: Vec<String>,
    /// One row each inside every lane.
    pub namespaces: Vec<String>,
    /// Namespace states over time; before its first change a row is blank.
    pub states: Vec<StateChange>,
    /// Leader elections.
    pub leader_changes: Vec<LeaderChange>,
    /// Faults in force.
    pub faults: Vec<FaultWindow>,
    /// Lag and success rate over time, in time order.
    pub samples: Vec<Sample>,
}

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 140.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const ROW: f64 = 14.0;
const LANE_GAP: f64 = 10.0;
const CHART: f64 = 90.0;
const CHART_GAP: f64 = 30.0;

/// Draws `timeline` as a standalone SVG document.
///
/// Elements carry classes a test or a stylesheet can find: `lane` (a `<g>` per cluster,
/// with `data-cluster`), `state` (a coloured span), `leader-change`, `fault` (one shaded
/// `<rect>` per window), `lag` and `write-success` (the two curves).
pub fn render_svg(timeline: &Timeline) -> String {
    let duration = if timeline.duration_s.is_finite() && timeline.duration_s > 0.0 {
        timeline.duration_s
    } else {
        1.0
    };
    let plot = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + plot * (clamp(t, 0.0, duration) / duration);
    let rows = timeline.namespaces.len().max(1) as f64;
    let lane_height = rows * ROW;
    let lanes_bottom = TOP + timeline.clusters.len() as f64 * (lane_height + LANE_GAP);
    let lag_top = lanes_bottom + CHART_GAP;
    let success_top = lag_top + CHART + CHART_GAP;
    let height = success_top + CHART + 50.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="20" font-size="14">{}</text>"#,
        escape(&timeline.title)
    );

    for (i, cluster) in timeline.clusters.iter().enumerate() {
        let top = TOP + i as f64 * (lane_height + LANE_GAP);
        let _ = writeln!(
            svg,
            r#"<g class="lane" data-cluster="{}">"#,
            escape(cluster)
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{LEFT}\" y=\"{top:.1}\" width=\"{plot:.1}\" height=\"{lane_height:.1}\" fill=\"#f5f5f5\" stroke=\"#bdbdbd\"/>"
        );
        let _ = writeln!(
            svg,
            r#"<text x="8" y="{:.1}">{}</text>"#,
            top + lane_height / 2.0 + 4.0,
            escape(cluster)
        );
        for (row, namespace) in timeline.namespaces.iter().enumerate() {
            let y = top + row as f64 * ROW;
            for (from, to, state) in spans(timeline, cluster, namespace, duration) {
                let _ = writeln!(
                    svg,
                    r#"<rect class="state" data-state="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                    state.name(),
                    x(from),
                    y + 1.0,
                    (x(to) - x(from)).max(0.0),
                    ROW - 2.0,
                    state.colour(),
                    escape(cluster),
                    escape(namespace),
                    state.name()
                );
            }
        }
        for change in timeline
            .leader_changes
            .iter()
            .filter(|c| &c.cluster == cluster)
        {
            let at = x(change.at_s);
            let _ = writeln!(
                svg,
                r#"<line class="leader-change" x1="{at:.1}" y1="{:.1}" x2="{at:.1}" y2="{:.1}" stroke="black" stroke-width="2"><title>leader {}</title></line>"#,
                top - 3.0,
                top + lane_height + 3.0,
                escape(&change.leader)
            );
        }
        svg.push_str("</g>\n");
    }

    // Shaded over the lanes and both charts, so cause and effect line up.
    for window in &timeline.faults {
        let (from, to) = (x(window.from_s), x(window.to_s.max(window.from_s)));
        let _ = writeln!(
            svg,
            r#"<rect class="fault" x="{from:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="gray" fill-opacity="0.25"><title>{}</title></rect>"#,
            TOP - 5.0,
            // A fault that starts and ends at once still gets a visible sliver.
            (to - from).max(1.0),
            success_top + CHART - TOP + 5.0,
            escape(&window.label)
        );
    }

    let max_lag = timeline
        .samples
        .iter()
        .map(|s| s.lag_s)
        .filter(|l| l.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    chart(&mut svg, "replication lag (s)", lag_top, max_lag);
    curve(&mut svg, "lag", "#6a1b9a", &timeline.samples, |s| {
        let y = clamp(s.lag_s, 0.0, max_lag) / max_lag;
        (x(s.at_s), lag_top + CHART * (1.0 - y))
    });
    chart(&mut svg, "write success", success_top, 1.0);
    curve(
        &mut svg,
        "write-success",
        "#1565c0",
        &timeline.samples,
        |s| {
            let y = clamp(s.write_success, 0.0, 1.0);
            (x(s.at_s), success_top + CHART * (1.0 - y))
        },
    );

    // Time axis: ten ticks.
    let axis = success_top + CHART + 15.0;
    for tick in 0..=10 {
        let t = duration * f64::from(tick) / 10.0;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{axis:.1}" text-anchor="middle">{t:.1}s</text>"#,
            x(t)
        );
    }
    let mut legend = LEFT;
    for state in NamespaceState::ALL {
        let _ = writeln!(
            svg,
            r#"<rect x="{legend:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            axis + 12.0,
            state.colour(),
            legend + 14.0,
            axis + 21.0,
            state.name()
        );
        legend += 90.0;
    }
    svg.push_str("</svg>\n");
    svg
}

/// The fault windows of a scenario's schedule: a partition, one-way partition or packet
/// loss lasts until the next `heal` (packet loss also until a rate of 0), a held link for
/// its `for_s`, a region kill until that region restarts, a crash until that node
/// restarts; a disk fault, slow disk or failover command is a moment.
pub fn fault_windows(scenario: &Scenario) -> Vec<FaultWindow> {
    let end = scenario.duration_s;
    let faults = &scenario.faults;
    let until = |i: usize, ends: &dyn Fn(&Fault) -> bool| {
        faults
            .iter()
            .skip(i + 1)
            .find(|f| ends(f))
            .map_or(end, Fault::at_s)
    };
    let mut windows = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        let at = fault.at_s();
        let heal = |f: &Fault| matches!(f, Fault::Heal { .. });
        let (to, label) = match fault {
            Fault::Partition { a, b, .. } => (until(i, &heal), format!("partition {a} | {b}")),
            Fault::OneWayPartition { from, to, .. } => {
                (until(i, &heal), format!("one-way partition {from} -> {to}"))
            }
            Fault::PacketLoss { rate, .. } if *rate > 0.0 => (
                until(i, &|f| {
                    heal(f) || matches!(f, Fault::PacketLoss { rate, .. } if *rate == 0.0)
                }),
                format!("packet loss {rate}"),
            ),
            Fault::HoldLink { a, b, for_s, .. } => {
                ((at + for_s).min(end), format!("hold link {a} | {b}"))
            }
            Fault::RegionKill { cluster, .. } => (
                until(
                    i,
                    &|f| matches!(f, Fault::RegionRestart { cluster: c, .. } if c == cluster),
                ),
                format!("region kill {cluster}"),
            ),
            Fault::Crash { node, .. } => (
                until(
                    i,
                    &|f| matches!(f, Fault::Restart { node: n, .. } if n == node),
                ),
                format!("crash {node}"),
            ),
            Fault::DiskFault { node, fault, .. } => (at, format!("disk fault {node} {fault:?}")),
            Fault::SlowDisk { node, ms, .. } if *ms > 0.0 => {
                (at, format!("slow disk {node} +{ms} ms"))
            }
            Fault::Failover {
                namespace,
                to,
                mode,
                ..
            } => (at, format!("{mode:?} failover {namespace} -> {to}")),
            // Ends of windows, not windows.
            Fault::Heal { .. }
            | Fault::PacketLoss { .. }
            | Fault::SlowDisk { .. }
            | Fault::RegionRestart { .. }
            | Fault::Restart { .. } => continue,
        };
        windows.push(FaultWindow {
            from_s: at,
            to_s: to,
            label,
        });
    }
    windows
}

/// The (from, to, state) spans of one row, in time order.
fn spans(
    timeline: &Timeline,
    cluster: &str,
    namespace: &str,
    duration: f64,
) -> Vec<(f64, f64, NamespaceState)> {
    let mut changes: Vec<&StateChange> = timeline
        .states
        .iter()
        .filter(|c| c.cluster == cluster && c.namespace == namespace)
        .collect();
    // Stable: two changes at one instant keep their recorded order, the later one wins.
    changes.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let mut spans = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let to = changes.get(i + 1).map_or(duration, |next| next.at_s);
        if to > change.at_s {
            spans.push((change.at_s, to, change.state));
        }
    }
    spans
}

fn chart(svg: &mut String, label: &str, top: f64, max: f64) {
    let plot = WIDTH - LEFT - RIGHT;
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top:.1}" width="{plot:.1}" height="{CHART}" fill="none" stroke="#bdbdbd"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="8" y="{:.1}">{label}</text><text x="{:.1}" y="{:.1}" text-anchor="end">{max:.2}</text>"#,
        top + CHART / 2.0,
        LEFT - 4.0,
        top + 10.0
    );
}

fn curve(
    svg: &mut String,
    class: &str,
    colour: &str,
    samples: &[Sample],
    point: impl Fn(&Sample) -> (f64, f64),
) {
    let mut points = String::new();
    for sample in samples.iter().filter(|s| s.at_s.is_finite()) {
        let (x, y) = point(sample);
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    let _ = writeln!(
        svg,
        r#"<polyline class="{class}" fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
        points.trim_end()
    );
}

/// `value` within [lo, hi]; NaN counts as `lo`.
fn clamp(value: f64, lo: f64, hi: f64) -> f64 {
    if value.is_nan() {
        lo
    } else {
        value.clamp(lo, hi)
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
