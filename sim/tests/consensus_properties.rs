//! Targeted scenarios on the model simulator, one per consensus feature: pre-vote,
//! check-quorum, priority, leadership transfer, snapshot catch-up, voter changes and the
//! fsync rule. Section numbers refer to Ongaro's thesis unless noted.

use std::time::Duration;

use omnirelay_core::NodeId;
use omnirelay_core::consensus::{Priority, ProposeError, RoleKind, Term, VoterChangeError};
use omnirelay_sim::consensus::{Cluster, ClusterSpec, ReplicaInput};

const SEC: Duration = Duration::from_secs(1);

fn settled(seed: u64, spec: ClusterSpec) -> (Cluster, NodeId) {
    let mut c = Cluster::new(seed, spec);
    c.run_for(2 * SEC);
    let leader = c
        .leader()
        .unwrap_or_else(|| panic!("seed {seed}: no leader after 2 s"));
    (c, leader)
}

fn term_of(c: &Cluster, id: NodeId) -> Term {
    c.sim.machine(id).map_or(Term(0), |m| m.replica().term())
}

fn assert_clean(c: &Cluster, seed: u64) {
    assert!(
        c.violations().is_empty(),
        "seed {seed}: {:#?}",
        c.violations()
    );
}

#[test]
fn pre_vote_keeps_a_partitioned_node_from_inflating_terms() {
    // §9.6: the isolated node never wins a pre-vote, so its term stays put and the
    // leader is not deposed when it comes back.
    for seed in 0..20 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(3));
        let term = term_of(&c, leader);
        let Some(lonely) = c.node_ids().into_iter().find(|&id| id != leader) else {
            continue;
        };
        let all = c.node_ids();
        c.sim.network_mut().isolate(lonely, all);
        c.run_for(5 * SEC);
        assert_eq!(term_of(&c, lonely), term, "seed {seed}: term inflated");
        c.sim.network_mut().heal();
        c.run_for(2 * SEC);
        assert_eq!(c.leader(), Some(leader), "seed {seed}: leader disrupted");
        assert_eq!(term_of(&c, leader), term, "seed {seed}: term changed");
        assert_clean(&c, seed);
    }
    // The same partition without pre-vote does inflate the term: the test can fail.
    let mut spec = ClusterSpec::new(3);
    spec.pre_vote = false;
    spec.check_quorum = false;
    let (mut c, leader) = settled(0, spec);
    let term = term_of(&c, leader);
    let lonely = c.node_ids().into_iter().find(|&id| id != leader);
    let lonely = lonely.unwrap_or(NodeId(1));
    let all = c.node_ids();
    c.sim.network_mut().isolate(lonely, all);
    c.run_for(5 * SEC);
    assert!(
        term_of(&c, lonely) > term,
        "without pre-vote the term should grow"
    );
}

#[test]
fn a_leader_cut_off_from_its_majority_steps_down_within_an_election_timeout() {
    // §6.2 check-quorum; the majority side elects a new leader meanwhile.
    for seed in 0..20 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(5));
        let term = term_of(&c, leader);
        let cut_at = c.sim.now();
        let all = c.node_ids();
        c.sim.network_mut().isolate(leader, all);
        let window = c.spec().election_timeout.max() + c.spec().heartbeat;
        c.run_for(window + Duration::from_millis(20));
        let stepped = c
            .checker
            .step_downs
            .iter()
            .any(|&(at, id, t)| id == leader && t == term && at > cut_at);
        assert!(stepped, "seed {seed}: isolated leader kept leading");
        assert_ne!(
            c.sim.machine(leader).map(|m| m.replica().role()),
            Some(RoleKind::Leader)
        );
        c.run_for(SEC);
        let new = c.leader();
        assert!(
            new.is_some_and(|n| n != leader),
            "seed {seed}: the majority did not elect"
        );
        assert_clean(&c, seed);
    }
}

#[test]
fn the_highest_priority_voter_wins_among_equally_up_to_date_candidates() {
    let mut spec = ClusterSpec::new(5);
    spec.priorities = vec![
        Priority(1),
        Priority(2),
        Priority(3),
        Priority(4),
        Priority(5),
    ];
    for seed in 0..20 {
        let (mut c, leader) = settled(seed, spec.clone());
        assert_eq!(
            leader,
            NodeId(5),
            "seed {seed}: empty logs, n5 ranks highest"
        );
        // Logs are equal once the no-op is everywhere: the next best takes over.
        c.crash(leader);
        c.run_for(2 * SEC);
        assert_eq!(c.leader(), Some(NodeId(4)), "seed {seed}");
        assert_clean(&c, seed);
    }
}

#[test]
fn a_priority_zero_voter_never_leads_even_when_leaders_keep_crashing() {
    let mut spec = ClusterSpec::new(3);
    spec.priorities = vec![Priority::NEVER_LEADS, Priority(1), Priority(1)];
    for seed in 0..10 {
        let mut c = Cluster::new(seed, spec.clone());
        for _ in 0..10 {
            c.run_for(SEC);
            c.propose();
            if let Some(leader) = c.leader() {
                c.crash(leader);
                c.run_for(SEC);
                c.restart(leader);
            }
        }
        assert!(
            c.checker.leaders.values().all(|&l| l != NodeId(1)),
            "seed {seed}: the priority-0 voter led"
        );
        assert!(
            c.checker.leaders.len() > 5,
            "seed {seed}: too few elections"
        );
        assert_clean(&c, seed);
    }
}

