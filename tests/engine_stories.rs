//! The engine's acceptance stories (the tutorial, the blog, deletes) and the known
//! failure modes of older sync clients, against MemoryRemote, on every store.

mod common;

use std::sync::Arc;

use common::{Person, TODO, TodoItem, jane, server_edit, todo};
use tablesync::conflict::{
    Conflict, ConflictHandler, ConflictKind, ConflictPolicy, Decision, Proceed,
};
use tablesync::engine::{PendingOp, PushStatus, SyncContext, SyncError, SyncEvent, SyncOptions};
use tablesync::store::{Filter, OpKind, Operation, Query, Store, StoreError};
use tablesync::transport::{Fault, MemoryRemote, TransportError};
use tablesync::{Record, Syncable, Value};

on_every_store!(
    tutorial_conflict_keep_local_pushes_the_local_value,
    tutorial_conflict_keep_remote_takes_the_server_copy,
    tutorial_conflict_abort_push_keeps_the_queue_and_a_later_push_succeeds,
    tutorial_conflict_use_value_pushes_the_merged_value,
    blog_two_devices_conflict_then_converge,
    blog_field_merge_merges_disjoint_changes_without_asking,
    field_merge_clash_falls_back_to_manual,
    server_wins_and_client_wins_policies,
    last_writer_wins_takes_the_newer_side,
    local_update_vs_server_delete_is_a_conflict_with_remote_none,
    local_delete_vs_server_update_is_a_conflict_with_local_none,
    pulled_change_on_an_item_edited_during_the_pull_is_a_pull_conflict,
    edit_while_push_in_flight_survives_with_its_queue_entry,
    cancelled_and_edited_anew_while_in_flight_keeps_the_new_edit,
    lost_insert_response_resend_is_a_success_when_server_copy_matches,
    lost_insert_response_resend_is_a_conflict_when_server_copy_differs,
    lost_delete_response_resend_answered_404_is_a_success,
    lost_update_response_resend_answered_412_with_our_data_is_a_success,
    network_error_stops_push_and_keeps_everything,
    auth_error_stops_push_and_keeps_everything,
    rejected_operation_keeps_its_error_and_does_not_block_the_queue,
    failed_operation_cancel_and_discard_restores_the_synced_copy,
    failed_operation_fix_and_retry_clears_the_error,
    parallel_push_keeps_at_most_max_in_flight,
    items_in_conflict_are_not_pushed_until_resolved,
    pull_pages_through_rows_sharing_one_timestamp_without_loss_or_repeat,
    pull_is_incremental_and_applies_deletes,
    pull_requests_each_page_once_and_reports_them_in_order,
    a_page_requested_before_another_pull_moved_the_watermark_is_not_stored,
    a_page_not_stored_ends_the_pull_and_the_next_pull_resumes_after_the_last_stored,
    purge_refuses_pending_operations_unless_forced,
    events_report_push_progress_and_conflicts,
    insert_assigns_a_uuid_and_refuses_duplicates,
    handler_sees_every_operation_and_can_abort_before_one,
    answer_not_stored_fails_the_push_and_the_resend_is_a_success,
    a_page_saying_more_follow_without_a_position_ends_the_pull,
    a_server_always_saying_more_follow_ends_the_pull_at_the_bound_keeping_what_was_stored,
    a_pull_filter_on_an_unknown_column_is_the_local_querys_error_and_sends_nothing,
    a_value_the_wire_cannot_carry_exactly_is_refused_at_write_naming_its_field,
    saving_an_unchanged_item_queues_nothing_and_a_server_change_is_no_conflict,
    saving_an_unchanged_item_leaves_its_queued_operation_as_it_is,
    pending_lists_each_queued_change_with_its_kind_attempts_error_and_conflict,
    a_local_field_is_stored_never_sent_and_survives_pulls_and_conflicts,
    a_field_merge_keeps_local_fields_and_never_clashes_on_them,
    a_live_query_shows_each_pulled_page_while_the_pull_goes_on,
);

type Ctx<S> = SyncContext<S, tablesync::transport::MemoryTransport>;

fn device<S: Store>(make: &impl Fn() -> S, server: &MemoryRemote) -> Ctx<S> {
    SyncContext::new(make(), server.transport())
}

/// Puts `n` items (`item 000`, `item 001`, …) on the server, pushed by a device of
/// their own.
async fn push_items<S: Store>(make: &impl Fn() -> S, server: &MemoryRemote, n: usize) {
    let writer = device(make, server);
    let w = writer.table::<TodoItem>().await.unwrap();
    for i in 0..n {
        w.insert(todo(&format!("item {i:03}"))).await.unwrap();
    }
    writer.push().await.unwrap();
}

/// The default options, with pages of `page_size` rows.
fn paged(page_size: u32) -> SyncOptions {
    SyncOptions {
        page_size,
        ..SyncOptions::default()
    }
}

/// Device A has a synced todo, the server copy is marked complete behind A's back,
/// and A edits the same item offline and pushes: the push reports the conflict.
async fn tutorial_setup<S: Store>(make: impl Fn() -> S) -> (MemoryRemote, Ctx<S>, TodoItem) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("Buy milk")).await.unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
    server_edit(&server, TODO, &item.id, &[("complete", Value::Bool(true))]);
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "Buy oat milk".into();
    todos.update(mine).await.unwrap();
    let report = a.push().await.unwrap();
    assert_eq!(
        (report.status.clone(), report.conflicts, report.pushed),
        (PushStatus::Complete, 1, 0)
    );
    let conflicts = todos.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    assert_eq!(c.kind, ConflictKind::Push);
    let (local, remote, base) = (
        c.local.clone().unwrap(),
        c.remote.clone().unwrap(),
        c.base.clone().unwrap(),
    );
    assert_eq!(
        (local.text.as_str(), local.complete),
        ("Buy oat milk", false)
    );
    assert_eq!((remote.text.as_str(), remote.complete), ("Buy milk", true));
    assert_eq!((base.text.as_str(), base.complete), ("Buy milk", false));
    assert_eq!(c.differing_fields(), ["text", "complete"]);
    assert_eq!(a.pending_count().await.unwrap(), 1, "the op stays queued");
    (server, a, item)
}

fn server_item(server: &MemoryRemote, id: &str) -> TodoItem {
    TodoItem::from_record(server.get(TODO, id).expect("on the server")).unwrap()
}

async fn tutorial_conflict_keep_local_pushes_the_local_value<S: Store>(make: impl Fn() -> S) {
    let (server, a, item) = tutorial_setup(make).await;
    let todos = a.table::<TodoItem>().await.unwrap();
    todos.keep_local(&item.id).await.unwrap();
    assert!(todos.conflicts().await.unwrap().is_empty());
    let r = a.push().await.unwrap();
    assert_eq!(
        (r.status, r.pushed, r.conflicts),
        (PushStatus::Complete, 1, 0)
    );
    let on_server = server_item(&server, &item.id);
    assert_eq!(
        (on_server.text.as_str(), on_server.complete),
        ("Buy oat milk", false)
    );
    assert_eq!(
        todos.get(&item.id).await.unwrap().unwrap(),
        on_server,
        "converged, same version"
    );
    assert_eq!(a.pending_count().await.unwrap(), 0);
}

async fn tutorial_conflict_keep_remote_takes_the_server_copy<S: Store>(make: impl Fn() -> S) {
    let (server, a, item) = tutorial_setup(make).await;
    let todos = a.table::<TodoItem>().await.unwrap();
    let writes = server.applied().len();
    todos.keep_remote(&item.id).await.unwrap();
    assert_eq!(a.pending_count().await.unwrap(), 0);
    let local = todos.get(&item.id).await.unwrap().unwrap();
    assert_eq!(local, server_item(&server, &item.id));
    assert_eq!((local.text.as_str(), local.complete), ("Buy milk", true));
    let r = a.push().await.unwrap();
    assert_eq!((r.status, r.total), (PushStatus::Complete, 0));
    assert_eq!(server.applied().len(), writes, "nothing sent");
}

struct Abort;
impl<T> ConflictHandler<T> for Abort {
    fn on_conflict(&self, _: &Conflict<T>) -> Decision<T> {
        Decision::AbortPush
    }
}

