use super::*;
use crate::clock::SeqIds;
use crate::engine::tests::{block, quick};
use crate::engine::{Cx, start};
use cattery_protocol::RunStatus;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cattery.db")).unwrap();
    (dir, store)
}

fn insert_run(store: &Store) -> cattery_protocol::Run {
    store.insert_block(&block()).unwrap();
    let ids = SeqIds::default();
    let cx = Cx {
        now: 5,
        ids: &ids,
        actor: "ana",
    };
    let run = start(&block(), &quick(), None, &cx).run.run;
    let write = RunWrite::insert(run);
    let mut stored = store
        .commit(Commit {
            runs: vec![write],
            ..Commit::default()
        })
        .unwrap();
    stored.remove(0)
}

#[test]
fn wal_and_normal_sync_are_on() {
    let (_dir, store) = open();
    let conn = store.lock();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 1, "NORMAL");
}

#[test]
fn blocks_and_runs_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cattery.db");
    let run = {
        let store = Store::open(&path).unwrap();
        insert_run(&store)
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.blocks().unwrap(), vec![block()]);
    assert_eq!(store.run(&run.id).unwrap(), Some(run.clone()));
    assert_eq!(store.live_runs().unwrap().len(), 1);
    assert_eq!(run.rev, 1);
}

#[test]
fn a_write_against_an_old_rev_is_refused_and_changes_nothing() {
    let (_dir, store) = open();
    let run = insert_run(&store);
    let mut changed = run.clone();
    changed.status = RunStatus::Blocked;
    let ok = RunWrite::update(changed.clone(), 1);
    let stored = store
        .commit(Commit {
            runs: vec![ok],
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(stored[0].rev, 2);
    let mut stale = run.clone();
    stale.status = RunStatus::Failed;
    let block_write = BlockWrite {
        estimate: None,
        pull_request: None,
        id: "b_1".into(),
        status: BlockStatus::Done,
        progress: 1.0,
        run_id: None,
        at: 9,
    };
    let err = store
        .commit(Commit {
            runs: vec![RunWrite::update(stale, 1)],
            block: Some(block_write),
            audit: None,
            claim: None,
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(
        store.run(&run.id).unwrap().unwrap().status,
        RunStatus::Blocked
    );
    // The block write in the same transaction was rolled back too.
    assert_eq!(
        store.block("b_1").unwrap().unwrap().status,
        BlockStatus::Planned
    );
}

#[test]
fn the_audit_log_is_append_only() {
    let (_dir, store) = open();
    let run = insert_run(&store);
    let entry = NewAudit {
        at: 7,
        actor: "ana".into(),
        run_id: run.id.clone(),
        gate_id: "g_1".into(),
        gate_kind: GateKind::Approval,
        choice: "approve".into(),
        text: None,
    };
    store
        .commit(Commit {
            audit: Some(entry),
            ..Commit::default()
        })
        .unwrap();
    let log = store.audit_log().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].gate_kind, GateKind::Approval);
    let conn = store.lock();
    let err = conn.execute("DELETE FROM audit", []).unwrap_err();
    assert!(err.to_string().contains("append-only"));
    let err = conn
        .execute("UPDATE audit SET actor = 'eve'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
}

#[test]
fn a_newer_schema_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cattery.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap();
    let message = err.to_string();
    assert!(message.contains("schema version 99"), "{message}");
    assert!(message.contains("upgrade cattery"), "{message}");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cattery.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let message = Store::open(&path).err().unwrap().to_string();
    assert!(message.contains("move it aside"), "{message}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        vec![b'x'; 4096],
        "left intact"
    );
}

#[test]
fn a_block_with_an_unknown_parent_is_refused() {
    let (_dir, store) = open();
    let mut orphan = block();
    orphan.parent_id = Some("b_missing".into());
    let err = store.insert_block(&orphan).unwrap_err();
    assert!(err.to_string().contains("b_missing"));
}

#[test]
fn a_schema_1_database_moves_its_steps_into_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cattery.db");
    let ids = SeqIds::default();
    let cx = Cx {
        now: 5,
        ids: &ids,
        actor: "ana",
    };
    let mut run = start(&block(), &quick(), None, &cx).run.run;
    run.rev = 1;
    run.steps[0].output = Some("kept".into());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(super::migrate::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO blocks (id, level, title, description, status, progress, created_at, updated_at) VALUES ('b_1', 'task', 't', '', 'planned', 0, 0, 0)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO runs (id, block_id, status, rev, doc, created_at, updated_at) VALUES (?1, 'b_1', 'running', 1, ?2, 5, 5)",
            (&run.id, serde_json::to_string(&run).unwrap()),
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.run(&run.id).unwrap(), Some(run.clone()));
    assert_eq!(store.live_runs().unwrap(), vec![run]);
}

#[test]
fn steps_stored_before_roles_get_the_role_their_kind_implied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cattery.db");
    let store = Store::open(&path).unwrap();
    let run = insert_run(&store);
    drop(store);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "UPDATE run_steps SET doc = json_remove(doc, '$.role');
             UPDATE run_steps SET doc = json_set(doc, '$.agent_kind', 'ci-lint') WHERE idx = 1;
             DROP INDEX blocks_import_key;
             ALTER TABLE blocks DROP COLUMN import_key;
             DROP TABLE disk_probe;
             ALTER TABLE blocks DROP COLUMN repository;
             ALTER TABLE blocks DROP COLUMN estimate;
             DROP TABLE schedules;
             DROP TABLE schedule_fires;
             DROP INDEX runs_one_live_per_block;",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 5).unwrap();
    }
    let store = Store::open(&path).unwrap();
    let roles: Vec<_> = store
        .run(&run.id)
        .unwrap()
        .unwrap()
        .steps
        .iter()
        .map(|s| s.role)
        .collect();
    use cattery_protocol::AgentRole as R;
    assert_eq!(roles, [R::Producer, R::GateHelper, R::Grader, R::Merger]);
}