#[test]
fn leadership_transfer_hands_over_to_the_chosen_voter_and_refuses_proposals_meanwhile() {
    // §3.10.
    for seed in 0..20 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(5));
        let term = term_of(&c, leader);
        let target = NodeId(leader.0 % 5 + 1);
        c.input(leader, ReplicaInput::Transfer(target));
        let seq = c.propose_at(leader);
        c.run_for(SEC);
        assert_eq!(c.checker.transfers, vec![Ok(())], "seed {seed}");
        assert!(
            c.checker
                .refused
                .contains(&(seq, ProposeError::TransferInProgress)),
            "seed {seed}: proposal accepted during the transfer"
        );
        assert_eq!(c.leader(), Some(target), "seed {seed}: wrong successor");
        assert!(term_of(&c, target) > term);
        assert!(c.checker.transfers_aborted.is_empty());
        assert_clean(&c, seed);
    }
}

#[test]
fn a_transfer_to_an_unreachable_voter_aborts_after_an_election_timeout() {
    for seed in 0..10 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(5));
        let target = NodeId(leader.0 % 5 + 1);
        c.crash(target);
        c.input(leader, ReplicaInput::Transfer(target));
        c.run_for(c.spec().election_timeout.max() + Duration::from_millis(10));
        assert_eq!(
            c.checker
                .transfers_aborted
                .iter()
                .map(|&(_, l, t)| (l, t))
                .collect::<Vec<_>>(),
            vec![(leader, target)],
            "seed {seed}"
        );
        // Proposals are taken again.
        let seq = c.propose_at(leader);
        c.run_for(SEC);
        assert!(c.checker.accepted.contains_key(&seq), "seed {seed}");
        assert_clean(&c, seed);
    }
}

#[test]
fn a_follower_whose_entries_were_compacted_away_catches_up_from_a_snapshot() {
    // Raft §7: InstallSnapshot when the leader no longer has the follower's next entry.
    for seed in 0..10 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(3));
        let Some(lagging) = c.node_ids().into_iter().find(|&id| id != leader) else {
            continue;
        };
        c.crash(lagging);
        for _ in 0..50 {
            c.propose();
            c.run_for(Duration::from_millis(10));
        }
        c.run_for(SEC);
        c.input(leader, ReplicaInput::Compact);
        c.run_for(Duration::from_millis(10));
        c.restart(lagging);
        c.run_for(2 * SEC);
        assert!(
            c.checker
                .snapshots_installed
                .iter()
                .any(|&(_, id, _)| id == lagging),
            "seed {seed}: no snapshot was installed"
        );
        let state = |id| c.sim.machine(id).map(|m| m.state());
        assert_eq!(state(lagging), state(leader), "seed {seed}: states differ");
        assert!(state(leader).is_some_and(|s| s.index > 50));
        assert_clean(&c, seed);
    }
}

#[test]
fn voter_changes_go_one_at_a_time_and_can_remove_the_leader() {
    // §4.1: a configuration takes effect when appended; one pending change at a time.
    for seed in 0..10 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(3));
        let n4 = NodeId(4);
        c.add_empty_node(n4);
        let current = c
            .sim
            .machine(leader)
            .map(|m| m.replica().voters().clone())
            .unwrap_or_default();
        let with_n4 = current.with_voter(n4, Priority(1));
        c.input(leader, ReplicaInput::ChangeVoters(with_n4.clone()));
        let without_leader = with_n4.without_voter(leader);
        c.input(leader, ReplicaInput::ChangeVoters(without_leader.clone()));
        c.run_for(SEC);
        assert!(matches!(
            c.checker.voter_changes.as_slice(),
            [Ok(_), Err(VoterChangeError::ChangePending { .. })]
        ));
        let n4_view = c.sim.machine(n4).map(|m| m.replica().voters().clone());
        assert_eq!(
            n4_view,
            Some(with_n4.clone()),
            "seed {seed}: n4 not caught up"
        );
        // Now remove the leader itself: it steps down once the change commits.
        c.input(leader, ReplicaInput::ChangeVoters(without_leader.clone()));
        c.run_for(2 * SEC);
        let new = c.leader();
        assert!(
            new.is_some_and(|n| n != leader),
            "seed {seed}: removed leader still leads"
        );
        let seq = c.propose();
        c.run_for(SEC);
        let committed = seq.is_some_and(|s| c.checker.command_index.contains_key(&s));
        assert!(
            committed,
            "seed {seed}: the new configuration cannot commit"
        );
        assert_clean(&c, seed);
    }
}