async fn tutorial_conflict_abort_push_keeps_the_queue_and_a_later_push_succeeds<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    // One at a time, so that the abort happens before the second op is sent.
    let options = SyncOptions {
        max_in_flight: 1,
        ..SyncOptions::default()
    };
    let a = SyncContext::with_options(make(), server.transport(), options);
    let todos = a
        .table_with_policy::<TodoItem>(ConflictPolicy::Handler(Arc::new(Abort)))
        .await
        .unwrap();
    let item = todos.insert(todo("Buy milk")).await.unwrap();
    let other = todos.insert(todo("Walk dog")).await.unwrap();
    a.push().await.unwrap();
    server_edit(&server, TODO, &item.id, &[("complete", Value::Bool(true))]);
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "Buy oat milk".into();
    todos.update(mine.clone()).await.unwrap();
    let mut second = todos.get(&other.id).await.unwrap().unwrap();
    second.text = "Walk the dog".into();
    todos.update(second).await.unwrap();
    let r = a.push().await.unwrap();
    assert_eq!(r.status, PushStatus::Aborted);
    assert_eq!(
        a.pending_count().await.unwrap(),
        2,
        "every queued op is kept"
    );
    assert!(
        todos.conflicts().await.unwrap().is_empty(),
        "an abort stores no conflict"
    );
    assert_eq!(
        todos.get(&item.id).await.unwrap().unwrap().text,
        "Buy oat milk"
    );
    assert_eq!(
        server_item(&server, &other.id).text,
        "Walk dog",
        "not sent after the abort"
    );
    // With the manual policy, the next push stores the conflict and sends the rest.
    let todos = a.table::<TodoItem>().await.unwrap();
    let r = a.push().await.unwrap();
    assert_eq!(
        (r.status, r.conflicts, r.pushed),
        (PushStatus::Complete, 1, 1)
    );
    todos.keep_local(&item.id).await.unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
    assert_eq!(server_item(&server, &item.id).text, "Buy oat milk");
}

async fn tutorial_conflict_use_value_pushes_the_merged_value<S: Store>(make: impl Fn() -> S) {
    let (server, a, item) = tutorial_setup(make).await;
    let todos = a.table::<TodoItem>().await.unwrap();
    let c = todos.conflicts().await.unwrap().remove(0);
    let merged = c.merge().expect("all three sides");
    assert!(merged.is_clean(), "text changed locally, complete remotely");
    todos.use_value(merged.value).await.unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
    let s = server_item(&server, &item.id);
    assert_eq!((s.text.as_str(), s.complete), ("Buy oat milk", true));
    assert_eq!(todos.get(&item.id).await.unwrap().unwrap(), s);
}

async fn blog_two_devices_conflict_then_converge<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let (a, b) = (device(&make, &server), device(&make, &server));
    let (pa, pb) = (
        a.table::<Person>().await.unwrap(),
        b.table::<Person>().await.unwrap(),
    );
    pa.insert(jane()).await.unwrap();
    a.push().await.unwrap();
    assert_eq!(pb.pull("all", None).await.unwrap().received, 1);
    let mut on_a = pa.get("jane").await.unwrap().unwrap();
    on_a.age = 32;
    pa.update(on_a).await.unwrap();
    a.push().await.unwrap();
    let mut on_b = pb.get("jane").await.unwrap().unwrap();
    on_b.age = 30;
    pb.update(on_b).await.unwrap();
    // B syncs: its pull pushes first, and gets the conflict instead of losing a value.
    let report = pb.pull("all", None).await.unwrap();
    assert_eq!(report.push.as_ref().map(|p| p.conflicts), Some(1));
    assert_eq!(
        report.conflicts, 1,
        "the pull's count includes its push's conflicts"
    );
    let c = pb.conflicts().await.unwrap().remove(0);
    assert_eq!(
        (
            c.local.as_ref().unwrap().age,
            c.remote.as_ref().unwrap().age
        ),
        (30, 32)
    );
    assert_eq!(c.base.as_ref().unwrap().age, 25);
    pb.keep_local("jane").await.unwrap();
    assert_eq!(b.push().await.unwrap().pushed, 1);
    pa.pull("all", None).await.unwrap();
    pb.pull("all", None).await.unwrap();
    let (fa, fb) = (
        pa.get("jane").await.unwrap().unwrap(),
        pb.get("jane").await.unwrap().unwrap(),
    );
    assert_eq!(fa, fb);
    assert_eq!(fa.age, 30);
    assert_eq!(
        Person::from_record(server.get("Person", "jane").unwrap()).unwrap(),
        fa
    );
}

async fn blog_field_merge_merges_disjoint_changes_without_asking<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let (a, b) = (device(&make, &server), device(&make, &server));
    let pa = a
        .table_with_policy::<Person>(ConflictPolicy::FieldMerge)
        .await
        .unwrap();
    let pb = b
        .table_with_policy::<Person>(ConflictPolicy::FieldMerge)
        .await
        .unwrap();
    pa.insert(jane()).await.unwrap();
    a.push().await.unwrap();
    pb.pull("all", None).await.unwrap();
    let mut on_a = pa.get("jane").await.unwrap().unwrap();
    on_a.name = "Janet".into();
    pa.update(on_a).await.unwrap();
    let mut on_b = pb.get("jane").await.unwrap().unwrap();
    on_b.age = 30;
    pb.update(on_b).await.unwrap();
    a.push().await.unwrap();
    let r = b.push().await.unwrap();
    assert_eq!((r.resolved, r.conflicts), (1, 0), "merged without asking");
    pa.pull("all", None).await.unwrap();
    let (fa, fb) = (
        pa.get("jane").await.unwrap().unwrap(),
        pb.get("jane").await.unwrap().unwrap(),
    );
    assert_eq!((fa.name.as_str(), fa.age), ("Janet", 30));
    assert_eq!(fa, fb);
}

async fn field_merge_clash_falls_back_to_manual<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let pa = a
        .table_with_policy::<Person>(ConflictPolicy::FieldMerge)
        .await
        .unwrap();
    pa.insert(jane()).await.unwrap();
    a.push().await.unwrap();
    server_edit(&server, "Person", "jane", &[("age", Value::Integer(40))]);
    let mut mine = pa.get("jane").await.unwrap().unwrap();
    mine.age = 30;
    pa.update(mine).await.unwrap();
    let r = a.push().await.unwrap();
    assert_eq!((r.resolved, r.conflicts), (0, 1));
    let c = pa.conflicts().await.unwrap().remove(0);
    assert_eq!(c.merge().unwrap().clashes, ["age"]);
}

async fn server_wins_and_client_wins_policies<S: Store>(make: impl Fn() -> S) {
    for (policy, expected_age) in [
        (ConflictPolicy::ServerWins, 40),
        (ConflictPolicy::ClientWins, 30),
    ] {
        let server = MemoryRemote::new();
        let a = device(&make, &server);
        let pa = a.table_with_policy::<Person>(policy.clone()).await.unwrap();
        pa.insert(jane()).await.unwrap();
        a.push().await.unwrap();
        server_edit(&server, "Person", "jane", &[("age", Value::Integer(40))]);
        let mut mine = pa.get("jane").await.unwrap().unwrap();
        mine.age = 30;
        pa.update(mine).await.unwrap();
        let r = a.push().await.unwrap();
        assert_eq!((r.resolved, r.conflicts), (1, 0), "{policy:?}");
        let local = pa.get("jane").await.unwrap().unwrap();
        let remote = Person::from_record(server.get("Person", "jane").unwrap()).unwrap();
        assert_eq!(
            (local.age, remote.age),
            (expected_age, expected_age),
            "{policy:?}"
        );
        assert_eq!(local, remote, "{policy:?}: converged");
        assert_eq!(a.pending_count().await.unwrap(), 0);
    }
}

async fn last_writer_wins_takes_the_newer_side<S: Store>(make: impl Fn() -> S) {
    // The server's write comes after the local edit: the server wins.
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let pa = a
        .table_with_policy::<Person>(ConflictPolicy::LastWriterWins)
        .await
        .unwrap();
    pa.insert(jane()).await.unwrap();
    a.push().await.unwrap();
    let mut mine = pa.get("jane").await.unwrap().unwrap();
    mine.age = 30;
    pa.update(mine).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    server_edit(&server, "Person", "jane", &[("age", Value::Integer(40))]);
    a.push().await.unwrap();
    assert_eq!(pa.get("jane").await.unwrap().unwrap().age, 40);
    // The local edit comes after the server's write: the local side wins.
    server_edit(&server, "Person", "jane", &[("age", Value::Integer(50))]);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut mine = pa.get("jane").await.unwrap().unwrap();
    mine.age = 31;
    pa.update(mine).await.unwrap();
    a.push().await.unwrap();
    let remote = Person::from_record(server.get("Person", "jane").unwrap()).unwrap();
    assert_eq!(
        (pa.get("jane").await.unwrap().unwrap().age, remote.age),
        (31, 31)
    );
}

async fn local_update_vs_server_delete_is_a_conflict_with_remote_none<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    a.push().await.unwrap();
    server.delete(TODO, &item.id).unwrap();
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.complete = true;
    todos.update(mine.clone()).await.unwrap();
    assert_eq!(a.push().await.unwrap().conflicts, 1);
    let c = todos.conflicts().await.unwrap().remove(0);
    assert_eq!(
        (c.local.as_ref().map(|t| t.complete), c.remote.is_none()),
        (Some(true), true)
    );
    assert!(c.involves_delete());
    // Keeping the local value under a deleted id is refused with a clear error...
    let err = todos.keep_local(&item.id).await.unwrap_err();
    assert!(err.to_string().contains("the server deleted it"), "{err}");
    // ...and nothing changed; taking the remote side deletes locally.
    assert_eq!(todos.conflicts().await.unwrap().len(), 1);
    todos.keep_remote(&item.id).await.unwrap();
    assert_eq!(todos.get(&item.id).await.unwrap(), None);
    assert_eq!(a.pending_count().await.unwrap(), 0);
}

