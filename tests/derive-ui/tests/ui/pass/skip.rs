// A `#[sync(skip)]` field is no column, is never sent, decodes as its default and is
// kept from `local` when merging.
use tablesync::{Record, Syncable};

#[derive(Default, Debug, PartialEq)]
struct Cache {
    hits: u64,
}

#[derive(Syncable, Debug, PartialEq)]
struct Note {
    id: String,
    body: String,
    #[sync(skip)]
    cache: Cache,
    #[sync(skip)]
    selected: bool,
    #[version]
    version: Option<String>,
}

fn note(body: &str, hits: u64) -> Note {
    Note {
        id: "n1".into(),
        body: body.into(),
        cache: Cache { hits },
        selected: true,
        version: None,
    }
}

fn main() {
    let names: Vec<&str> = Note::schema().data_columns().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["body"]);

    let record: Record = note("hi", 7).to_record().unwrap();
    assert!(!record.contains("cache") && !record.contains("selected"));
    let back = Note::from_record(record).unwrap();
    assert_eq!(back.cache, Cache::default());
    assert!(!back.selected);

    // A skipped field never counts as a change.
    assert!(note("hi", 1).changed_columns(&note("hi", 2)).is_empty());

    let merged = Note::merge3(&note("a", 0), note("a", 5), note("b", 9));
    assert_eq!(merged.value.body, "b");
    assert_eq!(merged.value.cache.hits, 5);
}