#[test]
fn nothing_commits_before_a_majority_has_fsynced_and_unsynced_copies_die_with_a_crash() {
    for seed in 0..10 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(3));
        let followers: Vec<NodeId> = c
            .node_ids()
            .into_iter()
            .filter(|&id| id != leader)
            .collect();
        for &f in &followers {
            if let Some(m) = c.sim.machine_mut(f) {
                m.set_fsync_delay(10 * SEC, Duration::ZERO);
            }
        }
        let before = c
            .sim
            .machine(leader)
            .map_or(0, |m| m.replica().commit_index());
        let seq = c.propose_at(leader);
        c.run_for(SEC);
        let commit = c
            .sim
            .machine(leader)
            .map_or(0, |m| m.replica().commit_index());
        assert_eq!(
            commit, before,
            "seed {seed}: committed before any follower fsync"
        );
        // The followers crash before their fsync: their copies are gone.
        for &f in &followers {
            c.crash(f);
            let held = c.checker.crashed_disks.get(&f).map(|d| d.last_index());
            assert!(
                held.is_some_and(|i| i <= before),
                "seed {seed}: unsynced write survived"
            );
            c.restart(f);
        }
        // Restarted with normal disks, they get the entry again and it commits.
        c.run_for(2 * SEC);
        assert!(
            c.checker.command_index.contains_key(&seq),
            "seed {seed}: the entry never committed"
        );
        assert_clean(&c, seed);
    }
}

#[test]
fn leadership_changes_carry_the_new_term_and_how_long_the_election_took() {
    for seed in 0..10 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(5));
        let term = term_of(&c, leader);
        let crashed_at = c.sim.now();
        c.crash(leader);
        c.run_for(2 * SEC);
        let after: Vec<_> = c
            .checker
            .leadership_log
            .iter()
            .filter(|(at, _, _)| *at > crashed_at)
            .collect();
        assert!(
            !after.is_empty(),
            "seed {seed}: nobody learned a new leader"
        );
        for &&(at, node, change) in &after {
            // The term is the fencing token: strictly above the crashed leader's.
            assert!(
                change.term > term,
                "seed {seed}: n{} saw {}",
                node.0,
                change.term
            );
            // Everyone lost the leader after the crash, so nobody was leaderless longer.
            assert!(change.election_duration <= at - crashed_at, "seed {seed}");
            assert!(change.election_duration > Duration::ZERO, "seed {seed}");
        }
        assert_clean(&c, seed);
    }
}

#[test]
fn a_leader_removed_by_an_uncommitted_change_still_campaigns_to_commit_it() {
    // Thesis §4.2.2: a server not in its own latest configuration may still be needed to
    // commit that configuration. Two voters; the leader removes itself while cut off, so
    // only it holds the change and its log is the more up to date: unless it campaigns,
    // nobody can ever win.
    for seed in 0..10 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(2));
        let Some(other) = c.node_ids().into_iter().find(|&id| id != leader) else {
            continue;
        };
        c.sim.network_mut().block(leader, other);
        let voters = c
            .sim
            .machine(leader)
            .map(|m| m.replica().voters().without_voter(leader))
            .unwrap_or_default();
        c.input(leader, ReplicaInput::ChangeVoters(voters.clone()));
        c.run_for(SEC);
        c.sim.network_mut().heal();
        c.run_for(3 * SEC);
        assert_eq!(c.leader(), Some(other), "seed {seed}: the cluster is stuck");
        let view = c.sim.machine(other).map(|m| m.replica().voters().clone());
        assert_eq!(view, Some(voters), "seed {seed}");
        assert_clean(&c, seed);
    }
}

/// Thesis §4.1: servers answer requests without consulting their own configuration. A
/// voter that never saw the entry adding node 4 must still answer 4's (pre-)votes, or —
/// with the old leader gone and 4 the only up-to-date voter — three live, connected voters
/// of four can never elect a leader. (Found by review; 10/10 seeds stalled before the fix.)
#[test]
fn a_voter_added_behind_a_stale_voters_back_can_still_win_its_votes() {
    for seed in 0..10u64 {
        let (mut c, leader) = settled(seed, ClusterSpec::new(3));
        let others: Vec<NodeId> = c.node_ids().into_iter().filter(|&i| i != leader).collect();
        let (follower, stale) = (others[0], others[1]);
        let added = NodeId(4);
        c.add_empty_node(added);
        // The stale voter never hears of node 4.
        c.sim
            .network_mut()
            .partition(&[&[leader, follower, added], &[stale]]);
        let voters = c
            .sim
            .machine(leader)
            .unwrap()
            .replica()
            .voters()
            .with_voter(added, Priority(1));
        c.input(leader, ReplicaInput::ChangeVoters(voters));
        c.run_for(SEC);
        assert!(
            c.sim
                .machine(leader)
                .unwrap()
                .replica()
                .voters()
                .contains(added),
            "seed {seed}"
        );
        // New entries reach node 4 only; then the leader dies for good.
        c.sim.network_mut().block_one_way(leader, follower);
        for _ in 0..3 {
            c.propose_at(leader);
        }
        c.run_for(Duration::from_millis(100));
        c.crash(leader);
        c.sim.network_mut().heal();
        c.run_for(20 * SEC);
        assert!(
            c.leader().is_some(),
            "seed {seed}: 3 of 4 voters alive and connected, no leader"
        );
        assert_clean(&c, seed);
    }
}