async fn local_delete_vs_server_update_is_a_conflict_with_local_none<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    a.push().await.unwrap();
    server_edit(
        &server,
        TODO,
        &item.id,
        &[("text", Value::from("changed on server"))],
    );
    todos.delete(&item.id).await.unwrap();
    assert_eq!(a.push().await.unwrap().conflicts, 1);
    let c = todos.conflicts().await.unwrap().remove(0);
    assert!(c.local.is_none());
    assert_eq!(c.remote.as_ref().unwrap().text, "changed on server");
    // Keep the local delete: the next push deletes the server's current version.
    todos.keep_local(&item.id).await.unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
    assert!(server.get(TODO, &item.id).unwrap().is_deleted());
    assert_eq!(a.pending_count().await.unwrap(), 0);
}

async fn pulled_change_on_an_item_edited_during_the_pull_is_a_pull_conflict<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    a.push().await.unwrap();
    server_edit(&server, TODO, &item.id, &[("text", Value::from("server"))]);
    let (hold, reached, release) = Fault::hold();
    a.transport().push_fault(hold);
    let pulling = tokio::spawn({
        let todos = todos.clone();
        async move { todos.pull("all", None).await }
    });
    reached.notified().await; // the page request is in flight
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "local".into();
    todos.update(mine).await.unwrap();
    release.notify_one();
    let report = pulling.await.unwrap().unwrap();
    assert_eq!(report.conflicts, 1);
    let c = todos.conflicts().await.unwrap().remove(0);
    assert_eq!(c.kind, ConflictKind::Pull);
    assert_eq!(
        (
            c.local.unwrap().text.as_str(),
            c.remote.unwrap().text.as_str()
        ),
        ("local", "server")
    );
    assert_eq!(
        todos.get(&item.id).await.unwrap().unwrap().text,
        "local",
        "pull never overwrites a pending edit"
    );
}

async fn edit_while_push_in_flight_survives_with_its_queue_entry<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("first")).await.unwrap();
    let (hold, reached, release) = Fault::hold();
    a.transport().push_fault(hold);
    let pushing = tokio::spawn({
        let a = a.clone();
        async move { a.push().await }
    });
    reached.notified().await; // the insert is on its way
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "edited while in flight".into();
    todos.update(mine).await.unwrap();
    release.notify_one();
    assert_eq!(pushing.await.unwrap().unwrap().pushed, 1);
    // The edit survived, its queue entry too, now based on the server's new version.
    let local = todos.get(&item.id).await.unwrap().unwrap();
    assert_eq!(local.text, "edited while in flight");
    let server_copy = server.get(TODO, &item.id).unwrap();
    assert_eq!(local.version.as_deref(), server_copy.version());
    let ops = a.store().read(|tx| tx.ops(None)).unwrap();
    assert_eq!(
        (ops.len(), ops[0].kind, ops[0].version.as_deref()),
        (1, OpKind::Update, server_copy.version())
    );
    // The next push sends the edit without a false conflict.
    let r = a.push().await.unwrap();
    assert_eq!((r.pushed, r.conflicts), (1, 0));
    assert_eq!(
        server_item(&server, &item.id).text,
        "edited while in flight"
    );
}

/// An update on the wire is cancelled and the item edited again: the new queue entry
/// starts over at the same revision as the one in flight, so only its position tells
/// them apart. The answer to the old one must not finish the new one.
async fn cancelled_and_edited_anew_while_in_flight_keeps_the_new_edit<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("synced")).await.unwrap();
    a.push().await.unwrap();
    let mut first = todos.get(&item.id).await.unwrap().unwrap();
    first.text = "first edit".into();
    todos.update(first).await.unwrap();
    let (hold, reached, release) = Fault::hold();
    a.transport().push_fault(hold);
    let pushing = tokio::spawn({
        let a = a.clone();
        async move { a.push().await }
    });
    reached.notified().await; // the first edit is on its way
    todos.cancel_and_discard(&item.id).await.unwrap();
    let mut second = todos.get(&item.id).await.unwrap().unwrap();
    assert_eq!(second.text, "synced", "cancelling restored the synced copy");
    second.text = "second edit".into();
    todos.update(second).await.unwrap();
    release.notify_one();
    assert_eq!(pushing.await.unwrap().unwrap().pushed, 1);
    assert_eq!(server_item(&server, &item.id).text, "first edit");
    // The second edit and its queue entry are still there, based on the server's
    // new version.
    let local = todos.get(&item.id).await.unwrap().unwrap();
    assert_eq!(local.text, "second edit");
    let server_copy = server.get(TODO, &item.id).unwrap();
    assert_eq!(local.version.as_deref(), server_copy.version());
    assert_eq!(a.pending_count().await.unwrap(), 1);
    let r = a.push().await.unwrap();
    assert_eq!((r.pushed, r.conflicts), (1, 0));
    assert_eq!(server_item(&server, &item.id).text, "second edit");
    assert_eq!(a.pending_count().await.unwrap(), 0);
}

async fn lost_insert_response_resend_is_a_success_when_server_copy_matches<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    a.transport().push_fault(Fault::LoseResponse);
    let r = a.push().await.unwrap();
    assert!(matches!(r.status, PushStatus::NetworkError(_)));
    assert_eq!(a.pending_count().await.unwrap(), 1, "outcome unknown: kept");
    let r = a.push().await.unwrap();
    assert_eq!(
        (r.pushed, r.conflicts),
        (1, 0),
        "409 with our own data is a success"
    );
    assert_eq!(a.pending_count().await.unwrap(), 0);
    let inserts = server.applied().iter().filter(|w| w.id == item.id).count();
    assert_eq!(inserts, 1, "applied once");
    assert_eq!(
        todos.get(&item.id).await.unwrap().unwrap(),
        server_item(&server, &item.id)
    );
}

async fn lost_insert_response_resend_is_a_conflict_when_server_copy_differs<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    a.transport().push_fault(Fault::LoseResponse);
    a.push().await.unwrap();
    server_edit(
        &server,
        TODO,
        &item.id,
        &[("text", Value::from("someone else"))],
    );
    let r = a.push().await.unwrap();
    assert_eq!((r.pushed, r.conflicts), (0, 1));
    let c = todos.conflicts().await.unwrap().remove(0);
    assert_eq!(
        (
            c.local.unwrap().text.as_str(),
            c.remote.unwrap().text.as_str()
        ),
        ("x", "someone else")
    );
}

async fn lost_delete_response_resend_answered_404_is_a_success<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    a.push().await.unwrap();
    todos.delete(&item.id).await.unwrap();
    a.transport().push_fault(Fault::LoseResponse);
    assert!(matches!(
        a.push().await.unwrap().status,
        PushStatus::NetworkError(_)
    ));
    assert_eq!(a.pending_count().await.unwrap(), 1);
    let r = a.push().await.unwrap();
    assert_eq!((r.pushed, r.conflicts, r.failed.len()), (1, 0, 0));
    assert_eq!(a.pending_count().await.unwrap(), 0);
    let deletes = server
        .applied()
        .iter()
        .filter(|w| w.kind == OpKind::Delete)
        .count();
    assert_eq!(deletes, 1);
}

async fn lost_update_response_resend_answered_412_with_our_data_is_a_success<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    a.push().await.unwrap();
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "y".into();
    todos.update(mine).await.unwrap();
    a.transport().push_fault(Fault::LoseResponse);
    a.push().await.unwrap();
    let r = a.push().await.unwrap();
    assert_eq!((r.pushed, r.conflicts), (1, 0));
    let updates = server
        .applied()
        .iter()
        .filter(|w| w.kind == OpKind::Update)
        .count();
    assert_eq!(updates, 1, "not applied twice");
    assert_eq!(
        todos.get(&item.id).await.unwrap().unwrap(),
        server_item(&server, &item.id)
    );
}

async fn stops_push_and_keeps_everything<S: Store>(
    make: impl Fn() -> S,
    error: TransportError,
) -> PushStatus {
    let server = MemoryRemote::new();
    let a = SyncContext::with_options(
        make(),
        server.transport(),
        SyncOptions {
            max_in_flight: 1,
            ..SyncOptions::default()
        },
    );
    let todos = a.table::<TodoItem>().await.unwrap();
    for t in ["a", "b", "c"] {
        todos.insert(todo(t)).await.unwrap();
    }
    a.transport().fail_next(1, error);
    let r = a.push().await.unwrap();
    assert_eq!((r.pushed, r.failed.len()), (0, 0));
    assert_eq!(a.pending_count().await.unwrap(), 3);
    assert!(server.applied().is_empty(), "stopped at the first failure");
    assert_eq!(
        a.push().await.unwrap().pushed,
        3,
        "everything goes once the server answers"
    );
    r.status
}

