//! `changed_columns` and `merge3` on derived structs: data fields only, in schema order;
//! disjoint changes merge, clashes are reported and keep the local value, the version and
//! server fields come from remote and local-only fields from local.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sync_core::{Merged, Syncable};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Address {
    city: String,
}

// Neither Clone nor PartialEq: merge3 must not need them.
#[derive(sync_derive::Syncable, Debug)]
struct Person {
    id: String,
    name: String,
    age: i64,
    email: Option<String>,
    score: f64,
    #[sync(json)]
    address: Address,
    #[sync(skip)]
    draft: String,
    #[updated_at]
    updated_at: Option<DateTime<Utc>>,
    #[version]
    version: Option<String>,
}

fn base() -> Person {
    Person {
        id: "p1".into(),
        name: "Jane".into(),
        age: 25,
        email: None,
        score: 1.0,
        address: Address {
            city: "Oslo".into(),
        },
        draft: String::new(),
        updated_at: None,
        version: Some("v1".into()),
    }
}

fn remote() -> Person {
    Person {
        version: Some("v2".into()),
        updated_at: Some(Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap()),
        draft: "remote never has drafts".into(),
        ..base()
    }
}

#[test]
fn changed_columns_lists_exactly_the_changed_data_fields_in_schema_order() {
    let a = base();
    assert!(a.changed_columns(&base()).is_empty());

    let b = Person {
        score: 2.0,
        name: "Janet".into(),
        address: Address {
            city: "Bergen".into(),
        },
        // Not data columns: never reported.
        draft: "typing…".into(),
        version: Some("v9".into()),
        updated_at: Some(Utc::now()),
        ..base()
    };
    assert_eq!(a.changed_columns(&b), ["name", "score", "address"]);
    assert_eq!(b.changed_columns(&a), ["name", "score", "address"]);
}

#[test]
fn nan_is_unchanged_when_it_stays_nan() {
    let a = Person {
        score: f64::NAN,
        ..base()
    };
    let b = Person {
        score: f64::NAN,
        ..base()
    };
    assert!(a.changed_columns(&b).is_empty());
}

#[test]
fn disjoint_changes_merge_cleanly() {
    let local = Person {
        name: "Janet".into(),
        draft: "local draft".into(),
        ..base()
    };
    let remote = Person {
        age: 30,
        email: Some("j@example.com".into()),
        ..remote()
    };
    let Merged { value, clashes } = Person::merge3(&base(), local, remote);
    assert!(clashes.is_empty());
    assert_eq!(value.name, "Janet");
    assert_eq!(value.age, 30);
    assert_eq!(value.email.as_deref(), Some("j@example.com"));
    assert_eq!(value.version.as_deref(), Some("v2"), "version from remote");
    assert_eq!(
        value.updated_at,
        Some(Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap()),
        "server fields from remote"
    );
    assert_eq!(value.draft, "local draft", "skip fields from local");
    assert_eq!(value.id, "p1");
}

#[test]
fn the_same_change_on_both_sides_is_no_clash() {
    let local = Person { age: 40, ..base() };
    let remote = Person {
        age: 40,
        ..remote()
    };
    let merged = Person::merge3(&base(), local, remote);
    assert!(merged.is_clean());
    assert_eq!(merged.value.age, 40);
}

#[test]
fn different_changes_to_one_field_clash_and_keep_local() {
    let local = Person {
        age: 32,
        name: "Janet".into(),
        address: Address {
            city: "Bergen".into(),
        },
        ..base()
    };
    let remote = Person {
        age: 30,
        score: 9.5,
        address: Address {
            city: "Trondheim".into(),
        },
        ..remote()
    };
    let merged = Person::merge3(&base(), local, remote);
    assert_eq!(merged.clashes, ["age", "address"]);
    assert_eq!(merged.value.age, 32);
    assert_eq!(merged.value.address.city, "Bergen");
    assert_eq!(merged.value.name, "Janet");
    assert_eq!(merged.value.score, 9.5);
    assert_eq!(merged.value.version.as_deref(), Some("v2"));
}

#[test]
fn the_id_comes_from_local() {
    let local = base();
    let remote = Person {
        id: "other".into(),
        ..remote()
    };
    assert_eq!(Person::merge3(&base(), local, remote).value.id, "p1");
}

/// A struct whose field names are not its column names: camelCase by default, an
/// explicit rename, a raw identifier, and a local-only field.
#[derive(sync_derive::Syncable, Debug, Clone)]
struct Inspection {
    id: String,
    #[sync(rename = "siteId")]
    site: String,
    due_date: Option<chrono::NaiveDate>,
    r#type: String,
    #[sync(skip)]
    draft: String,
    #[version]
    version: Option<String>,
}

fn inspection() -> Inspection {
    Inspection {
        id: "i1".into(),
        site: "north".into(),
        due_date: None,
        r#type: "roof".into(),
        draft: String::new(),
        version: Some("v1".into()),
    }
}

#[test]
fn fields_and_columns_map_both_ways_by_the_names_the_app_wrote() {
    for (field, column) in [
        ("site", "siteId"),
        ("due_date", "dueDate"),
        ("type", "type"),
    ] {
        assert_eq!(Inspection::field_of(column), Some(field), "{column}");
        assert_eq!(Inspection::column_of(field), Some(column), "{field}");
    }
    // Columns match ignoring ASCII case, as the schema matches them; fields exactly.
    assert_eq!(Inspection::field_of("SITEID"), Some("site"));
    assert_eq!(Inspection::column_of("Site"), None);
    // Neither system columns nor local-only fields have a counterpart.
    for name in ["id", "version", "updatedAt", "draft", "siteid_", ""] {
        assert_eq!(Inspection::field_of(name), None, "{name}");
    }
    for name in ["id", "version", "draft", "siteId", "r#type"] {
        assert_eq!(Inspection::column_of(name), None, "{name}");
    }
}

#[test]
fn clashes_are_reported_by_field_name_and_their_columns_on_request() {
    let base = inspection();
    let local = Inspection {
        site: "east".into(),
        due_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 2),
        r#type: "wall".into(),
        ..inspection()
    };
    let remote = Inspection {
        site: "west".into(),
        due_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 4),
        r#type: "wall".into(),
        ..inspection()
    };
    let merged = Inspection::merge3(&base, local, remote);
    assert_eq!(merged.clashes, ["site", "due_date"]);
    assert_eq!(merged.clashing_columns(), ["siteId", "dueDate"]);
}

#[test]
fn a_conflict_names_its_differing_fields_and_columns_apart() {
    use sync_core::conflict::{Conflict, ConflictKind};
    let local = Inspection {
        site: "east".into(),
        r#type: "wall".into(),
        draft: "local notes differ, but are not synced".into(),
        ..inspection()
    };
    let remote = Inspection {
        due_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 4),
        ..inspection()
    };
    let c = Conflict {
        id: "i1".into(),
        kind: ConflictKind::Pull,
        local: Some(local),
        remote: Some(remote),
        base: Some(inspection()),
        detected_at: Utc::now(),
    };
    assert_eq!(c.differing_fields(), ["site", "due_date", "type"]);
    assert_eq!(c.differing_columns(), ["siteId", "dueDate", "type"]);
    let deleted = Conflict { remote: None, ..c };
    assert!(deleted.differing_fields().is_empty());
}
