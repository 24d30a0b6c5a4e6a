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