async fn network_error_stops_push_and_keeps_everything<S: Store>(make: impl Fn() -> S) {
    let status = stops_push_and_keeps_everything(make, TransportError::network("reset")).await;
    assert!(matches!(status, PushStatus::NetworkError(m) if m.contains("reset")));
}

async fn auth_error_stops_push_and_keeps_everything<S: Store>(make: impl Fn() -> S) {
    let err = TransportError::Unauthorized {
        status: 401,
        message: "token expired".into(),
    };
    let status = stops_push_and_keeps_everything(make, err).await;
    assert!(matches!(status, PushStatus::AuthError(m) if m.contains("token expired")));
}

async fn rejected_setup<S: Store>(make: impl Fn() -> S) -> (MemoryRemote, Ctx<S>, TodoItem) {
    let server = MemoryRemote::new();
    let a = SyncContext::with_options(
        make(),
        server.transport(),
        SyncOptions {
            max_in_flight: 1,
            ..SyncOptions::default()
        },
    );
    let todos = a.table::<TodoItem>().await.unwrap();
    let synced = todos.insert(todo("synced")).await.unwrap();
    a.push().await.unwrap();
    let mut bad = todos.get(&synced.id).await.unwrap().unwrap();
    bad.text = "rejected text".into();
    todos.update(bad).await.unwrap();
    todos.insert(todo("after")).await.unwrap();
    a.transport().fail_next(
        1,
        TransportError::Server {
            status: 400,
            message: "text too long".into(),
        },
    );
    let r = a.push().await.unwrap();
    assert_eq!(r.status, PushStatus::Complete);
    assert_eq!(
        (r.pushed, r.failed.len()),
        (1, 1),
        "the rest of the queue went on"
    );
    assert_eq!(r.failed[0].error.status, Some(400));
    let failed = a.failed_operations().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].error.as_ref().unwrap().message,
        "server answered 400: text too long"
    );
    (server, a, synced)
}

async fn rejected_operation_keeps_its_error_and_does_not_block_the_queue<S: Store>(
    make: impl Fn() -> S,
) {
    let (_server, a, synced) = rejected_setup(make).await;
    let todos = a.table::<TodoItem>().await.unwrap();
    assert_eq!(
        todos.get(&synced.id).await.unwrap().unwrap().text,
        "rejected text",
        "the local value is kept"
    );
    // The app can take the server's value instead.
    let mut server_value = todos.get(&synced.id).await.unwrap().unwrap();
    server_value.text = "synced".into();
    todos.cancel_and_take(server_value).await.unwrap();
    assert_eq!(a.pending_count().await.unwrap(), 0);
    assert_eq!(todos.get(&synced.id).await.unwrap().unwrap().text, "synced");
}

async fn failed_operation_cancel_and_discard_restores_the_synced_copy<S: Store>(
    make: impl Fn() -> S,
) {
    let (server, a, synced) = rejected_setup(make).await;
    let todos = a.table::<TodoItem>().await.unwrap();
    todos.cancel_and_discard(&synced.id).await.unwrap();
    assert_eq!(a.pending_count().await.unwrap(), 0);
    assert_eq!(
        todos.get(&synced.id).await.unwrap().unwrap(),
        server_item(&server, &synced.id)
    );
}

async fn failed_operation_fix_and_retry_clears_the_error<S: Store>(make: impl Fn() -> S) {
    let (server, a, synced) = rejected_setup(make).await;
    let todos = a.table::<TodoItem>().await.unwrap();
    let mut fixed = todos.get(&synced.id).await.unwrap().unwrap();
    fixed.text = "short".into();
    todos.update(fixed).await.unwrap();
    assert!(
        a.failed_operations().await.unwrap().is_empty(),
        "editing clears the error"
    );
    assert_eq!(a.push().await.unwrap().pushed, 1);
    assert_eq!(server_item(&server, &synced.id).text, "short");
}

async fn parallel_push_keeps_at_most_max_in_flight<S: Store>(make: impl Fn() -> S) {
    for max in [1usize, 4] {
        let server = MemoryRemote::new();
        let a = SyncContext::with_options(
            make(),
            server.transport(),
            SyncOptions {
                max_in_flight: max,
                ..SyncOptions::default()
            },
        );
        let todos = a.table::<TodoItem>().await.unwrap();
        for i in 0..12 {
            todos.insert(todo(&format!("item {i}"))).await.unwrap();
        }
        for _ in 0..12 {
            a.transport()
                .push_fault(Fault::Delay(std::time::Duration::from_millis(20)));
        }
        let r = a.push().await.unwrap();
        assert_eq!(r.pushed, 12);
        assert_eq!(a.transport().peak_in_flight(), max, "max_in_flight {max}");
        assert_eq!(server.rows(TODO).len(), 12);
    }
}

async fn items_in_conflict_are_not_pushed_until_resolved<S: Store>(make: impl Fn() -> S) {
    let (server, a, item) = tutorial_setup(make).await;
    let todos = a.table::<TodoItem>().await.unwrap();
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "edited again".into();
    todos.update(mine).await.unwrap();
    let writes = server.applied().len();
    let r = a.push().await.unwrap();
    assert_eq!((r.total, r.held), (0, 1));
    assert_eq!(server.applied().len(), writes);
}

async fn pull_pages_through_rows_sharing_one_timestamp_without_loss_or_repeat<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    server.freeze_clock(Some("2026-11-21T12:00:00Z".parse().unwrap()));
    push_items(&make, &server, 250).await;
    let reader = SyncContext::with_options(make(), server.transport(), paged(100));
    let r = reader.table::<TodoItem>().await.unwrap();
    let report = r.pull("all", None).await.unwrap();
    assert_eq!((report.received, report.pages), (250, 3));
    assert_eq!(r.count(None).await.unwrap(), 250);
    assert_eq!(
        r.pull("all", None).await.unwrap().received,
        0,
        "nothing seen twice"
    );
}

async fn pull_is_incremental_and_applies_deletes<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let (a, b) = (device(&make, &server), device(&make, &server));
    let (ta, tb) = (
        a.table::<TodoItem>().await.unwrap(),
        b.table::<TodoItem>().await.unwrap(),
    );
    let x = ta.insert(todo("x")).await.unwrap();
    let y = ta.insert(todo("y")).await.unwrap();
    a.push().await.unwrap();
    assert_eq!(tb.pull("all", None).await.unwrap().received, 2);
    ta.delete(&x.id).await.unwrap();
    let mut yy = ta.get(&y.id).await.unwrap().unwrap();
    yy.complete = true;
    ta.update(yy).await.unwrap();
    a.push().await.unwrap();
    assert_eq!(
        tb.pull("all", None).await.unwrap().received,
        2,
        "only the changes"
    );
    assert_eq!(tb.get(&x.id).await.unwrap(), None, "the delete arrived");
    assert!(tb.get(&y.id).await.unwrap().unwrap().complete);
    // Another query id pulls from the start.
    assert_eq!(tb.pull("other", None).await.unwrap().received, 2);
}

/// The engine asks for the next page while it stores the current one: still one
/// request per page, none after the last, and the events of a page-by-page pull.
async fn pull_requests_each_page_once_and_reports_them_in_order<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    push_items(&make, &server, 7).await;
    let reader = SyncContext::with_options(make(), server.transport(), paged(2));
    let r = reader.table::<TodoItem>().await.unwrap();
    let mut events = reader.subscribe();
    let calls = reader.transport().calls();
    let report = r.pull("all", None).await.unwrap();
    assert_eq!((report.received, report.pages), (7, 4));
    assert_eq!(reader.transport().calls() - calls, 4, "one request a page");
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    // MemoryRemote does not count: no total.
    let progress = |received| SyncEvent::PullProgress {
        table: TODO.into(),
        received,
        total: None,
    };
    assert_eq!(
        seen,
        [
            progress(2),
            progress(4),
            progress(6),
            progress(7),
            SyncEvent::PullFinished {
                table: TODO.into(),
                received: 7
            }
        ]
    );
    assert_eq!(r.count(None).await.unwrap(), 7);
    assert_eq!(r.pull("all", None).await.unwrap().received, 0);
}

/// A page is stored only if the watermark is still the one it was requested after:
/// when another pull of the same query moved it meanwhile, the page is dropped and the
/// pull goes on from the stored watermark, never moving it back.
async fn a_page_requested_before_another_pull_moved_the_watermark_is_not_stored<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    push_items(&make, &server, 5).await;
    let reader = SyncContext::with_options(make(), server.transport(), paged(2));
    let r = reader.table::<TodoItem>().await.unwrap();
    let (hold, reached, release) = Fault::hold();
    reader.transport().push_fault(hold);
    let slow = tokio::spawn({
        let r = r.clone();
        async move { r.pull("all", None).await }
    });
    reached.notified().await; // its first page is requested from the start
    assert_eq!(r.pull("all", None).await.unwrap().received, 5);
    release.notify_one();
    let report = slow.await.unwrap().unwrap();
    assert_eq!(report.received, 0, "its stale page was dropped");
    assert_eq!(r.count(None).await.unwrap(), 5);
    assert_eq!(
        r.pull("all", None).await.unwrap().received,
        0,
        "the watermark did not move back"
    );
}