#[test]
fn a_write_of_changed_steps_reads_back_as_the_whole_run() {
    let (_dir, store) = open();
    let run = insert_run(&store);
    let mut next = run.clone();
    next.steps[2].output = Some("changed".into());
    let write = RunWrite::insert(next.clone()).over(std::sync::Arc::new(run.clone()));
    store
        .commit(Commit {
            runs: vec![write],
            ..Commit::default()
        })
        .unwrap();
    let stored = store.run(&run.id).unwrap().unwrap();
    assert_eq!(stored.steps, next.steps);
    assert_eq!(stored.rev, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_in_a_group_commit_fails_alone() {
    let (_dir, store) = open();
    let store = std::sync::Arc::new(store);
    let run = insert_run(&store);
    let mut good = run.clone();
    good.status = RunStatus::Blocked;
    let mut stale = run.clone();
    stale.status = RunStatus::Failed;
    let entry = NewAudit {
        at: 1,
        actor: "ana".into(),
        run_id: run.id.clone(),
        gate_id: "g_9".into(),
        gate_kind: GateKind::Decision,
        choice: "option:a".into(),
        text: None,
    };
    let submit = |write, audit| {
        let store = store.clone();
        tokio::spawn(async move {
            let commit = Commit {
                runs: vec![write],
                block: None,
                audit,
                claim: None,
            };
            store.submit(commit).await
        })
    };
    let first = submit(RunWrite::update(good, 1), Some(entry.clone()));
    let second = submit(RunWrite::update(stale, 1), Some(entry));
    let results = [first.await.unwrap(), second.await.unwrap()];
    let (ok, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!((ok.len(), refused.len()), (1, 1));
    assert!(matches!(refused[0], Err(StoreError::Conflict { .. })));
    let stored = store.run(&run.id).unwrap().unwrap();
    assert_eq!(stored.rev, 2);
    assert_eq!(
        store.audit_log().unwrap().len(),
        1,
        "the refused write's audit entry rolled back"
    );
}

mod cards {
    use super::*;
    use crate::store::{CardChange, CardOp, NewCard};
    use cattery_protocol::{NotificationStatus, NotificationType, Severity};

    fn raise(store: &Store, card: NewCard, now: i64) -> CardChange {
        store
            .apply_cards(&[CardOp::Raise(card)], now)
            .unwrap()
            .remove(0)
    }

    fn card(id: &str, kind: NotificationType, title: &str) -> NewCard {
        NewCard {
            id: id.into(),
            kind,
            block_id: block().id,
            run_id: Some("r_1".into()),
            title: title.into(),
            body: "b".into(),
            payload: serde_json::json!({"gate_id": "g_1"}),
        }
    }

    #[test]
    fn raising_again_updates_the_open_card_and_keeps_severity_and_created_at() {
        let (_dir, store) = open();
        store.insert_block(&block()).unwrap();
        let kind = NotificationType::DecisionRequired;
        let CardChange::New(first) = raise(&store, card("n_1", kind, "first"), 100) else {
            panic!("not new");
        };
        store.escalate(100, 150).unwrap();
        let CardChange::Updated(again) = raise(&store, card("n_2", kind, "second"), 200) else {
            panic!("a second open card of the same kind was made");
        };
        assert_eq!(again.id, first.id);
        assert_eq!(again.title, "second");
        assert_eq!(again.created_at, 100);
        assert_eq!(
            again.severity,
            Severity::Urgent,
            "escalation survives a re-raise"
        );
        let other = raise(
            &store,
            card("n_3", NotificationType::PipelineComplete, "done"),
            300,
        );
        assert!(
            matches!(other, CardChange::New(_)),
            "another kind is another card"
        );
        assert_eq!(store.notifications(false).unwrap().len(), 2);
    }

    #[test]
    fn a_closed_card_cannot_be_acted_on_again_and_a_new_one_can_open() {
        let (_dir, store) = open();
        store.insert_block(&block()).unwrap();
        let kind = NotificationType::DecisionRequired;
        raise(&store, card("n_1", kind, "t"), 100);
        let acted = store
            .resolve_card("n_1", NotificationStatus::Acted, 110)
            .unwrap();
        assert_eq!(acted.status, NotificationStatus::Acted);
        assert_eq!(acted.resolved_at, Some(110));
        let again = store
            .resolve_card("n_1", NotificationStatus::Dismissed, 120)
            .unwrap_err();
        assert!(again.to_string().contains("already acted"), "{again}");
        assert!(matches!(
            store
                .resolve_card("n_9", NotificationStatus::Acted, 1)
                .unwrap_err(),
            StoreError::NotFound { .. }
        ));
        let fresh = raise(&store, card("n_2", kind, "t"), 130);
        assert!(matches!(fresh, CardChange::New(c) if c.id == "n_2" && c.created_at == 130));
        assert_eq!(store.notifications(true).unwrap().len(), 2);
    }

    #[test]
    fn close_open_closes_only_the_named_kinds() {
        let (_dir, store) = open();
        store.insert_block(&block()).unwrap();
        raise(
            &store,
            card("n_1", NotificationType::DecisionRequired, "t"),
            1,
        );
        raise(
            &store,
            card("n_2", NotificationType::PipelineComplete, "t"),
            1,
        );
        let close = CardOp::Close {
            block_id: block().id,
            kinds: vec![
                NotificationType::DecisionRequired,
                NotificationType::BudgetPaused,
            ],
        };
        let closed = store.apply_cards(&[close], 5).unwrap();
        assert!(
            matches!(closed.as_slice(), [CardChange::Closed(c)] if c.status == NotificationStatus::Acted)
        );
        let open: Vec<_> = store.notifications(false).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].kind, NotificationType::PipelineComplete);
    }

    #[test]
    fn escalation_takes_open_normal_cards_at_or_before_the_cutoff() {
        let (_dir, store) = open();
        store.insert_block(&block()).unwrap();
        raise(
            &store,
            card("n_1", NotificationType::DecisionRequired, "t"),
            1_000,
        );
        raise(
            &store,
            card("n_2", NotificationType::PipelineComplete, "t"),
            2_000,
        );
        assert!(store.escalate(999, 5_000).unwrap().is_empty());
        let first = store.escalate(1_000, 5_000).unwrap();
        assert_eq!(
            first.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["n_1"]
        );
        assert!(
            store.escalate(1_000, 6_000).unwrap().is_empty(),
            "urgent stays urgent, once"
        );
    }
}

mod ledger {
    use super::*;
    use crate::store::SpendRow;

    fn row(job: &str, call_no: u64, month: &str, cost: f64) -> SpendRow {
        SpendRow {
            job_id: job.into(),
            call_no,
            at: 1,
            month: month.into(),
            run_id: "r_1".into(),
            step_index: 0,
            model: "m".into(),
            cost,
            currency: "EUR".into(),
        }
    }

    #[test]
    fn a_replayed_call_is_not_counted_twice_and_months_are_apart() {
        let (_dir, store) = open();
        assert!(store.record_spend(&row("j_1", 0, "2026-11", 1.5)).unwrap());
        assert!(store.record_spend(&row("j_1", 1, "2026-11", 2.0)).unwrap());
        assert!(
            !store.record_spend(&row("j_1", 0, "2026-11", 1.5)).unwrap(),
            "replayed"
        );
        assert!(store.record_spend(&row("j_2", 0, "2026-10", 9.0)).unwrap());
        assert_eq!(store.spent_in("2026-11").unwrap(), 3.5);
        assert_eq!(store.spent_in("2026-12").unwrap(), 0.0);
    }
}

/// A run like `run` under a new id, not yet stored.
fn another_run(run: &cattery_protocol::Run, id: &str) -> cattery_protocol::Run {
    let mut next = run.clone();
    next.id = id.to_owned();
    next.rev = 0;
    next
}

#[test]
fn a_second_live_run_on_a_block_is_refused_naming_the_run_that_holds_it() {
    let (_dir, store) = open();
    let first = insert_run(&store);
    let refused = store
        .commit(Commit {
            runs: vec![RunWrite::insert(another_run(&first, "r_second"))],
            ..Commit::default()
        })
        .unwrap_err();
    match &refused {
        StoreError::LiveRun { block_id, holder } => {
            assert_eq!(
                (block_id.as_str(), holder.as_str()),
                ("b_1", first.id.as_str())
            );
        }
        other => panic!("expected LiveRun, got {other}"),
    }
    assert!(
        refused.to_string().contains("stop or cancel it"),
        "{refused}"
    );
    assert!(
        store.run("r_second").unwrap().is_none(),
        "nothing of the refused run is stored"
    );
}

#[test]
fn a_start_superseding_the_live_run_in_the_same_commit_fits_the_one_live_run_rule() {
    let (_dir, store) = open();
    let first = insert_run(&store);
    let mut ended = first.clone();
    ended.status = RunStatus::Failed;
    // The new run comes first, as the service plans a start.
    let stored = store
        .commit(Commit {
            runs: vec![
                RunWrite::insert(another_run(&first, "r_next")),
                RunWrite::update(ended, first.rev),
            ],
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(stored[0].id, "r_next", "runs come back in the order given");
    assert_eq!(stored[1].status, RunStatus::Failed);
}

#[test]
fn the_one_live_run_index_names_exactly_the_live_statuses() {
    let (_dir, store) = open();
    let sql: String = store
        .lock()
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'runs_one_live_per_block'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    for status in RunStatus::ALL {
        let named = sql.contains(&format!("'{status}'"));
        assert_eq!(named, status.is_live(), "{status} in {sql}");
    }
}

#[test]
fn upgrading_a_block_with_two_live_runs_keeps_its_current_one_and_ends_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cattery.db");
    let store = Store::open(&path).unwrap();
    let first = insert_run(&store);
    drop(store);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP INDEX runs_one_live_per_block;")
            .unwrap();
        conn.execute(
            "INSERT INTO runs (id, block_id, status, rev, doc, created_at, updated_at) SELECT 'r_current', block_id, status, rev, json_set(doc, '$.id', 'r_current'), created_at + 1, updated_at FROM runs WHERE id = ?1",
            [&first.id],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO run_steps (run_id, idx, doc) SELECT 'r_current', idx, doc FROM run_steps WHERE run_id = (SELECT id FROM runs WHERE id != 'r_current');
             UPDATE blocks SET run_id = 'r_current';",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 11).unwrap();
    }
    let store = Store::open(&path).unwrap();
    let live: Vec<String> = store
        .live_runs()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(live, ["r_current"]);
    let ended = store.run(&first.id).unwrap().unwrap();
    assert_eq!(ended.status, RunStatus::Failed);
    let failure = ended.failure.unwrap();
    assert_eq!(
        failure.cancellation,
        Some(cattery_protocol::Cancellation::Superseded)
    );
}

#[test]
fn a_frame_claim_counts_the_frames_live_runs_in_the_commit_that_adds_one() {
    use cattery_protocol::BlockLevel;
    let (_dir, store) = open();
    let frame = cattery_protocol::Block {
        id: "b_frame".into(),
        level: BlockLevel::Frame,
        ..block()
    };
    store.insert_block(&frame).unwrap();
    let first = insert_run(&store);
    store
        .lock()
        .execute(
            "UPDATE blocks SET parent_id = 'b_frame' WHERE id = 'b_1'",
            [],
        )
        .unwrap();
    let sibling = cattery_protocol::Block {
        id: "b_2".into(),
        parent_id: Some("b_frame".into()),
        ..block()
    };
    store.insert_block(&sibling).unwrap();
    let mut second = another_run(&first, "r_sibling");
    second.block_id = "b_2".into();
    let claim = |limit| FrameClaim {
        frame_id: "b_frame".into(),
        block_id: "b_2".into(),
        limit: Some(limit),
        per_pipeline: None,
    };
    let refused = store
        .commit(Commit {
            runs: vec![RunWrite::insert(second.clone())],
            claim: Some(claim(1)),
            ..Commit::default()
        })
        .unwrap_err();
    match refused {
        StoreError::FrameFull { holders, limit, .. } => {
            assert_eq!((holders, limit), (vec![first.id.clone()], 1));
        }
        other => panic!("expected FrameFull, got {other}"),
    }
    assert!(store.run("r_sibling").unwrap().is_none());
    store
        .commit(Commit {
            runs: vec![RunWrite::insert(second)],
            claim: Some(claim(2)),
            ..Commit::default()
        })
        .unwrap();
}