async fn purge_refuses_pending_operations_unless_forced<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    todos.insert(todo("x")).await.unwrap();
    let err = todos.purge(false).await.unwrap_err();
    assert!(err.to_string().contains("1 operation(s) pending"), "{err}");
    assert_eq!(todos.count(None).await.unwrap(), 1);
    a.push().await.unwrap();
    todos.insert(todo("y")).await.unwrap();
    assert_eq!(todos.purge(true).await.unwrap(), 2);
    assert_eq!(
        (
            todos.count(None).await.unwrap(),
            a.pending_count().await.unwrap()
        ),
        (0, 0)
    );
    // A purge forgets the watermark: the next pull starts over.
    assert_eq!(todos.pull("all", None).await.unwrap().received, 1);
}

async fn events_report_push_progress_and_conflicts<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let mut events = a.subscribe();
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    todos.insert(todo("y")).await.unwrap();
    a.push().await.unwrap();
    server_edit(&server, TODO, &item.id, &[("text", Value::from("s"))]);
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "l".into();
    todos.update(mine).await.unwrap();
    a.push().await.unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert_eq!(seen[0], SyncEvent::PushStarted { total: 2 });
    let progress: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            SyncEvent::PushProgress { done, total } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(progress, [(1, 2), (2, 2), (1, 1)]);
    assert!(seen.contains(&SyncEvent::ConflictFound {
        table: TODO.into(),
        id: item.id.clone(),
        kind: ConflictKind::Push
    }));
    assert_eq!(
        seen.last(),
        Some(&SyncEvent::PushFinished {
            status: PushStatus::Complete
        })
    );
}

async fn insert_assigns_a_uuid_and_refuses_duplicates<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("x")).await.unwrap();
    assert!(uuid::Uuid::parse_str(&item.id).is_ok(), "{}", item.id);
    let err = todos.insert(item.clone()).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(a.pending_count().await.unwrap(), 1);
    let missing = todos.update(todo("nope")).await.unwrap_err();
    assert!(missing.to_string().contains("no item"), "{missing}");
}

/// Stops the push before sending any item whose text says "stop".
struct StopAtStop(std::sync::Mutex<Vec<(OpKind, Option<String>)>>);
impl ConflictHandler<TodoItem> for StopAtStop {
    fn on_conflict(&self, _: &Conflict<TodoItem>) -> Decision<TodoItem> {
        Decision::Defer
    }
    fn before_send(&self, kind: OpKind, item: Option<&TodoItem>) -> Proceed {
        self.0
            .lock()
            .unwrap()
            .push((kind, item.map(|i| i.text.clone())));
        if item.is_some_and(|i| i.text == "stop") {
            Proceed::AbortPush
        } else {
            Proceed::Send
        }
    }
}

async fn handler_sees_every_operation_and_can_abort_before_one<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let options = SyncOptions {
        max_in_flight: 1,
        ..SyncOptions::default()
    };
    let a = SyncContext::with_options(make(), server.transport(), options);
    let handler = Arc::new(StopAtStop(Default::default()));
    let todos = a
        .table_with_policy::<TodoItem>(ConflictPolicy::Handler(handler.clone()))
        .await
        .unwrap();
    todos.insert(todo("first")).await.unwrap();
    let stop = todos.insert(todo("stop")).await.unwrap();
    todos.insert(todo("never sent")).await.unwrap();
    let r = a.push().await.unwrap();
    assert_eq!((r.status, r.pushed), (PushStatus::Aborted, 1));
    let seen = handler.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (OpKind::Insert, Some("first".into())),
            (OpKind::Insert, Some("stop".into()))
        ]
    );
    let ops = a.store().read(|tx| tx.ops(None)).unwrap();
    assert_eq!(ops.len(), 2, "the aborted op and the rest stay queued");
    assert!(
        ops.iter().all(|o| o.attempts == 0),
        "nothing counted as sent"
    );
    // Never sent, so deleting it simply cancels the insert.
    todos.delete(&stop.id).await.unwrap();
    assert_eq!(a.pending_count().await.unwrap(), 1);
}

/// A store whose `n`-th write transaction from when it is armed fails at its end,
/// rolling back everything in it (as a full disk would at COMMIT).
struct FailingCommit<S> {
    store: S,
    countdown: Arc<std::sync::atomic::AtomicUsize>,
}

impl<S: Store> Store for FailingCommit<S> {
    fn transaction<R, F>(&self, f: F) -> Result<R, tablesync::store::StoreError>
    where
        F: FnOnce(&mut dyn tablesync::store::StoreTx) -> Result<R, tablesync::store::StoreError>,
    {
        use std::sync::atomic::Ordering::SeqCst;
        let armed = self
            .countdown
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|n| n == 1);
        self.store.transaction(|tx| {
            let r = f(tx)?;
            if armed {
                return Err(tablesync::store::StoreError::Backend("disk full".into()));
            }
            Ok(r)
        })
    }

    fn read<R, F>(&self, f: F) -> Result<R, tablesync::store::StoreError>
    where
        F: FnOnce(&mut dyn tablesync::store::StoreTx) -> Result<R, tablesync::store::StoreError>,
    {
        self.store.read(f)
    }
}

/// The engine asks for the next page while it stores the current one; when storing
/// fails, the pull ends with that error (the request ahead is dropped), and the next
/// pull resumes after the last page stored, applying nothing twice.
async fn a_page_not_stored_ends_the_pull_and_the_next_pull_resumes_after_the_last_stored<
    S: Store,
>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    push_items(&make, &server, 5).await;
    let countdown = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store = FailingCommit {
        store: make(),
        countdown: Arc::clone(&countdown),
    };
    let reader = SyncContext::with_options(store, server.transport(), paged(2));
    let r = reader.table::<TodoItem>().await.unwrap();
    let mut events = reader.subscribe();
    // Write transaction 1 stores page 1; 2 would store page 2.
    countdown.store(2, std::sync::atomic::Ordering::SeqCst);
    let err = r.pull("all", None).await.unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert_eq!(
        seen,
        [SyncEvent::PullProgress {
            table: TODO.into(),
            received: 2,
            total: None,
        }],
        "page 1 reported, nothing after"
    );
    assert_eq!(r.count(None).await.unwrap(), 2);
    let report = r.pull("all", None).await.unwrap();
    assert_eq!(report.received, 3, "from the stored watermark on");
    assert_eq!(r.count(None).await.unwrap(), 5);
    assert_eq!(r.pull("all", None).await.unwrap().received, 0);
}

/// Push stores accepted answers in group commits after sending: if that commit fails,
/// the push fails, the operation stays queued, and the re-send the server already
/// applied is taken as a success, applied once.
async fn answer_not_stored_fails_the_push_and_the_resend_is_a_success<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let countdown = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store = FailingCommit {
        store: make(),
        countdown: Arc::clone(&countdown),
    };
    let a = SyncContext::new(store, server.transport());
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("Buy milk")).await.unwrap();
    // Write transaction 1 counts the attempt; 2 stores the server's answer.
    countdown.store(2, std::sync::atomic::Ordering::SeqCst);
    let err = a.push().await.unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(server.applied().len(), 1, "the server applied the insert");
    let ops = a.store().read(|tx| tx.ops(None)).unwrap();
    assert_eq!(
        (ops.len(), ops[0].attempts),
        (1, 1),
        "still queued, counted as sent"
    );
    assert_eq!(todos.get(&item.id).await.unwrap().unwrap().version, None);
    let r = a.push().await.unwrap();
    assert_eq!(
        (r.status, r.pushed, r.conflicts),
        (PushStatus::Complete, 1, 0)
    );
    assert_eq!(server.applied().len(), 1, "not applied twice");
    assert_eq!(a.pending_count().await.unwrap(), 0);
    let stored = todos.get(&item.id).await.unwrap().unwrap();
    assert!(stored.version.is_some(), "the server's version is learned");
}

/// A transport whose pages say more rows follow but give no position to continue
/// after (a third-party transport's bug): asked again from the same place, it would
/// answer the same page forever.
struct NoPosition(tablesync::transport::MemoryTransport);

impl tablesync::transport::Transport for NoPosition {
    async fn insert(
        &self,
        table: &str,
        item: tablesync::Record,
    ) -> Result<tablesync::Record, TransportError> {
        self.0.insert(table, item).await
    }
    async fn update(
        &self,
        table: &str,
        item: tablesync::Record,
        expected_version: Option<String>,
    ) -> Result<tablesync::Record, TransportError> {
        self.0.update(table, item, expected_version).await
    }
    async fn delete(
        &self,
        table: &str,
        id: &str,
        expected_version: Option<String>,
    ) -> Result<Option<tablesync::Record>, TransportError> {
        self.0.delete(table, id, expected_version).await
    }
    async fn get(
        &self,
        table: &str,
        id: &str,
    ) -> Result<Option<tablesync::Record>, TransportError> {
        self.0.get(table, id).await
    }
    async fn pull(
        &self,
        table: &str,
        request: tablesync::transport::PullRequest,
    ) -> Result<tablesync::transport::PullPage, TransportError> {
        let mut page = self.0.pull(table, request).await?;
        page.last = None;
        page.more = true;
        Ok(page)
    }
}

async fn a_page_saying_more_follow_without_a_position_ends_the_pull<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let writer = device(&make, &server);
    let todos = writer.table::<TodoItem>().await.unwrap();
    todos.insert(todo("x")).await.unwrap();
    writer.push().await.unwrap();
    let reader = SyncContext::new(make(), NoPosition(server.transport()));
    let pulled = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reader.table::<TodoItem>().await.unwrap().pull("all", None),
    )
    .await
    .expect("the pull ends");
    let e = pulled.unwrap_err();
    assert!(e.to_string().contains("no position"), "{e}");
}

/// A server that always says more rows follow: every page is `page_size` new rows,
/// each after the one before.
struct Endless {
    pages: std::sync::atomic::AtomicUsize,
}

impl tablesync::transport::Transport for Endless {
    async fn insert(
        &self,
        _: &str,
        item: tablesync::Record,
    ) -> Result<tablesync::Record, TransportError> {
        Ok(item)
    }
    async fn update(
        &self,
        _: &str,
        item: tablesync::Record,
        _: Option<String>,
    ) -> Result<tablesync::Record, TransportError> {
        Ok(item)
    }
    async fn delete(
        &self,
        _: &str,
        _: &str,
        _: Option<String>,
    ) -> Result<Option<tablesync::Record>, TransportError> {
        Ok(None)
    }
    async fn get(&self, _: &str, _: &str) -> Result<Option<tablesync::Record>, TransportError> {
        Ok(None)
    }
    async fn pull(
        &self,
        _: &str,
        request: tablesync::transport::PullRequest,
    ) -> Result<tablesync::transport::PullPage, TransportError> {
        self.pages
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let first = request.after.map_or(0, |w| {
            w.id[1..].parse::<usize>().expect("an id of ours") + 1
        });
        let records: Vec<tablesync::Record> = (first..first + request.page_size as usize)
            .map(|i| {
                let mut r = tablesync::Record::new();
                let at = format!(
                    "2026-01-01T{:02}:{:02}:{:02}.000Z",
                    i / 3600,
                    i / 60 % 60,
                    i % 60
                );
                r.set("id", format!("p{i:06}"));
                r.set("version", "v1");
                r.set("updatedAt", at.as_str());
                r.set("createdAt", at.as_str());
                r.set("deleted", false);
                r.set("name", format!("person {i}"));
                r.set("age", 30i64);
                r
            })
            .collect();
        let last = records.last().map(|r| tablesync::store::Watermark {
            updated_at: match r.get("updatedAt") {
                Some(tablesync::Value::Text(t)) => t.clone(),
                _ => String::new(),
            },
            id: r.id().unwrap_or_default().to_owned(),
        });
        Ok(tablesync::transport::PullPage {
            records,
            last,
            more: true,
            total: None,
        })
    }
}

async fn a_server_always_saying_more_follow_ends_the_pull_at_the_bound_keeping_what_was_stored<
    S: Store,
>(
    make: impl Fn() -> S,
) {
    let options = SyncOptions {
        page_size: 3,
        ..SyncOptions::default()
    }
    .max_pull_pages(5);
    let endless = Endless {
        pages: std::sync::atomic::AtomicUsize::new(0),
    };
    let ctx = SyncContext::with_options(make(), endless, options);
    let people = ctx.table::<Person>().await.unwrap();
    let pulled = tokio::time::timeout(std::time::Duration::from_secs(20), people.pull("all", None))
        .await
        .expect("the pull ends");
    let e = pulled.unwrap_err();
    assert!(
        matches!(
            e,
            SyncError::PullLimit {
                ref table,
                pages: 5,
                received: 15
            } if table == "Person"
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("max_pull_pages"), "{e}");
    // No page was asked for beyond the bound, and every page received is stored.
    let requested = |ctx: &SyncContext<S, Endless>| {
        ctx.transport()
            .pages
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(requested(&ctx), 5);
    assert_eq!(people.count(None).await.unwrap(), 15);
    assert!(people.get("p000014").await.unwrap().is_some());
    // Pulling again goes on after the last row stored.
    let e = people.pull("all", None).await.unwrap_err();
    assert!(
        matches!(e, SyncError::PullLimit { received: 15, .. }),
        "{e:?}"
    );
    assert_eq!(people.count(None).await.unwrap(), 30);
    assert!(people.get("p000029").await.unwrap().is_some());
}

async fn a_pull_filter_on_an_unknown_column_is_the_local_querys_error_and_sends_nothing<
    S: Store,
>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let ctx = device(&make, &server);
    let todos = ctx.table::<TodoItem>().await.unwrap();
    todos.insert(todo("milk")).await.unwrap();
    let typo = Filter::eq("complete", false).and(!Filter::eq("completed", true));
    let local = todos
        .query(Query::new().filter(typo.clone()))
        .await
        .unwrap_err();
    let pulled = todos.pull("open", Some(typo)).await.unwrap_err();
    assert!(
        matches!(
            &pulled,
            SyncError::Store(StoreError::UnknownColumn { table, column })
                if table == TODO && column == "completed"
        ),
        "{pulled:?}"
    );
    assert_eq!(pulled.to_string(), local.to_string());
    // Refused before anything was sent: not even the push a pull makes first.
    assert_eq!(ctx.pending_count().await.unwrap(), 1);
    assert!(server.applied().is_empty());
    // A known column no row on the server matches (or has yet) pulls fine.
    let report = todos
        .pull("done", Some(Filter::eq("complete", true)))
        .await
        .unwrap();
    assert_eq!(
        (report.received, ctx.pending_count().await.unwrap()),
        (0, 0)
    );
}

/// A row of every kind of value the wire may not carry exactly.
#[derive(tablesync::Syncable, Debug, Clone, PartialEq)]
struct Measure {
    id: String,
    count: i64,
    ratio: f64,
    at: tablesync::chrono::DateTime<tablesync::chrono::Utc>,
    #[version]
    version: Option<String>,
}

async fn a_value_the_wire_cannot_carry_exactly_is_refused_at_write_naming_its_field<S: Store>(
    make: impl Fn() -> S,
) {
    use tablesync::chrono::{DateTime, Utc};
    let server = MemoryRemote::new();
    let ctx = device(&make, &server);
    let measures = ctx.table::<Measure>().await.unwrap();
    let at: DateTime<Utc> = "2026-11-21T12:50:52.847Z".parse().unwrap();
    let ok = Measure {
        id: "m1".into(),
        count: (1 << 53) - 1,
        ratio: 0.1,
        at,
        version: None,
    };
    let refused = |e: SyncError, field: &str, says: &str| match e {
        SyncError::ValueNotSendable {
            table,
            column,
            reason,
        } => {
            assert_eq!((table.as_str(), column.as_str()), ("Measure", field));
            assert!(reason.contains(says), "{reason}");
        }
        other => panic!("expected ValueNotSendable for {field}, got {other:?}"),
    };
    for (bad, field, says) in [
        (
            Measure {
                count: 1 << 53,
                ..ok.clone()
            },
            "count",
            "2^53",
        ),
        (
            Measure {
                count: -(1 << 53),
                ..ok.clone()
            },
            "count",
            "2^53",
        ),
        (
            Measure {
                count: i64::MIN,
                ..ok.clone()
            },
            "count",
            "2^53",
        ),
        (
            Measure {
                ratio: f64::NAN,
                ..ok.clone()
            },
            "ratio",
            "NaN",
        ),
        (
            Measure {
                ratio: f64::NEG_INFINITY,
                ..ok.clone()
            },
            "ratio",
            "-inf",
        ),
        (
            Measure {
                at: "2026-11-21T12:50:52.847001Z".parse().unwrap(),
                ..ok.clone()
            },
            "at",
            "round it to milliseconds",
        ),
    ] {
        refused(measures.insert(bad.clone()).await.unwrap_err(), field, says);
        assert_eq!(
            measures.count(None).await.unwrap(),
            0,
            "{field}: nothing stored"
        );
        assert_eq!(
            ctx.pending_count().await.unwrap(),
            0,
            "{field}: nothing queued"
        );
        // The same value refused by an update leaves the stored item as it was.
        measures.insert(ok.clone()).await.unwrap();
        refused(measures.update(bad).await.unwrap_err(), field, says);
        assert_eq!(measures.get("m1").await.unwrap(), Some(ok.clone()));
        measures.purge(true).await.unwrap();
    }
    // What is accepted travels exactly: the server's copy is the app's value.
    measures.insert(ok.clone()).await.unwrap();
    assert_eq!(ctx.push().await.unwrap().status, PushStatus::Complete);
    let reader = device(&make, &server);
    let copies = reader.table::<Measure>().await.unwrap();
    copies.pull("all", None).await.unwrap();
    let copy = copies.get("m1").await.unwrap().unwrap();
    assert_eq!(
        (copy.count, copy.ratio, copy.at),
        (ok.count, ok.ratio, ok.at)
    );
}

/// The queued operations and the stored row of one item, to compare before and after.
async fn queued_and_stored<S: Store>(ctx: &Ctx<S>, id: &str) -> (Vec<Operation>, Option<Record>) {
    let id = id.to_owned();
    let store = Arc::clone(ctx.store());
    tokio::task::spawn_blocking(move || store.read(|tx| Ok((tx.ops(None)?, tx.get(TODO, &id)?))))
        .await
        .unwrap()
        .unwrap()
}

async fn saving_an_unchanged_item_queues_nothing_and_a_server_change_is_no_conflict<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("Buy milk")).await.unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
    // Another client completes the item while this device still shows the old copy.
    server_edit(&server, TODO, &item.id, &[("complete", Value::Bool(true))]);
    let before = queued_and_stored(&a, &item.id).await;
    let shown = todos.get(&item.id).await.unwrap().unwrap();
    todos.update(shown).await.unwrap();
    assert_eq!(a.pending_count().await.unwrap(), 0, "nothing queued");
    // Not even the row's local write time moved.
    assert_eq!(queued_and_stored(&a, &item.id).await, before);
    let writes = server.applied().len();
    assert_eq!(a.push().await.unwrap().total, 0);
    let pulled = todos.pull("all", None).await.unwrap();
    assert_eq!((pulled.conflicts, pulled.received), (0, 1));
    assert!(todos.conflicts().await.unwrap().is_empty());
    assert_eq!(server.applied().len(), writes, "nothing was sent");
    assert!(todos.get(&item.id).await.unwrap().unwrap().complete);
}

async fn saving_an_unchanged_item_leaves_its_queued_operation_as_it_is<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let todos = a.table::<TodoItem>().await.unwrap();
    // A pending insert stays an insert, with its revision: nothing to re-send.
    let fresh = todos.insert(todo("Buy milk")).await.unwrap();
    let before = queued_and_stored(&a, &fresh.id).await;
    todos.update(fresh.clone()).await.unwrap();
    assert_eq!(queued_and_stored(&a, &fresh.id).await, before);
    assert_eq!(before.0[0].kind, OpKind::Insert);

    // A pending update keeps its kind, base version, revision and error.
    a.push().await.unwrap();
    let mut edited = todos.get(&fresh.id).await.unwrap().unwrap();
    edited.text = "Buy oat milk".into();
    todos.update(edited.clone()).await.unwrap();
    let before = queued_and_stored(&a, &fresh.id).await;
    assert_eq!(
        (before.0.len(), before.0[0].kind, before.0[0].revision),
        (1, OpKind::Update, 0)
    );
    todos.update(edited.clone()).await.unwrap();
    assert_eq!(queued_and_stored(&a, &fresh.id).await, before);
    // A real change still collapses into the entry.
    todos
        .update(TodoItem {
            complete: true,
            ..edited
        })
        .await
        .unwrap();
    let after = queued_and_stored(&a, &fresh.id).await;
    assert_eq!((after.0[0].kind, after.0[0].revision), (OpKind::Update, 1));
    assert_eq!(a.push().await.unwrap().pushed, 1);
    let on_server = server_item(&server, &fresh.id);
    assert_eq!(
        (on_server.text.as_str(), on_server.complete),
        ("Buy oat milk", true)
    );
}

async fn pending_lists_each_queued_change_with_its_kind_attempts_error_and_conflict<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = SyncContext::with_options(
        make(),
        server.transport(),
        SyncOptions {
            max_in_flight: 1,
            ..SyncOptions::default()
        },
    );
    let todos = a.table::<TodoItem>().await.unwrap();
    let people = a.table::<Person>().await.unwrap();
    let rejected = todos.insert(todo("rejected")).await.unwrap();
    let contested = todos.insert(todo("contested")).await.unwrap();
    let deleted = todos.insert(todo("to delete")).await.unwrap();
    a.push().await.unwrap();
    assert_eq!(a.pending().await.unwrap(), []);
    // One update is rejected with a 400, another meets a server change (a conflict).
    server_edit(
        &server,
        TODO,
        &contested.id,
        &[("text", Value::from("theirs"))],
    );
    for (item, text) in [(&rejected, "too long"), (&contested, "mine")] {
        todos
            .update(TodoItem {
                text: text.into(),
                ..todos.get(&item.id).await.unwrap().unwrap()
            })
            .await
            .unwrap();
    }
    a.transport().fail_next(
        1,
        TransportError::Server {
            status: 400,
            message: "text too long".into(),
        },
    );
    let r = a.push().await.unwrap();
    assert_eq!((r.failed.len(), r.conflicts), (1, 1));
    // Then changes never sent: an insert in another table and a delete.
    people.insert(jane()).await.unwrap();
    todos.delete(&deleted.id).await.unwrap();

    let seen = |ops: Vec<PendingOp>| -> Vec<(String, String, OpKind, u32, Option<u16>, bool)> {
        ops.into_iter()
            .map(|op| {
                (
                    op.table,
                    op.id,
                    op.kind,
                    op.attempts,
                    op.error.and_then(|e| e.status),
                    op.in_conflict,
                )
            })
            .collect()
    };
    let all = seen(a.pending().await.unwrap());
    let (todo_t, person_t) = (TODO.to_owned(), "Person".to_owned());
    assert_eq!(
        all,
        [
            (
                todo_t.clone(),
                rejected.id.clone(),
                OpKind::Update,
                1,
                Some(400),
                false
            ),
            (
                todo_t.clone(),
                contested.id.clone(),
                OpKind::Update,
                1,
                None,
                true
            ),
            (
                person_t.clone(),
                "jane".into(),
                OpKind::Insert,
                0,
                None,
                false
            ),
            (
                todo_t.clone(),
                deleted.id.clone(),
                OpKind::Delete,
                0,
                None,
                false
            ),
        ],
        "in queue order"
    );
    assert_eq!(all.len(), a.pending_count().await.unwrap());
    // One table's list is that table's part of the queue.
    let only_todos: Vec<_> = all.iter().filter(|o| o.0 == todo_t).cloned().collect();
    assert_eq!(seen(todos.pending().await.unwrap()), only_todos);
    assert_eq!(
        seen(people.pending().await.unwrap()),
        [(person_t, "jane".into(), OpKind::Insert, 0, None, false)]
    );
    // Resolving the conflict releases the entry; pushing empties the list.
    todos.keep_local(&contested.id).await.unwrap();
    assert!(!todos.pending().await.unwrap().iter().any(|o| o.in_conflict));
    todos.cancel_and_discard(&rejected.id).await.unwrap();
    a.push().await.unwrap();
    assert_eq!(a.pending().await.unwrap(), []);
}

/// A site visit whose notes stay on the device (`local`) and whose scratch text is not
/// stored at all (`skip`).
#[derive(Syncable, Debug, Clone, PartialEq)]
struct Visit {
    id: String,
    site: String,
    rating: i64,
    #[sync(local)]
    notes: String,
    #[sync(local, rename = "seenOn")]
    seen: Option<i64>,
    #[sync(skip)]
    scratch: String,
    #[version]
    version: Option<String>,
}

const VISIT: &str = "Visit";

fn visit(site: &str) -> Visit {
    Visit {
        id: "v1".into(),
        site: site.into(),
        rating: 3,
        notes: "gate code 1234".into(),
        seen: Some(7),
        scratch: "typing…".into(),
        version: None,
    }
}

/// Whether any write the server applied has a local column with a value only the
/// device had (`notes = "theirs"` is another client's column of that name).
fn server_saw_local_columns(server: &MemoryRemote) -> bool {
    let local = |r: &Record| {
        r.contains("seenOn") || r.get("notes").is_some_and(|v| *v != Value::from("theirs"))
    };
    server.applied().iter().any(|w| local(&w.row))
}

async fn a_local_field_is_stored_never_sent_and_survives_pulls_and_conflicts<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let visits = a.table::<Visit>().await.unwrap();
    visits.insert(visit("north")).await.unwrap();
    let stored = visits.get("v1").await.unwrap().unwrap();
    assert_eq!(
        (stored.notes.as_str(), stored.seen),
        ("gate code 1234", Some(7))
    );
    assert_eq!(stored.scratch, "", "a skip field is not stored");
    // Local queries see local columns.
    let by_notes = Filter::eq("notes", "gate code 1234");
    assert_eq!(visits.count(Some(by_notes.clone())).await.unwrap(), 1);

    assert_eq!(a.push().await.unwrap().pushed, 1);
    assert!(!server_saw_local_columns(&server));
    // The server's answer became the local row; the notes stayed.
    let synced = visits.get("v1").await.unwrap().unwrap();
    assert!(synced.version.is_some());
    assert_eq!(
        (synced.notes.as_str(), synced.seen),
        ("gate code 1234", Some(7))
    );

    // Changing only local fields stores them and queues nothing.
    visits
        .update(Visit {
            notes: "dog in the yard".into(),
            seen: None,
            ..synced.clone()
        })
        .await
        .unwrap();
    assert_eq!(a.pending_count().await.unwrap(), 0);
    let noted = visits.get("v1").await.unwrap().unwrap();
    assert_eq!(
        (noted.notes.as_str(), noted.seen),
        ("dog in the yard", None)
    );

    // A pull updating the row keeps them, even when the server has a column of that
    // name (another client's).
    server_edit(
        &server,
        VISIT,
        "v1",
        &[
            ("site", Value::from("south")),
            ("notes", Value::from("theirs")),
        ],
    );
    let pulled = visits.pull("all", None).await.unwrap();
    assert_eq!((pulled.received, pulled.conflicts), (1, 0));
    let after_pull = visits.get("v1").await.unwrap().unwrap();
    assert_eq!(
        (after_pull.site.as_str(), after_pull.notes.as_str()),
        ("south", "dog in the yard")
    );

    // A conflict is about synced fields only; both sides show the device's notes, and
    // taking the server's side keeps them.
    visits
        .update(Visit {
            site: "east".into(),
            notes: "bring a ladder".into(),
            ..after_pull
        })
        .await
        .unwrap();
    server_edit(&server, VISIT, "v1", &[("site", Value::from("west"))]);
    assert_eq!(a.push().await.unwrap().conflicts, 1);
    assert!(!server_saw_local_columns(&server));
    let c = visits.conflicts().await.unwrap().remove(0);
    assert_eq!(c.differing_fields(), ["site"]);
    assert_eq!(c.remote.as_ref().unwrap().notes, "bring a ladder");
    visits.keep_remote("v1").await.unwrap();
    let resolved = visits.get("v1").await.unwrap().unwrap();
    assert_eq!(
        (resolved.site.as_str(), resolved.notes.as_str()),
        ("west", "bring a ladder")
    );

    // The server cannot filter on a local column: the pull says so and sends nothing.
    let calls = a.transport().calls();
    match visits.pull("notes", Some(by_notes)).await {
        Err(SyncError::LocalOnlyColumn { table, column }) => {
            assert_eq!((table.as_str(), column.as_str()), (VISIT, "notes"))
        }
        other => panic!("expected LocalOnlyColumn, got {other:?}"),
    }
    assert_eq!(a.transport().calls(), calls);

    // Another device never sees them.
    let b = device(&make, &server);
    let on_b = b.table::<Visit>().await.unwrap();
    on_b.pull("all", None).await.unwrap();
    let copy = on_b.get("v1").await.unwrap().unwrap();
    assert_eq!(
        (copy.site.as_str(), copy.notes.as_str(), copy.seen),
        ("west", "", None)
    );
}

async fn a_field_merge_keeps_local_fields_and_never_clashes_on_them<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = device(&make, &server);
    let visits = a
        .table_with_policy::<Visit>(ConflictPolicy::FieldMerge)
        .await
        .unwrap();
    visits.insert(visit("north")).await.unwrap();
    a.push().await.unwrap();
    let synced = visits.get("v1").await.unwrap().unwrap();
    // This device changes the rating and its notes; the server changes the site.
    visits
        .update(Visit {
            rating: 5,
            notes: "ask for Ana".into(),
            ..synced
        })
        .await
        .unwrap();
    server_edit(&server, VISIT, "v1", &[("site", Value::from("south"))]);
    let r = a.push().await.unwrap();
    // Resolved during the push, and the merged value re-sent by it.
    assert_eq!((r.resolved, r.conflicts), (1, 0), "merged without asking");
    let merged = visits.get("v1").await.unwrap().unwrap();
    assert_eq!(
        (
            merged.site.as_str(),
            merged.rating,
            merged.notes.as_str(),
            merged.seen
        ),
        ("south", 5, "ask for Ana", Some(7))
    );
    assert_eq!(a.pending_count().await.unwrap(), 0);
    assert!(!server_saw_local_columns(&server));
    let on_server = Visit::from_record(server.get(VISIT, "v1").unwrap()).unwrap();
    assert_eq!((on_server.site.as_str(), on_server.rating), ("south", 5));
}

/// Issue 16, item 7: a UI watching a query sees a large pull arrive page by page, not
/// only when the pull ends. Page 1 goes through, page 2's request is held.
async fn a_live_query_shows_each_pulled_page_while_the_pull_goes_on<S: Store>(
    make: impl Fn() -> S,
) {
    use tablesync::transport::Stream;
    let server = MemoryRemote::new();
    push_items(&make, &server, 25).await;
    let b = SyncContext::with_options(make(), server.transport(), paged(10));
    let todos = b.table::<TodoItem>().await.unwrap();
    let mut live = std::pin::pin!(todos.watch(Query::new()));
    let mut next = async || {
        let item = std::future::poll_fn(|cx| live.as_mut().poll_next(cx));
        tokio::time::timeout(std::time::Duration::from_secs(10), item)
            .await
            .expect("a result within 10 s")
            .expect("the stream goes on")
            .expect("the read succeeds")
    };
    assert!(next().await.is_empty());
    let (hold, reached, release) = Fault::hold();
    b.transport()
        .push_fault(Fault::Delay(std::time::Duration::ZERO));
    b.transport().push_fault(hold);
    let pulling = tokio::spawn({
        let todos = todos.clone();
        async move { todos.pull("all", None).await }
    });
    reached.notified().await; // page 2 is held
    assert_eq!(next().await.len(), 10, "page 1, while the pull goes on");
    release.notify_one();
    assert_eq!(pulling.await.unwrap().unwrap().received, 25);
    loop {
        let now = next().await.len();
        assert!(now > 10, "{now}");
        if now == 25 {
            break;
        }
    }
}

/// Holds every push inside its first transaction (the prepare step asks the handler)
/// until told to go on.
struct HoldInsidePush {
    inside: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl ConflictHandler<TodoItem> for HoldInsidePush {
    fn on_conflict(&self, _: &Conflict<TodoItem>) -> Decision<TodoItem> {
        Decision::Defer
    }
    fn before_send(&self, _: OpKind, _: Option<&TodoItem>) -> Proceed {
        let _ = self.inside.lock().unwrap().send(());
        // Bounded: a test whose reads still wait fails on its own bound, not by hanging.
        let _ = self
            .go
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(20));
        Proceed::Send
    }
}

/// Issue 16, item 9: on a file store, a read (and a live query) does not wait for a
/// sync's open write transaction; here a push held inside its transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_runs_while_a_push_holds_its_write_transaction_on_a_file_store() {
    use std::time::Duration;
    use tablesync::transport::Stream;
    let dir = tempfile::tempdir().unwrap();
    let store = tablesync::SqliteStore::open(dir.path().join("app.db")).unwrap();
    let server = MemoryRemote::new();
    let ctx = SyncContext::new(store, server.transport());
    let (inside, pushing_inside) = std::sync::mpsc::channel();
    let (go, gone) = std::sync::mpsc::channel();
    let handler = HoldInsidePush {
        inside: std::sync::Mutex::new(inside),
        go: std::sync::Mutex::new(gone),
    };
    let todos = ctx
        .table_with_policy::<TodoItem>(ConflictPolicy::Handler(Arc::new(handler)))
        .await
        .unwrap();
    let item = todos.insert(todo("first")).await.unwrap();
    let mut live = std::pin::pin!(todos.watch_one(&item.id));
    let mut next = async || {
        let item = std::future::poll_fn(|cx| live.as_mut().poll_next(cx));
        tokio::time::timeout(Duration::from_secs(10), item)
            .await
            .expect("a result within 10 s")
            .expect("the stream goes on")
            .expect("the read succeeds")
            .expect("the item is there")
    };
    assert_eq!(next().await.version, None);
    let pushing = tokio::spawn({
        let ctx = ctx.clone();
        async move { ctx.push().await }
    });
    tokio::task::spawn_blocking(move || pushing_inside.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the push is inside its transaction");
    let read = tokio::time::timeout(Duration::from_secs(5), todos.all())
        .await
        .expect("a read does not wait for the push's open transaction")
        .unwrap();
    assert_eq!(read.len(), 1);
    go.send(()).unwrap();
    assert_eq!(pushing.await.unwrap().unwrap().pushed, 1);
    assert!(next().await.version.is_some(), "the push answer, live");
}
